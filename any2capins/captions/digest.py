"""Digests: what the conditions and the sampled frames say about a clip, in the words the
section writers and the checks need.

The condition rows come from the runtime (side tables of the clip's shard, only the columns in
`CONDITION_COLUMNS`). Every condition is optional: when the clip has no row, the digest fields
stay None and the section works without.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from any2capins.models.captions import CaptionDigest, TrackSummary

log = logging.getLogger(__name__)

CONDITION_COLUMNS: dict[str, list[str]] = {
    "camera": ["clip_id", "status", "description", "segments"],
    "pose": ["clip_id", "width", "height", "timestamps", "tracks"],
    "refs": ["clip_id", "crops", "stitched_jpeg"],
    "depth": ["clip_id"],
}


def style_stats(frames: np.ndarray) -> dict[str, float]:
    """Brightness, contrast, saturation (0..1) and warmth (-1..1) of uint8 RGB frames."""
    if frames.size == 0:
        return {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "warmth": 0.0}
    rgb = frames.astype(np.float32) / 255.0
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    sat = np.where(mx > 1e-3, (mx - mn) / np.maximum(mx, 1e-3), 0.0)
    return {"brightness": round(float(luma.mean()), 4), "contrast": round(float(luma.std()), 4),
            "saturation": round(float(sat.mean()), 4),
            "warmth": round(float((rgb[..., 0] - rgb[..., 2]).mean()), 4)}


def style_words(stats: dict[str, float]) -> list[str]:
    """Plain words for the statistics (thresholds picked on the bundled clips)."""
    b, c, s, w = (stats[k] for k in ("brightness", "contrast", "saturation", "warmth"))
    words = ["dark, low-key lighting" if b < 0.3 else "bright, high-key lighting" if b > 0.62
             else "moderate lighting"]
    words.append("high contrast" if c > 0.25 else "low contrast" if c < 0.12 else "medium contrast")
    words.append("desaturated, nearly monochrome colours" if s < 0.12 else
                 "vivid, saturated colours" if s > 0.45 else "natural colours")
    words.append("warm tones" if w > 0.05 else "cool tones" if w < -0.05 else "neutral tones")
    return words


def camera_digest(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    labels = [s.get("label", "") for s in row.get("segments") or [] if s.get("label")]
    status = row.get("status")
    if status == "static" and not labels:
        labels = ["static"]
    sentence = (row.get("description") or "").strip() or None
    if status == "failed":
        sentence, labels = None, []
    return {"camera_status": status, "camera_sentence": sentence,
            "camera_motions": list(dict.fromkeys(labels))}


@dataclass(frozen=True)
class _Track:
    track_id: int
    centres: np.ndarray  # [n, 2] box centres where present, normalised by frame size
    heights: np.ndarray  # [n] box heights / frame height
    times: np.ndarray  # [n] seconds


def _tracks(row: dict[str, Any]) -> list[_Track]:
    w, h = float(row.get("width") or 1), float(row.get("height") or 1)
    stamps = list(row.get("timestamps") or [])
    out = []
    for t in row.get("tracks") or []:
        idx = [i for i, p in enumerate(t.get("present") or []) if p]
        boxes = np.array([t["boxes"][i] for i in idx], np.float64).reshape(-1, 4)
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2 / w,
                            (boxes[:, 1] + boxes[:, 3]) / 2 / h], axis=1)
        times = np.array([stamps[i] if i < len(stamps) else float(i) for i in idx])
        out.append(_Track(int(t["track_id"]), centres, (boxes[:, 3] - boxes[:, 1]) / h, times))
    return [t for t in out if len(t.times)]


def track_sentence(n: int, track: _Track) -> str:
    """E.g. 'person 1 moves to the right at a moderate pace and comes closer'."""
    if len(track.times) < 2:
        return f"person {n} appears briefly"
    d = track.centres[-1] - track.centres[0]
    span = max(float(track.times[-1] - track.times[0]), 1e-3)
    speed = float(np.hypot(*d)) / span  # frame widths per second
    parts = []
    if abs(d[0]) < 0.05 and abs(d[1]) < 0.05:
        parts.append("stays roughly in place")
    else:
        horiz = "to the right" if d[0] > 0 else "to the left"
        vert = "downwards" if d[1] > 0 else "upwards"
        where = horiz if abs(d[0]) >= abs(d[1]) else vert
        pace = "slowly" if speed < 0.1 else "quickly" if speed > 0.4 else "at a moderate pace"
        parts.append(f"moves {where} {pace}")
    ratio = float(track.heights[-1] / max(track.heights[0], 1e-3))
    if ratio > 1.25:
        parts.append("comes closer to the camera")
    elif ratio < 0.8:
        parts.append("moves away from the camera")
    return f"person {n} " + " and ".join(parts)


def pose_digest(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    tracks = _tracks(row)
    present = [t.get("present") or [] for t in row.get("tracks") or []]
    per_frame = [sum(col) for col in zip(*present, strict=False)] if present else [0]
    summaries = [TrackSummary(track_id=t.track_id, frames=len(t.times),
                              sentence=track_sentence(i, t)) for i, t in enumerate(tracks, 1)]
    return {"people_tracks": len(tracks), "people_max_visible": int(max(per_frame, default=0)),
            "tracks": summaries}


def refs_digest(row: dict[str, Any] | None,
                stitched: bool = False) -> tuple[dict[str, Any], list[bytes]]:
    """Digest fields and the crops' JPEG bytes (best first), or the one stitched image."""
    if row is None:
        return {}, []
    crops = list(row.get("crops") or [])
    fields = {"ref_crops": len(crops), "ref_labels": [str(c.get("label", "")) for c in crops]}
    if stitched and row.get("stitched_jpeg"):
        return fields, [row["stitched_jpeg"]]
    return fields, [c["jpeg"] for c in crops if c.get("jpeg")]


def build_digest(rows: dict[str, dict[str, Any] | None], frames: np.ndarray,
                 stitched_refs: bool = False) -> tuple[CaptionDigest, list[bytes]]:
    """The clip's digest and its reference images (crops, or the one stitched image), from
    its row of each condition table (by kind: camera, pose, refs, depth; None: no row)."""
    rows = {k: rows.get(k) for k in CONDITION_COLUMNS}
    stats = style_stats(frames)
    refs, crops = refs_digest(rows["refs"], stitched_refs)
    digest = CaptionDigest(
        conditions=[k for k, r in rows.items() if r is not None],
        **camera_digest(rows["camera"]), **pose_digest(rows["pose"]), **refs,
        **stats, style_words=style_words(stats))
    return digest, crops
