"""Multi-shot test videos built with PyAV from the bundled clips: hard cuts at known frames,
a VFR multi-shot, a rotated one, and a single shot with fast camera motion (no cut); and the
hard classes for a frame-difference detector: fast pans and zooms at a low frame rate (with and
without cuts), a whip pan, camera flashes, a short dissolve."""

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


def _texture(name: str, width_factor: int = 5) -> np.ndarray:
    """A wide textured RGB image to pan across: the first frame of a bundled clip, upscaled."""
    return source_frames(name, 1, (SIZE[0] * width_factor, SIZE[1] * 2))[0]


def _pan_frames(name: str, frames: int, step: int, start: int = 0) -> np.ndarray:
    """`frames` views of `name`'s texture, each `step` px further right (with a slight zoom
    drift, like `fast_pan`): a camera panning across one scene, no cut."""
    import cv2

    base = _texture(name)
    span = base.shape[1] - SIZE[0] * 2
    out = []
    for i in range(frames):
        x = (start + i * step) % (2 * span)
        x = x if x <= span else 2 * span - x  # back and forth: the view never jumps
        crop = base[:, x : x + SIZE[0] * 2 - i % 8]
        out.append(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA))
    return np.stack(out)


def low_fps_pan(path: Path, fps: int = 6, frames: int = 36, step: int = 40) -> Path:
    """One shot at a low frame rate (a timelapse / screen-capture / 6 fps render): a fast pan,
    `step` px of the 320 px source per frame, so consecutive frames differ like a hard cut's
    would to a pixel-wise detector. No cut."""
    return encode(path, _pan_frames("vp8_flower_cc0.webm", frames, step), fps=fps)


MOTION_SOURCES = ("vp8_flower_cc0.webm", "people_bedroom_kids_jumping.mp4", "vp9_bear.webm")


def low_fps_cuts(path: Path, lengths: tuple[int, ...] = (12, 14, 10), fps: int = 6,
                 step: int = 40) -> list[int]:
    """Fast pans over different scenes at a low frame rate, joined by hard cuts; returns the
    frames where a new shot starts."""
    parts = [_pan_frames(MOTION_SOURCES[k % len(MOTION_SOURCES)], n, step, start=17 * k)
             for k, n in enumerate(lengths)]
    encode(path, np.concatenate(parts), fps=fps)
    return [int(x) for x in np.cumsum(lengths)[:-1]]


def whip_pan(path: Path, fps: int = 12, frames: int = 36) -> Path:
    """One shot at 12 fps: slow pan, a whip pan (very fast, motion-blurred for 8 frames), slow
    again. No cut."""
    import cv2

    base = _texture("people_bedroom_kids_jumping.mp4", 6)
    span = base.shape[1] - SIZE[0] * 2
    steps = [4] * 14 + [60] * 8 + [4] * (frames - 22)
    out, x = [], 0
    for s in steps:
        x = min(x + s, span)
        crop = base[:, x : x + SIZE[0] * 2]
        if s > 20:  # motion blur of a shutter open during the move
            crop = cv2.blur(crop, (s // 2, 1))
        out.append(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA))
    return encode(path, np.stack(out), fps=fps)


def flashes(path: Path, frames: int = 75, fps: int = 25) -> list[int]:
    """One continuous shot with camera flashes: one frame washed out to near white at frame
    25 and two pure white frames at 50-51. Returns the flash frames."""
    shot = source_frames("people_bedroom_kids_jumping.mp4", frames).astype(np.float32)
    shot[25] = shot[25] * 0.15 + 255 * 0.85
    shot[50:52] = 255
    encode(path, shot.astype(np.uint8), fps=fps)
    return [25, 50, 51]


def dissolve(path: Path, lengths: tuple[int, int] = (30, 30), mix: int = 2,
             fps: int = 25) -> tuple[int, int]:
    """Two shots joined by a short cross-dissolve of `mix` blended frames (k/(mix+1) of the
    second shot in the k-th), so the content score jumps at several consecutive frames.
    Returns the dissolve's frame range [first, end)."""
    a = source_frames(SHOT_SOURCES[0], lengths[0] + mix).astype(np.float32)
    b = source_frames(SHOT_SOURCES[1], mix + lengths[1]).astype(np.float32)
    w = np.arange(1, mix + 1, dtype=np.float32)[:, None, None, None] / (mix + 1)
    blend = a[lengths[0]:] * (1 - w) + b[:mix] * w
    encode(path, np.concatenate([a[:lengths[0]], blend, b[mix:]]).astype(np.uint8), fps=fps)
    return lengths[0], lengths[0] + mix


def _zoom_frames(name: str, frames: int, rate: float = 0.2, phase: int = 0) -> np.ndarray:
    """A camera zooming in and out fast (scale changes by `rate` per frame, turning a little):
    no global shift explains consecutive frames."""
    import cv2

    base = _texture(name, 2)
    h, w = base.shape[:2]
    out = []
    for i in range(frames):
        k = (i + phase) % 8
        scale = 1.0 + rate * (k if k <= 4 else 8 - k)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 2.0 * k, scale)
        out.append(cv2.resize(cv2.warpAffine(base, m, (w, h)), SIZE, interpolation=cv2.INTER_AREA))
    return np.stack(out)


def low_fps_zoom(path: Path, lengths: tuple[int, ...] = (36,), fps: int = 6) -> list[int]:
    """Fast zooms at a low frame rate, one scene per entry of `lengths` joined by hard cuts;
    returns the frames where a new shot starts."""
    parts = [_zoom_frames(MOTION_SOURCES[k % len(MOTION_SOURCES)], n, phase=3 * k)
             for k, n in enumerate(lengths)]
    encode(path, np.concatenate(parts), fps=fps)
    return [int(x) for x in np.cumsum(lengths)[:-1]]
