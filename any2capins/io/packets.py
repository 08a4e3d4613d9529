"""The one packet loop: every decode of the project (the frame sampler, the probe, shot
detection) and the packet index read a stream through these two generators, under one error
policy.

Error policy:
- a packet that fails to decode costs its frame: it is skipped, counted
  (`Notes.failed_packets`) and its error is kept in the decoder's own words (FFmpeg's error
  string as PyAV raises it, e.g. "Invalid data found when processing input");
- a demux error (a truncated or damaged container) ends the stream there, noted as "demuxing
  stopped: <words>";
- neither raises. Whether what decoded is enough is the caller's rule, stated once each: the
  sampler fails a request that got fewer than `decode.min_decoded_fraction` of its frames
  (`io.sampling.check_enough`), the probe and shot detection fail a stream where no frame
  decodes. Their error messages carry the notes.
The empty packet PyAV's demuxer yields at the end flushes the decoder, so the frames it holds
back (B-frames, frame threads) come out.

Messages are deduplicated with counts (a damaged file repeats itself) and capped per clip.
FFmpeg's log is deliberately not read: PyAV's log callback can deadlock with FFmpeg's
frame-threaded decoders (seen here under load), which is why PyAV disables logging by default.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

MAX_MESSAGES = 8  # distinct decoder messages kept per clip
NOISE = ("deprecated pixel format used",)  # swscale chatter about JPEG-range formats


def decoder_message(exc: BaseException) -> str:
    """First line of a decoder error, without an errno or time-stamp/source-path prefix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Check failed" in text or text.startswith("["):
        text = text.rsplit(") ", 1)[-1] if ") " in text else text
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)  # PyAV's FFmpegError prefix
    return text[:300]


class Notes:
    """What went wrong while reading one clip: decoder messages, deduplicated with counts, and
    the packets that failed to decode."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failed_packets = 0

    def add(self, text: str) -> None:
        text = " ".join(text.split())  # one line per message
        if text and not any(n in text for n in NOISE):
            self.counts[text] += 1

    def packet_failed(self, exc: BaseException) -> None:
        """A packet did not decode: counted, its error kept in the decoder's words."""
        self.failed_packets += 1
        self.add(decoder_message(exc))

    def lines(self) -> list[str]:
        kept = list(self.counts.items())[:MAX_MESSAGES]
        return [f"{t} (x{n})" if n > 1 else t for t, n in kept]


def packets(container: Any, stream: Any, notes: Notes) -> Iterator[Any]:
    """The stream's packets from the container's current position; a demux error ends them,
    noted (the policy in the module docstring)."""
    demuxed = container.demux(stream)
    while True:
        try:
            yield next(demuxed)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - FFmpeg error types; the file ends here
            notes.add(f"demuxing stopped: {decoder_message(exc)}")
            return


def decoded(container: Any, stream: Any, notes: Notes, *,
            seek_to: int | None = None) -> Iterator[Any]:
    """Decoded frames of `stream`, packet by packet (the policy in the module docstring).
    `seek_to`: a timestamp (stream time base) to seek back from to the keyframe at or before
    it, with the decoder flushed; None reads on from the current position (a fresh open)."""
    cc = stream.codec_context
    if seek_to is not None:
        container.seek(seek_to, stream=stream, backward=True)
        cc.flush_buffers()
    for packet in packets(container, stream, notes):
        try:
            frames = cc.decode(packet if packet.size else None)
        except Exception as exc:  # noqa: BLE001 - FFmpeg error types; skip the packet
            notes.packet_failed(exc)
            continue
        yield from frames
