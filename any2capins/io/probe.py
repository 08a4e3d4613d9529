"""Probe a clip: which video stream, frame count, fps, size and container facts.

One PyAV open per probe, with the sampler's stream rule (`io.streams.pick_stream`: largest
resolution, default disposition first, never cover art), recorded as `stream_index`.

Cost and trust: the frame count and duration come from the stream's packet index (demux only,
no decoding: every frame packet is counted, empty/discarded ones are not), not from header
fields, which over- or under-state frames on real files. Only the first frame is decoded (to
prove the stream decodes and to read its size and display rotation); a long video therefore
costs one read of its bytes, no full decode. Where packets carry no timestamps at all, every
frame is decoded to count them (correctness first). Decoding goes through the packet loop
(`io.packets`): a damaged packet is skipped, its error kept; the probe fails (DecodeError with
the decoder's words) only when no frame decodes. The fps of a clip with one frame, or without
timestamps, follows the frame-rate rule (`io.streams.frame_rate`).

Rotation: `rotation` is the counter-clockwise display rotation in degrees (0/90/180/270) from
the display matrix; width/height are display (rotated) sizes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from any2capins.errors import DecodeError
from any2capins.io.packets import Notes, decoded, decoder_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    container: str
    codec: str
    duration_s: float
    fps: float
    num_frames: int
    width: int
    height: int
    rotation: int
    has_audio: bool
    backend: str
    stream_index: int = 0


def probe(path: str) -> ProbeResult:
    """Probe a local file. Raises DecodeError (with FFmpeg's words) when it has no video stream
    that decodes."""
    from any2capins.io.streams import open_container

    notes = Notes()
    try:
        with open_container(path, purpose="probe") as c:
            return _probe(c, notes)
    except DecodeError as exc:
        said = "; ".join([str(exc), *notes.lines()])
    except Exception as exc:  # noqa: BLE001 - any FFmpeg failure is a decode error here
        said = "; ".join([f"cannot decode video: {decoder_message(exc)}", *notes.lines()])
    raise DecodeError(said[:2000])


def _probe(c: Any, notes: Notes) -> ProbeResult:
    from any2capins.io.streams import frame_rate, frame_rotation, pick_stream, scan_index

    stream = pick_stream(c)
    index = scan_index(c, stream, (None, None), notes)
    first = _first_frame(c, stream, notes)
    if first is None:
        raise DecodeError("cannot decode video: no frame decoded")
    n = len(index.pts) or _count_frames(c, stream, notes)
    start = index.seconds(index.pts[0]) if index.pts else 0.0
    duration = max(index.end_s - start, 0.0) if index.pts else _header_duration(c, stream)
    fps = n / duration if n > 1 and duration > 0 else frame_rate(stream)
    rotation = frame_rotation(first)
    w, h = first.width, first.height
    return ProbeResult(
        container=c.format.name.split(",")[0], codec=stream.codec_context.name,
        duration_s=round(duration, 6), fps=round(fps, 6), num_frames=n,
        width=h if rotation % 180 else w, height=w if rotation % 180 else h, rotation=rotation,
        has_audio=bool(c.streams.audio), backend="pyav", stream_index=stream.index,
    )


def _first_frame(c: Any, stream: Any, notes: Notes) -> Any:
    """The first frame that decodes (damaged leading packets skipped, their errors noted)."""
    return next(decoded(c, stream, notes, seek_to=0), None)


def _count_frames(c: Any, stream: Any, notes: Notes) -> int:
    """Frames by full decode: only for streams whose packets carry no timestamps."""
    return sum(1 for _ in decoded(c, stream, notes, seek_to=0))


def _header_duration(c: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return c.duration / 1e6 if c.duration else 0.0
