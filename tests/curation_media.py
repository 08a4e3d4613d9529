"""Clips for the curation tests, built from the bundled example clips (real footage): a
near-black clip, a frozen clip, a clip covered in large burned-in text, a blurred clip, and a
re-encoded + downscaled + trimmed copy of a clip. Each function writes an H.264 MP4 and returns
its path; end-to-end tests can reuse them.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "clips"
SIZE = (320, 180)  # (w, h) of the built clips
TEXT_LINES = ("BREAKING NEWS", "SUBSCRIBE NOW", "www.example.com", "50% OFF TODAY")


def clip_frames(name: str, count: int | None = None, size: tuple[int, int] | None = SIZE,
                start: int = 0) -> tuple[np.ndarray, float]:
    """(uint8 RGB frames [T, H, W, 3], fps) of a bundled clip: `count` frames (None: all)
    from frame `start`, resized to `size` (None: as decoded)."""
    import av
    import cv2

    out: list[np.ndarray] = []
    with av.open(str(EXAMPLES / name)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate or 25)
        for i, f in enumerate(c.decode(stream)):
            if i < start:
                continue
            rgb = f.to_ndarray(format="rgb24")
            out.append(rgb if size is None else
                       cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
            if count is not None and len(out) == count:
                break
    return np.stack(out), fps


def encode(path: Path, frames: np.ndarray, fps: float = 25, crf: int = 23) -> Path:
    """H.264 yuv420p in MP4 at `fps` (even sizes required), B-frames and 1 s GOPs."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "yuv420p"
        s.options = {"crf": str(crf), "bf": "2", "g": str(max(1, round(fps)))}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f),
                                                         format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def dark_clip(path: Path, source: str = "people_his_girl_friday_pd.mp4",
              gain: float = 0.05, count: int = 60) -> Path:
    """A near-black clip: real footage scaled to `gain` of its brightness (a night shot
    under-exposed to nothing)."""
    frames, fps = clip_frames(source, count)
    return encode(path, (frames.astype(np.float32) * gain).round().astype(np.uint8), fps)


def frozen_clip(path: Path, source: str = "vp9_bear.webm", count: int = 60,
                at: int = 20) -> Path:
    """A frozen clip: frame `at` of real footage held for `count` frames."""
    frames, fps = clip_frames(source, 1, start=at)
    return encode(path, np.repeat(frames, count, axis=0), fps)


def add_text(frame: np.ndarray, lines: tuple[str, ...] = TEXT_LINES) -> np.ndarray:
    """`frame` with large white, black-outlined text lines burned in (PIL's bundled font)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    h = frame.shape[0]
    font = ImageFont.load_default(size=max(10, h // 7))
    for i, line in enumerate(lines):
        draw.text((h // 16, h // 18 + i * h // 4.3), line, fill=(255, 255, 255), font=font,
                  stroke_width=max(1, h // 90), stroke_fill=(0, 0, 0))
    return np.asarray(img)


def text_clip(path: Path, source: str = "people_bedroom_kids_jumping.mp4",
              count: int = 60) -> Path:
    """Real footage covered in four lines of large burned-in text."""
    frames, fps = clip_frames(source, count)
    return encode(path, np.stack([add_text(f) for f in frames]), fps)


def blurred_clip(path: Path, source: str = "vp9_bear.webm", sigma: float = 4.0,
                 count: int = 60) -> Path:
    """Real footage under a strong Gaussian blur (an out-of-focus shot)."""
    import cv2

    frames, fps = clip_frames(source, count)
    return encode(path, np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]), fps)


def duplicate_copy(path: Path, source: str, scale: float = 0.5, trim: tuple[float, float] =
                   (0.15, 0.1), crf: int = 32) -> Path:
    """A re-upload of bundled clip `source`: trimmed (fractions of its frames cut from the start
    and the end), downscaled by `scale` and re-encoded as H.264 at a low quality."""
    frames, fps = clip_frames(source, size=None)
    n = len(frames)
    kept = frames[int(n * trim[0]): n - int(n * trim[1])]
    h, w = kept.shape[1:3]
    size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    import cv2

    small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in kept])
    return encode(path, small, fps, crf=crf)



DEMO_CLIP = "text_overlay_flower_cc0.mp4"  # the bundled clip the default filters leave out


def demo_text_clip(path: Path, source: str = "vp8_flower_cc0.webm", seconds: float = 3.0,
                   size: tuple[int, int] = (480, 270)) -> Path:
    """The bundled demo clip `examples/clips/text_overlay_flower_cc0.mp4`: the first `seconds`
    of the CC0 flower clip, zoomed 2x on the flower (so it is new footage, not a near-duplicate
    of the bundled original), at `size`, covered in four lines of burned-in text: the default
    filters leave it out for 'text' alone."""
    import cv2

    frames, fps = clip_frames(source, round(seconds * fps_of(source)), size=None)
    h, w = frames.shape[1:3]
    zoom = frames[:, h // 4: h // 4 + h // 2, 3 * w // 8: 3 * w // 8 + w // 2]
    return encode(path, np.stack([add_text(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
                                  for f in zoom]), fps, crf=30)


def fps_of(name: str) -> float:
    """Average frame rate of a bundled clip's video stream."""
    import av

    with av.open(str(EXAMPLES / name)) as c:
        return float(c.streams.video[0].average_rate or 25)
