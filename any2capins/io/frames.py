"""The one frame sampler every stage uses.

`sample_frames` picks frame indices (by target fps or by count), decodes them with decord's
`get_batch` (resized inside the decoder when a resolution cap is set, which is cheaper than
resizing after), applies display rotation, and returns uint8 RGB frames [T, H, W, 3] with their
indices and timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from any2capins.errors import DecodeError


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
        idx = [min(num_frames - 1, int(round(i * step))) for i in range(math.ceil(num_frames / step))]
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


def _decode_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) to decode at, in stored (unrotated) orientation; -1 keeps the native size."""
    if max_side is None or max(width, height) <= max_side:
        return -1, -1
    scale = max_side / max(width, height)
    # even sizes keep swscale happy with chroma-subsampled formats
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def sample_frames(
    path: str, *, fps: float | None = None, count: int | None = None,
    max_frames: int | None = None, max_side: int | None = None, rotation: int = 0,
    indices: list[int] | None = None, num_threads: int = 0,
) -> SampledFrames:
    """Sample frames from a local video file. Raises DecodeError when decoding fails."""
    import decord

    try:
        probe_vr = decord.VideoReader(path, num_threads=1)
        n, native_fps = len(probe_vr), float(probe_vr.get_avg_fps())
        h0, w0 = probe_vr[0].shape[:2]
        del probe_vr
        if indices is None:
            indices = pick_indices(n, native_fps, fps=fps, count=count, max_frames=max_frames)
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise DecodeError(f"frame indices out of range 0..{n - 1}: {bad[:5]}")
        dw, dh = _decode_size(w0, h0, max_side)
        vr = decord.VideoReader(path, num_threads=num_threads, width=dw, height=dh)
        frames = vr.get_batch(indices).asnumpy() if indices else np.zeros((0, 1, 1, 3), np.uint8)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - decord raises its own error types
        raise DecodeError(f"decoding failed: {str(exc).splitlines()[0][:300]}") from None
    if rotation % 360:
        frames = np.ascontiguousarray(np.rot90(frames, k=-(rotation // 90), axes=(1, 2)))
    size = (h0, w0) if rotation in (90, 270) else (w0, h0)
    stamps = [round(i / native_fps, 6) if native_fps else 0.0 for i in indices]
    return SampledFrames(list(indices), stamps, frames, (int(size[0]), int(size[1])))
