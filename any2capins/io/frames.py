"""The one frame sampler every stage uses: frames chosen by presentation time.

`decode_plan(path, meta, requests)` opens the file once, reads the packet index of the chosen
video stream (demux only, no decoding) to learn what the clip really holds (frame times, frame
count, keyframes: headers that over- or under-state frames or duration are not trusted), turns
every `FrameRequest` into frame positions on those times, and decodes forward once for all of
them (seeking past GOPs nobody asked for). Each request gets uint8 RGB frames at its own size.
`sample_frames` is the one-request wrapper.

Time and position conventions (also in `SampledFrames`):
- timestamps: presentation time in seconds from the start of the file's video stream (pts x
  time base; a stream whose first pts is > 0 -- delayed start, edit list -- keeps that offset);
- indices: the frame's position in the clip, 0-based, in presentation order -- the position in
  the stream for a whole-file clip, the position inside the span for a span clip;
- a clip's frames are those whose presentation time lies in [span_start_s, span_end_s).

Robustness: a frame that fails to decode (damaged packet, a reference missing after a seek) is
replaced by the nearest frame that did decode, with a warning; the request fails (DecodeError,
message keeping the decoder's words) only when fewer than `min_decoded_fraction` of its frames
decoded. The stream rule and the packet index live in `streams`, the decode pass, rotation and
pixel formats in `decode_pyav` (docs/media.md has the whole picture).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from any2capins.errors import DecodeError

if TYPE_CHECKING:
    from any2capins.config.sampling import DecodeSettings


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
class FrameRequest:
    """What one consumer wants from a clip: by fps or by count over the clip (its span when
    the clip is a span of a longer video), at most max_frames, longest side max_side.
    `fps` wins over `count`; neither means every frame of the clip."""

    fps: float | None = None
    count: int | None = None
    max_frames: int | None = None
    max_side: int | None = None


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


def decode_plan(
    path: str, meta: VideoMeta | None, requests: Mapping[str, FrameRequest], *,
    settings: DecodeSettings | None = None,
) -> dict[str, SampledFrames]:
    """ONE decoder open and one forward pass serve every request; each request gets the decoded
    frames nearest to its target times, at its own size. Raises DecodeError only when too
    little decodes (or the file has no usable video stream). `meta` may be None (stream rule,
    whole file)."""
    from any2capins.config.sampling import DecodeSettings
    from any2capins.io.decode_pyav import run_plan

    settings = settings or DecodeSettings()
    return run_plan(path, meta, dict(requests), settings)


def sample_frames(
    path: str, *, fps: float | None = None, count: int | None = None,
    max_frames: int | None = None, max_side: int | None = None,
    indices: list[int] | None = None, meta: VideoMeta | None = None,
    settings: DecodeSettings | None = None,
) -> SampledFrames:
    """One request through `decode_plan` (captions, the sheet and single-stage callers).
    `indices`, when given, are clip positions to decode instead of an fps/count grid
    (DecodeError when one is beyond the clip)."""
    from any2capins.config.sampling import DecodeSettings
    from any2capins.io.decode_pyav import run_plan

    if indices is None and fps is None and count is None:
        raise ValueError("sample_frames needs fps, count or indices")
    request = FrameRequest(fps=fps, count=count, max_frames=max_frames, max_side=max_side)
    settings = settings or DecodeSettings()
    return run_plan(path, meta, {"frames": request}, settings,
                    positions={"frames": indices} if indices is not None else None)["frames"]


def decoder_message(exc: BaseException) -> str:
    """First line of a decoder error, without an errno or time-stamp/source-path prefix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Check failed" in text or text.startswith("["):
        text = text.rsplit(") ", 1)[-1] if ") " in text else text
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)  # PyAV's FFmpegError prefix
    return text[:300]


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
