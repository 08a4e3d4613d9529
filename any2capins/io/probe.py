"""Probe a clip: frame count, fps, size and container facts.

Rotation: `rotation` is the counter-clockwise display rotation in degrees (0/90/180/270) from
the container's display matrix; width/height are display (rotated) sizes.

decord gives frame count, fps and frame size (and proves the stream decodes: frame 0 is
decoded). Container facts decord does not expose (codec name, audio stream, display rotation)
come from PyAV's demuxer header and first frame. Where decord cannot open a file at all, PyAV
does the whole probe. A file neither can decode raises DecodeError with the decoders' messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from any2capins.errors import DecodeError
from any2capins.io.frames import decoder_message

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


@dataclass(frozen=True)
class _Header:
    container: str
    codec: str
    has_audio: bool
    rotation: int
    fps: float
    duration_s: float


def _header(path: str) -> _Header:
    """Container facts from PyAV without decoding more than the first video frame."""
    import av

    with av.open(path) as c:
        if not c.streams.video:
            raise DecodeError("no video stream in the container")
        vs = c.streams.video[0]
        rotation = 0
        try:
            first = next(c.decode(video=0))
            # PyAV reports the display matrix's counter-clockwise angle (e.g. -90, 90, -180)
            rotation = round(float(getattr(first, "rotation", 0) or 0)) % 360
        except (StopIteration, av.FFmpegError):
            rotation = 0
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        duration = (
            float(vs.duration * vs.time_base) if vs.duration and vs.time_base
            else (c.duration / 1e6 if c.duration else 0.0)
        )
        return _Header(
            container=c.format.name.split(",")[0], codec=vs.codec_context.name,
            has_audio=bool(c.streams.audio), rotation=rotation,
            fps=float(rate) if rate else 0.0, duration_s=duration,
        )


def _display(w: int, h: int, rotation: int) -> tuple[int, int]:
    return (h, w) if rotation in (90, 270) else (w, h)


def probe(path: str) -> ProbeResult:
    """Probe a local file. Raises DecodeError when no decoder can read it."""
    try:
        header = _header(path)
    except Exception as exc:  # noqa: BLE001 - any demuxer failure is a decode error here
        header = None
        header_err = f"pyav: {type(exc).__name__}: {exc}"
    else:
        header_err = ""
    try:
        return _probe_decord(path, header)
    except Exception as exc:  # noqa: BLE001 - fall back to PyAV for anything decord rejects
        decord_err = f"decord: {decoder_message(exc)}"
    if header is None:
        raise DecodeError(f"cannot open video ({decord_err}; {header_err})")
    try:
        return _probe_pyav(path, header)
    except Exception as exc:  # noqa: BLE001
        raise DecodeError(
            f"cannot decode video ({decord_err}; pyav: {type(exc).__name__}: {exc})"
        ) from None


def _probe_decord(path: str, header: _Header | None) -> ProbeResult:
    import decord

    vr = decord.VideoReader(path, num_threads=1)
    n = len(vr)
    if n <= 0:
        raise DecodeError("decord found no frames")
    frame = vr[0].asnumpy()
    fps = float(vr.get_avg_fps()) or (header.fps if header else 0.0)
    # decord applies the display rotation itself: its frames are already display-oriented
    dh, dw = int(frame.shape[0]), int(frame.shape[1])
    rotation = header.rotation if header else 0
    return ProbeResult(
        container=header.container if header else "unknown",
        codec=header.codec if header else "unknown",
        duration_s=round(n / fps, 6) if fps else (header.duration_s if header else 0.0),
        fps=fps, num_frames=n, width=dw, height=dh, rotation=rotation,
        has_audio=header.has_audio if header else False, backend="decord",
    )


def _probe_pyav(path: str, header: _Header) -> ProbeResult:
    """Count frames by decoding (only used where decord failed, so correctness first)."""
    import av

    n, w, h = 0, 0, 0
    with av.open(path) as c:
        for frame in c.decode(video=0):
            if n == 0:
                w, h = frame.width, frame.height
            n += 1
    if n == 0:
        raise DecodeError("no decodable frames")
    dw, dh = _display(w, h, header.rotation)
    fps = header.fps or (n / header.duration_s if header.duration_s else 0.0)
    return ProbeResult(
        container=header.container, codec=header.codec,
        duration_s=round(n / fps, 6) if fps else header.duration_s, fps=fps, num_frames=n,
        width=dw, height=dh, rotation=header.rotation, has_audio=header.has_audio,
        backend="pyav",
    )
