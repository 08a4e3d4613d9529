"""The one frame sampler every stage uses.

`sample_frames` picks frame indices (by target fps or by count), decodes them with decord's
`get_batch` and returns uint8 RGB frames [T, H, W, 3] (display orientation) with their indices
and timestamps. When the clip's metadata is known (a `ClipRecord`), the reader is opened once and
frames are scaled inside the decoder, which is cheaper than scaling afterwards.

decord applies the container's display rotation itself. Its in-decoder scaling is broken for
90/270-degree rotated clips (wrong shape), so those are decoded at full size and scaled with
OpenCV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from any2capins.errors import DecodeError


class VideoMeta(Protocol):
    """What the sampler needs to know about a clip (ClipRecord satisfies it)."""

    num_frames: int
    fps: float
    width: int
    height: int
    rotation: int


@dataclass(frozen=True)
class SampledFrames:
    indices: list[int]
    timestamps: list[float]
    frames: np.ndarray  # uint8 [T, H, W, 3], RGB, display orientation
    source_size: tuple[int, int]  # (width, height) of the full-resolution display frame


def pick_indices(
    num_frames: int, native_fps: float, *, fps: float | None = None, count: int | None = None,
    max_frames: int | None = None,
) -> list[int]:
    """Frame indices to sample. `fps` wins over `count`; at most `max_frames` are returned,
    spread evenly. Deterministic, sorted, unique."""
    if num_frames <= 0:
        return []
    if fps is not None:
        if native_fps <= 0:
            raise DecodeError("clip has no frame rate; sample by count instead")
        step = native_fps / fps
        idx = [min(num_frames - 1, round(i * step)) for i in range(math.ceil(num_frames / step))]
    elif count is not None:
        n = min(count, num_frames)
        # centre of n equal segments: avoids always taking the (often black) first frame
        idx = [int((i + 0.5) * num_frames / n) for i in range(n)]
    else:
        raise ValueError("pick_indices needs fps or count")
    idx = sorted(set(idx))
    if max_frames is not None and len(idx) > max_frames:
        keep = np.linspace(0, len(idx) - 1, max_frames).round().astype(int)
        idx = [idx[k] for k in sorted(set(keep.tolist()))]
    return idx


def target_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """(w, h) after capping the longest side at `max_side`, or None when no scaling is needed."""
    if max_side is None or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    # even sizes keep swscale happy with chroma-subsampled formats
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _open(path: str, size: tuple[int, int] | None, num_threads: int):
    import decord

    if size is None:
        return decord.VideoReader(path, num_threads=num_threads)
    return decord.VideoReader(path, num_threads=num_threads, width=size[0], height=size[1])


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def sample_frames(
    path: str, *, fps: float | None = None, count: int | None = None,
    max_frames: int | None = None, max_side: int | None = None,
    indices: list[int] | None = None, meta: VideoMeta | None = None, num_threads: int = 0,
    backend: str = "pyav",
) -> SampledFrames:
    """Sample frames from a local video file. Raises DecodeError when decoding fails.

    `backend`: "pyav" (default: one forward pass with frame threads and keyframe seeks, see
    `decode_pyav`; needs `meta`, else decord is used) or "decord" (`VideoReader.get_batch`).
    Both return the same pixels at full resolution; bench/decode.py measures which is faster.
    """
    if backend == "pyav" and meta is not None:
        return _sample_pyav(path, meta, fps=fps, count=count, max_frames=max_frames,
                            max_side=max_side, indices=indices)
    try:
        scale_in_decoder = meta is not None and meta.rotation % 180 == 0
        size = target_size(meta.width, meta.height, max_side) if meta is not None else None
        vr = _open(path, size if scale_in_decoder else None, num_threads)
        n, native_fps = len(vr), float(vr.get_avg_fps())
        if indices is None:
            indices = pick_indices(n, native_fps, fps=fps, count=count, max_frames=max_frames)
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise DecodeError(f"frame indices out of range 0..{n - 1}: {bad[:5]}")
        if not indices:
            raise DecodeError("no frames to sample")
        frames = vr.get_batch(indices).asnumpy()
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - decord raises its own error types
        raise DecodeError(f"decoding failed: {decoder_message(exc)}") from None
    if meta is not None:
        source = (meta.width, meta.height)
    else:
        source = (int(frames.shape[2]), int(frames.shape[1]))
        size = target_size(*source, max_side)
    if size is not None and (frames.shape[2], frames.shape[1]) != size:
        frames = _resize(frames, size)
    stamps = [round(i / native_fps, 6) if native_fps else 0.0 for i in indices]
    return SampledFrames(list(indices), stamps, np.ascontiguousarray(frames), source)


def _sample_pyav(
    path: str, meta: VideoMeta, *, fps: float | None, count: int | None, max_frames: int | None,
    max_side: int | None, indices: list[int] | None,
) -> SampledFrames:
    from any2capins.io.decode_pyav import decode_indices

    if indices is None:
        indices = pick_indices(meta.num_frames, meta.fps, fps=fps, count=count,
                               max_frames=max_frames)
    if not indices:
        raise DecodeError("no frames to sample")
    try:
        frames = decode_indices(path, indices, target_size(meta.width, meta.height, max_side))
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises FFmpeg error types
        raise DecodeError(f"decoding failed: {decoder_message(exc)}") from None
    stamps = [round(i / meta.fps, 6) if meta.fps else 0.0 for i in indices]
    return SampledFrames(list(indices), stamps, frames, (meta.width, meta.height))


def decoder_message(exc: BaseException) -> str:
    """First line of a decoder error without decord's time stamp and source path prefix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Check failed" in text or text.startswith("["):
        text = text.rsplit(") ", 1)[-1] if ") " in text else text
    return text[:300]
