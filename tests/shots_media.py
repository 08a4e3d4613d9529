"""Multi-shot test videos built with PyAV from the bundled clips: hard cuts at known frames,
a VFR multi-shot, a rotated one, and a single shot with fast camera motion (no cut)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "clips"
SIZE = (160, 96)  # (w, h) of every fixture


def source_frames(name: str, count: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """`count` consecutive RGB frames of a bundled clip, resized to `size` (looped if short)."""
    import av
    import cv2

    out: list[np.ndarray] = []
    while len(out) < count:
        with av.open(str(EXAMPLES / name)) as c:
            for f in c.decode(video=0):
                out.append(cv2.resize(f.to_ndarray(format="rgb24"), size,
                                      interpolation=cv2.INTER_AREA))
                if len(out) == count:
                    break
    return np.stack(out)


def encode(path: Path, frames: np.ndarray, times: list[float] | None = None, fps: int = 25,
           rotation: int = 0) -> Path:
    """H.264 in MP4. `times` (seconds, increasing) makes the file VFR: each frame gets that
    presentation time in a 1/1000 s time base; else frames are `1/fps` apart."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "yuv420p"
        s.options = {"bf": "2", "g": "12"}  # B-frames and a few keyframes, like real files
        if times is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            s.set_display_rotation(rotation)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if times is not None:
                vf.pts, vf.time_base = round(times[i] * 1000), Fraction(1, 1000)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


SHOT_SOURCES = ("vp9_bear.webm", "people_his_girl_friday_pd.mp4", "vp8_flower_cc0.webm",
                "people_bedroom_kids_jumping.mp4", "people_selfie_1s.mp4")


def multi_shot(path: Path, lengths: list[int], fps: int = 25, rotation: int = 0) -> list[int]:
    """A CFR video of consecutive shots from different bundled clips, `lengths` frames each;
    returns the frame numbers where a new shot starts (the hard cuts)."""
    parts = [source_frames(SHOT_SOURCES[k % len(SHOT_SOURCES)], n) for k, n in enumerate(lengths)]
    encode(path, np.concatenate(parts), fps=fps, rotation=rotation)
    return [int(x) for x in np.cumsum(lengths)[:-1]]


def vfr_multi_shot(path: Path) -> tuple[list[float], list[float]]:
    """A VFR video: shot 1 at 10 fps, shot 2 at 30 fps, shot 3 with jittered frame gaps.
    Returns (every frame's time, the times of the first frames of shots 2 and 3)."""
    gaps = [0.1] * 20 + [1 / 30] * 45 + [0.04, 0.06, 0.05, 0.07, 0.03] * 6
    times = [0.0]
    for g in gaps[:-1]:
        times.append(times[-1] + g)
    times = [round(t, 3) for t in times]
    frames = np.concatenate([source_frames(SHOT_SOURCES[k], n)
                             for k, n in enumerate((20, 45, 30))])
    encode(path, frames, times=times, fps=30)
    return times, [times[20], times[65]]


def fast_pan(path: Path, frames: int = 60, step: int = 9) -> Path:
    """One shot: a camera panning fast (`step` px per frame, ~6% of the width) across a
    textured image (an upscaled frame of a bundled clip), with a slight zoom drift."""
    import cv2

    base = source_frames("vp8_flower_cc0.webm", 1, (SIZE[0] * 5, SIZE[1] * 2))[0]
    out = []
    for i in range(frames):
        x = i * step
        crop = base[:, x : x + SIZE[0] * 2 - i]
        out.append(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA))
    return encode(path, np.stack(out))
