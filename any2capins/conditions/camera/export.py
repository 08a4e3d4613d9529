"""RealEstate10K / CameraCtrl camera text format.

One file per clip: the first line is the clip's URI (RealEstate10K puts the video URL there;
CameraCtrl skips it) followed by what the poses are, as `key=value` words:

    <uri> status=ok measured=full focal=sfm unmeasured_frames=0

(`measured`: full, rotation = rotations only with zero translation, none = identity poses;
`focal`: sfm, homographies or prior; `unmeasured_frames`: frames whose pose was interpolated
or copied), then one line per frame:

    timestamp_us fx/W fy/H cx/W cy/H 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3

intrinsics normalised by the image size, then the 3x4 world-to-camera matrix row-major,
exactly what CameraCtrl's `RealEstate10K` loader parses. Failed clips have no frame lines.
"""

from __future__ import annotations

from any2capins.models.camera import CameraRecord

HEADER_KEYS = ("status", "measured", "focal", "unmeasured_frames")


def header(record: CameraRecord) -> str:
    """The first line: the URI and what was measured."""
    unmeasured = sum(not f.registered for f in record.frames)
    return (f"{record.uri} status={record.status} measured={record.measured} "
            f"focal={record.focal_source} unmeasured_frames={unmeasured}")


def parse_header(text: str) -> dict[str, str]:
    """The key=value words that end the first line (the URI before them may hold spaces or
    '=' of its own, so only the last HEADER_KEYS words are read)."""
    words = (text.splitlines()[0] if text else "").split()[-len(HEADER_KEYS):]
    pairs = dict(w.split("=", 1) for w in words if "=" in w)
    return {k: pairs[k] for k in HEADER_KEYS if k in pairs}


def realestate10k_text(record: CameraRecord) -> str:
    """The clip's camera in RealEstate10K text form (trailing newline included)."""
    lines = [header(record)]
    w, h = float(record.width), float(record.height)
    for fr in record.frames:
        vals = [fr.fx / w, fr.fy / h, fr.cx / w, fr.cy / h, 0.0, 0.0, *fr.cam_from_world]
        lines.append(" ".join([str(round(fr.timestamp * 1e6))] + [f"{v:.9g}" for v in vals]))
    return "\n".join(lines) + "\n"


def parse_realestate10k(text: str) -> list[tuple[int, list[float], list[float]]]:
    """(timestamp_us, [fx, fy, cx, cy] normalised, 12 extrinsics) per frame line."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) != 19:
            raise ValueError(f"expected 19 fields per frame line, got {len(parts)}: {line[:80]}")
        vals = [float(p) for p in parts[1:]]
        out.append((int(parts[0]), vals[:4], vals[6:]))
    return out
