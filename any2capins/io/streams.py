"""The video stream of a file, its frame rate and its packet index: the part of decoding that
the probe, the sampler and shot detection share (their packet loop is `io.packets`).

Stream rule (`pick_stream`): among the container's video streams that are not an attached
picture (cover art), the one FFmpeg's command line picks by default: score = width x height,
plus 5,000,000 for the default disposition, first stream on ties. (So a default-flagged stream
wins over a larger non-default one, as in `ffmpeg -i file out.mp4`.) Audio, subtitle and data
streams are never demuxed.

Packet index (`scan_index`): demux only, no decoding, so it is cheap (one read of the bytes):
the presentation timestamps of the clip's frames, its keyframes and its end. It, not the
container header, says how many frames a clip has.

Frame-rate rule (`frame_rate`): the stream's average rate, else FFmpeg's guess (r_frame_rate),
else its base rate, else `FALLBACK_FPS` (25, FFmpeg's own default for raw streams). It is used
only where timestamps cannot say: the duration of a clip's last frame (one frame period, when
the clip has a single frame), the fps of a clip whose packets carry no timestamps, and the time
of a decoded frame without one. Everywhere else times come from the timestamps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.errors import DecodeError
from any2capins.io.packets import Notes, decoder_message, packets

DECODE_LOG_ENV = "ANY2CAPINS_DECODE_LOG"
DEFAULT_BONUS = 5_000_000  # FFmpeg's score bonus for the default disposition
REORDER_MARGIN_S = 2.0  # demux this far past a span's end: B-frame reordering stays inside
FALLBACK_FPS = 25.0  # a stream that states no rate at all (FFmpeg's default for raw streams)


def open_container(path: str, *, purpose: str = "decode") -> Any:
    """av.open with accounting: for frame decoding, when $ANY2CAPINS_DECODE_LOG names a file,
    one line "<pid> <path>" is appended per open (tests count opens across Ray actors)."""
    import av

    log = os.environ.get(DECODE_LOG_ENV)
    if log and purpose == "decode":
        with Path(log).open("a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {path}\n")
    try:
        return av.open(path)
    except Exception as exc:  # noqa: BLE001 - FFmpeg's open errors are decode errors here
        raise DecodeError(f"cannot open video: {decoder_message(exc)}") from None


def pick_stream(container: Any, preferred: int | None = None) -> Any:
    """The video stream to use: `preferred` (a container stream index) when it names a usable
    video stream, else FFmpeg's rule (see module docstring). DecodeError when none."""
    import av

    attached = av.stream.Disposition.attached_pic
    usable = [s for s in container.streams.video if not s.disposition & attached]
    if not usable:
        raise DecodeError("no video stream in the container (cover art is not video)")
    for s in usable:
        if s.index == preferred:
            return s

    def score(s: Any) -> int:
        w, h = s.codec_context.width or 0, s.codec_context.height or 0
        return w * h + DEFAULT_BONUS * bool(s.disposition & av.stream.Disposition.default)

    return max(usable, key=lambda s: (score(s), -s.index))


@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps (stream time-base units, sorted, unique) of the clip's frames
    (damaged ones included), keyframe pts, and the clip's end in seconds. `scanned`: every
    frame pts the scan saw from `origin` (the pts it seeked to; None = the file start), span
    or not, for timing frames by output order. `decode_order`: the packets' times rise in
    decode order although the codec reorders frames (B-frames in AVI): their pts are decode
    times, so decoded frames must be timed by output order."""

    pts: list[int]
    keys: list[int]
    time_base: Fraction
    end_s: float
    scanned: list[int]
    origin: int | None
    decode_order: bool = False
    key_dts: dict[int, int] = field(default_factory=dict)  # keyframe pts -> its dts

    def seek_point(self, key_pts: int) -> int:
        """Where to seek for keyframe `key_pts`: its dts (demuxers index by decode time; a
        pts-based seek can land one GOP late on B-frame streams, e.g. MPEG-TS)."""
        return self.key_dts.get(key_pts, key_pts)

    def seconds(self, pts: int) -> float:
        return pts * self.tb

    @property
    def tb(self) -> float:
        """The time base as a float (cheap per-frame conversions on long clips)."""
        return float(self.time_base)


def scan_index(container: Any, stream: Any, span: tuple[float | None, float | None],
               notes: Notes | None = None) -> FrameIndex:
    """Demux (no decoding) the stream's packets in the span: what the file really holds.
    Empty packets (AVI dropped frames) and packets FFmpeg marks to discard (edit lists) are not
    frames; a packet without pts uses its dts. A demux error (truncated file) ends the index
    there (noted)."""
    notes = notes if notes is not None else Notes()
    tb = stream.time_base or Fraction(1, 90000)
    lo, hi = span
    origin = int(lo / tb) if lo else None
    if origin is not None:
        container.seek(origin, stream=stream, backward=True)
    stop = None if hi is None else int((hi + REORDER_MARGIN_S) / tb)
    pts: set[int] = set()
    keys: dict[int, int] = {}
    rising, last = True, None
    for p in packets(container, stream, notes):
        t = p.pts if p.pts is not None else p.dts
        if t is None or p.size == 0 or p.is_discard:
            continue
        rising, last = rising and (last is None or t > last), t
        pts.add(t)
        if p.is_keyframe:
            keys[t] = p.dts if p.dts is not None else t
        if stop is not None and p.dts is not None and p.dts > stop:
            break
    ordered = sorted(pts)
    ftb = float(tb)
    inside = [t for t in ordered if (lo is None or t * ftb >= lo) and (hi is None or t * ftb < hi)]
    end = _end_seconds(inside, tb, hi, stream)
    reorders = bool(getattr(stream.codec_context, "has_b_frames", False))
    decode_order = reorders and rising and len(ordered) > 1
    return FrameIndex(inside, sorted(keys), tb, end, ordered, origin, decode_order, keys)


def _end_seconds(pts: list[int], tb: Fraction, hi: float | None, stream: Any) -> float:
    if hi is not None or not pts:
        return hi or 0.0
    # the last frame lasts the median frame gap; a single frame, one period of the rate rule
    step = float(np.median(np.diff(pts)) * tb) if len(pts) > 1 else 1 / frame_rate(stream)
    return float(pts[-1] * tb) + step


def frame_rate(stream: Any) -> float:
    """The stream's nominal frame rate by the frame-rate rule (module docstring): never 0."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else FALLBACK_FPS


def frame_rotation(frame: Any) -> int:
    """Counter-clockwise display rotation (0/90/180/270) from the frame's display matrix
    (PyAV reports e.g. -90 for 270)."""
    return (round(float(getattr(frame, "rotation", 0) or 0) / 90) % 4) * 90
