"""The frame plan of a request, apart from decoding: which positions a `FrameRequest` wants
on the clip's frame times (`plan_positions`), at what size (`target_size`), what a request gets
back (`SampledFrames`) and when that is too little (`check_enough`). The sampler
(`io.frames.decode_plan`, engine `io.decode_pyav`) uses them; conventions are in `io.frames`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from any2capins.errors import DecodeError
from any2capins.models.frames import FrameRequest

__all__ = ["FrameRequest", "SampledFrames", "VideoMeta", "check_enough", "plan_positions",
           "target_size"]


class VideoMeta(Protocol):
    """What the sampler reads from a clip record (ClipRecord satisfies it). Frame counts and
    durations are hints only: the packet index decides. `stream_index` (None = apply the stream
    rule) names the container stream; the span (None = whole file) bounds the target times."""

    num_frames: int
    fps: float
    width: int
    height: int
    rotation: int
    stream_index: int | None
    span_start_s: float | None
    span_end_s: float | None


@dataclass(frozen=True)
class SampledFrames:
    """Frames of one request. `indices`: positions in the clip (0-based, presentation order);
    `timestamps`: presentation seconds from the start of the file's video stream; `frames`:
    uint8 [T, H, W, 3] RGB, display orientation; `source_size`: (w, h) of the full-resolution
    display frame; `requested`: frames the request planned (never more than the clip holds);
    `warnings`: decoder messages and substituted frames."""

    indices: list[int]
    timestamps: list[float]
    frames: np.ndarray
    source_size: tuple[int, int]
    requested: int = 0
    warnings: list[str] = field(default_factory=list)


def target_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """(w, h) after capping the longest side at `max_side`, or None when no scaling is needed."""
    if max_side is None or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    # even sizes keep swscale happy with chroma-subsampled formats
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def plan_positions(times: Sequence[float], end: float, request: FrameRequest) -> list[int]:
    """Positions (into the sorted frame `times` of a clip ending at `end`) that `request`
    wants: the frame nearest each target time. Sorted, unique; never more than the clip has.
    By count, targets are the centres of equal time segments (not the often-black first frame)
    and a target whose nearest frame is taken gets the nearest free one."""
    n = len(times)
    if n == 0:
        return []
    start = times[0]
    if request.fps is not None:
        span = max(end - start, 0.0)
        targets = [start + k / request.fps for k in range(max(1, math.ceil(span * request.fps)))]
        pos = sorted({_nearest(times, t) for t in targets})
    elif request.count is not None and request.count < n:
        step = (end - start) / request.count
        pos = _distinct_nearest(times, [start + (i + 0.5) * step for i in range(request.count)])
    else:
        pos = list(range(n))
    if request.max_frames is not None and len(pos) > request.max_frames:
        keep = np.linspace(0, len(pos) - 1, request.max_frames).round().astype(int)
        pos = [pos[k] for k in sorted(set(keep.tolist()))]
    return pos


def _nearest(times: Sequence[float], t: float) -> int:
    i = bisect.bisect_left(times, t)
    if i == 0:
        return 0
    if i == len(times):
        return len(times) - 1
    return i if times[i] - t < t - times[i - 1] - 1e-9 else i - 1  # ties: the earlier frame


def _distinct_nearest(times: Sequence[float], targets: list[float]) -> list[int]:
    """Nearest frame per target; a target whose nearest frame is taken gets the nearest free
    one (only then is the clip scanned, so long clips stay cheap)."""
    taken: list[int] = []
    for t in targets:
        p = _nearest(times, t)
        if p in taken:
            free = [q for q in range(len(times)) if q not in taken]
            p = min(free, key=lambda q: (abs(times[q] - t), q))
        taken.append(p)
    return sorted(taken)


def check_enough(name: str, requested: int, got: int, fraction: float,
                 messages: Sequence[str]) -> None:
    """DecodeError when request `name` got fewer than `fraction` of its planned frames."""
    if requested > 0 and got >= max(1, math.ceil(fraction * requested)):
        return
    said = "; ".join(dict.fromkeys(messages)) or "no decoder message"
    raise DecodeError(
        f"only {got} of {requested} frames decoded for '{name}' (need {fraction:.0%}): {said}"
        if requested else f"no frames in the clip: {said}"
    )
