"""PyAV engine behind `frames.decode_plan`: one container open, the packet index, one forward
decode pass with keyframe seeks, frames matched to target times by presentation time.

Why PyAV only (decord left the frame path): decord opens a stream of its own choosing (not the
stream rule), counts frames from headers (over-counts on VP9 10-bit and on files with damaged
or dropped frames) and addresses frames by number, which broke B-frame AVI, VFR and
delayed-start files. PyAV exposes packet timestamps, keyframes, per-packet errors, FFmpeg's log
and the display matrix, which sampling by presentation time needs. bench/decode.py compares its
speed with decord's get_batch.

Matching: each wanted frame (a position in the packet index) gets the decoded frame with its
pts, or, when that frame did not decode (damaged packet, missing reference), the nearest frame
that did, with a warning. When the decoder's output pts go backwards (B-frames in AVI, whose
packets carry decode-order times), the pass restarts from the clip start and times the k-th
output frame with the k-th index timestamp (no seeks on such files). A seek that lands past the
wanted frame is retried earlier (the keyframe's dts: MPEG-TS indexes by decode time; then the
keyframe before), and the seek point that worked is kept for the rest of the clip.

Errors: the packet loop's policy (`io.packets`): a damaged packet costs its frame, counted,
its error kept in FFmpeg's words as PyAV raises them (e.g. "Invalid data found when processing
input"); a request fails only below `decode.min_decoded_fraction` (`sampling.check_enough`).

Pixels: swscale converts every frame to 8-bit RGB (rgb24) with the frame's colour matrix and
range, so 10/12-bit YUV comes out as correct 8-bit RGB. Frames tagged HDR (PQ or HLG transfer)
or SDR with BT.2020 primaries instead go to 16-bit RGB (rgb48le, same matrix, range and
scaling), and `io.hdr` tone-maps them (BT.2390) and converts their gamut to SDR BT.709 in
numpy, so phone HLG and HDR10 clips look to the models and the caption LLM as their SDR
rendition would (`decode.hdr: off` keeps the plain conversion; one INFO line per clip says what
was done). Untagged and ordinary SDR frames take the rgb24 path unchanged. Frames are scaled in
stored orientation, then turned by the display matrix.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from any2capins.errors import DecodeError
from any2capins.io.hdr import convert, plan_for
from any2capins.io.packets import Notes, decoded, decoder_message
from any2capins.io.sampling import (
    FrameRequest,
    SampledFrames,
    VideoMeta,
    check_enough,
    plan_positions,
    target_size,
)
from any2capins.io.streams import (
    FrameIndex,
    frame_rotation,
    open_container,
    pick_stream,
    scan_index,
)

if TYPE_CHECKING:
    from any2capins.config.sampling import DecodeSettings

log = logging.getLogger(__name__)


@dataclass
class _Want:
    """One request's frames at one output size; filled as frames decode."""

    positions: list[int]
    size: tuple[int, int] | None  # (w, h) in stored orientation after scaling; None = full
    wanted: set[int] = field(default_factory=set)  # positions, for membership
    frames: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)  # pos -> (px, pts)
    base: tuple[int, int] = (0, 0)  # the stream's (w, h) as opened (what the probe recorded)


@dataclass
class _Pass:
    """State of the decode pass: what is served so far and the frames' display rotation."""

    index: FrameIndex
    wants: dict[str, _Want]
    wanted: list[int]
    rotation: int = 0
    hdr: str = "tonemap"  # DecodeSettings.hdr
    hdr_done: str | None = None  # what io.hdr did (for the log; "" nothing), from 1st frame
    resized: str | None = None  # "96x64 -> 192x128" when the resolution changed mid-stream


ORDINAL_NOTE = ("decoder timestamps are not in presentation order (B-frames in a container "
                "without pts, e.g. AVI): frames are timed by their output order")


SEEK_ATTEMPTS = 3  # seek points tried per keyframe before decoding from the start


class UnorderedError(Exception):
    """The decoder's output timestamps are not in presentation order."""


def run_plan(
    path: str, meta: VideoMeta | None, requests: dict[str, FrameRequest],
    settings: DecodeSettings, positions: dict[str, list[int]] | None = None,
) -> dict[str, SampledFrames]:
    """Implementation of `frames.decode_plan` (`positions` replaces a request's grid)."""
    import av

    notes = Notes()
    try:
        with open_container(path) as container:
            index, wants, source = _plan_and_decode(container, meta, requests,
                                                    settings=settings, positions=positions,
                                                    notes=notes)
    except (av.FFmpegError, OSError) as exc:  # a seek or demux failure outside a packet
        said = "; ".join([decoder_message(exc), *notes.lines()])
        raise DecodeError(f"decoding failed: {said}") from None
    return {name: _result(name, w, index, source=source, notes=notes, settings=settings)
            for name, w in wants.items()}


def _plan_and_decode(
    container: Any, meta: VideoMeta | None, requests: dict[str, FrameRequest], *,
    settings: DecodeSettings, positions: dict[str, list[int]] | None, notes: Notes,
) -> tuple[FrameIndex, dict[str, _Want], tuple[int, int]]:
    span = (getattr(meta, "span_start_s", None), getattr(meta, "span_end_s", None))
    stream = pick_stream(container, getattr(meta, "stream_index", None))
    stream.thread_type = "AUTO"
    if settings.threads:
        stream.thread_count = settings.threads
    index = scan_index(container, stream, span, notes)
    wants = {name: _want(name, req, index, stream, positions)
             for name, req in requests.items()}
    cc = stream.codec_context
    opened = (cc.width, cc.height)  # the decoder's size follows the frames; the source is this
    state = _decode(container, stream, wants, index, settings=settings, notes=notes)
    if state.hdr_done:
        log.info("%s: %s", getattr(container, "name", "clip"), state.hdr_done)
    if state.resized:
        notes.add(f"the resolution changes mid-stream ({state.resized}): frames of another "
                  "size are scaled to the stream's opening size")
    rotated = state.rotation % 180 == 90
    source = (opened[1], opened[0]) if rotated else opened
    return index, wants, source


def _want(name: str, req: FrameRequest, index: FrameIndex, stream: Any,
          positions: dict[str, list[int]] | None) -> _Want:
    fixed = (positions or {}).get(name)
    if fixed is not None:
        bad = [p for p in fixed if not 0 <= p < len(index.pts)]
        if bad:
            raise DecodeError(f"frame indices out of range 0..{len(index.pts) - 1}: {bad[:5]}")
        pos = sorted(set(fixed))
    else:
        pos = plan_positions([index.seconds(p) for p in index.pts], index.end_s, req)
    cc = stream.codec_context
    base = (cc.width or 0, cc.height or 0)
    return _Want(pos, target_size(*base, req.max_side), set(pos), base=base)


def _decode(container: Any, stream: Any, wants: dict[str, _Want], index: FrameIndex, *,
            settings: DecodeSettings, notes: Notes) -> _Pass:
    """Serve every wanted position from one forward pass (see module docstring)."""
    wanted = sorted({p for w in wants.values() for p in w.positions})
    state = _Pass(index, wants, wanted, hdr=settings.hdr)
    if index.decode_order:  # known before decoding: B-frames without pts (AVI)
        notes.add(ORDINAL_NOTE)
        _run(container, stream, state, seek=False, ordinal=True, notes=notes)
        return state
    try:
        _run(container, stream, state, seek=settings.seek, ordinal=False, notes=notes)
    except UnorderedError:  # found while decoding: output pts went backwards
        notes.add(ORDINAL_NOTE)
        for w in wants.values():
            w.frames.clear()
        state = _Pass(index, wants, wanted, hdr=settings.hdr)
        _run(container, stream, state, seek=False, ordinal=True, notes=notes)
    return state


def _run(container: Any, stream: Any, st: _Pass, *, seek: bool, ordinal: bool,
         notes: Notes) -> None:
    """Serve st.wanted in order. A seek that lands past the wanted frame (or at the end) is
    retried at an earlier seek point; the point that worked is kept for later seeks (a
    demuxer that indexes by dts keeps needing dts); after SEEK_ATTEMPTS, no more seeks."""
    pts_of, i, attempt = st.index.pts, 0, 0
    while i < len(st.wanted):
        key = _key_before(st.index, pts_of[st.wanted[i]]) if seek else None
        at = _seek_point(st.index, key, attempt) if key is not None else None
        if ordinal:  # decode from where the index scan started, so output k = scanned[k]
            at = st.index.origin
        prev: tuple[Any, int] | None = None
        for frame, pts in _frames(container, stream, at, notes,
                                  st.index.scanned if ordinal else None):
            if key is not None and prev is None and pts > pts_of[st.wanted[i]] and pts > key:
                break  # landed past the wanted frame (or its keyframe did not decode)
            while i < len(st.wanted) and pts_of[st.wanted[i]] <= pts:
                _serve(st, st.wanted[i], _nearer(prev, (frame, pts), pts_of[st.wanted[i]]))
                i += 1
            prev = (frame, pts)
            if i == len(st.wanted):
                break
            nxt = _key_before(st.index, pts_of[st.wanted[i]])
            if seek and nxt > pts and nxt != key:  # (a seek to `key` may land before it)
                break
        else:
            i = _ended(st, i, prev, seeking=key is not None)
        if key is not None and prev is None and i < len(st.wanted):
            attempt += 1  # nothing usable after that seek: try an earlier seek point
            seek = attempt < SEEK_ATTEMPTS
            if not seek:
                notes.add("seeks found no decodable frame at the wanted times; decoded "
                          "from the start")


def _ended(st: _Pass, i: int, prev: tuple[Any, int] | None, *, seeking: bool) -> int:
    """The stream ended before wanted[i]: the last good frame is the nearest for the rest.
    After a seek that decoded nothing, leave them for an earlier seek point instead."""
    if prev is None and seeking:
        return i
    for p in st.wanted[i:]:
        if prev is not None:
            _serve(st, p, prev)
    return len(st.wanted)


def _seek_point(index: FrameIndex, key: int, attempt: int) -> int:
    """Seek target for keyframe `key`, earlier on each retry: its pts, its dts (demuxers that
    index by decode time, e.g. MPEG-TS), the keyframe before it."""
    if attempt == 0:
        return key
    if attempt == 1:
        return index.seek_point(key)
    k = bisect.bisect_left(index.keys, key) - 1
    return index.seek_point(index.keys[k]) if k >= 0 else (index.origin or 0)


def _key_before(index: FrameIndex, pts: int) -> int:
    """Latest keyframe at or before `pts` (the first frame when none)."""
    k = bisect.bisect_right(index.keys, pts) - 1
    return index.keys[k] if k >= 0 else (index.pts[0] if index.pts else 0)


def _nearer(prev: tuple[Any, int] | None, cur: tuple[Any, int], target: int) -> tuple[Any, int]:
    if cur[1] == target or prev is None:
        return cur
    return prev if target - prev[1] <= cur[1] - target else cur


def _frames(container: Any, stream: Any, start: int | None, notes: Notes,
            ordinal: list[int] | None) -> Iterator[tuple[Any, int]]:
    """Decoded frames with their pts from keyframe `start` (None: the stream start), through
    the packet loop (`io.packets`: a damaged packet costs its frame, not the pass).
    With `ordinal`, the k-th output frame gets pts ordinal[k]; else the frame's own pts,
    and UnorderedError when those go backwards."""
    last: int | None = None
    for frame in decoded(container, stream, notes, seek_to=start if start is not None else 0):
        if ordinal is not None:
            k = 0 if last is None else last + 1
            if k >= len(ordinal):
                return
            last = k
            yield frame, ordinal[k]
            continue
        if frame.pts is None or (last is not None and frame.pts <= last):
            raise UnorderedError
        last = frame.pts
        yield frame, frame.pts


def _serve(st: _Pass, position: int, best: tuple[Any, int]) -> None:
    """Convert frame `best` once per output size for every request that wants `position`."""
    frame, pts = best
    st.rotation = frame_rotation(frame)
    converted: dict[tuple[int, int] | None, np.ndarray] = {}
    for w in st.wants.values():
        if position in w.wanted:
            size = w.size
            if size is None and all(w.base) and (frame.width, frame.height) != w.base:
                # a mid-stream resolution change: every frame of a request has one size, the
                # one the probe recorded (models scale their outputs to it)
                size = w.base
                st.resized = st.resized or (f"{w.base[0]}x{w.base[1]} -> "
                                            f"{frame.width}x{frame.height}")
            if size not in converted:
                converted[size] = to_rgb(frame, size, hdr=st.hdr)
            w.frames[position] = (converted[size], pts)
    if st.hdr_done is None:
        plan = plan_for(frame) if st.hdr == "tonemap" else None
        st.hdr_done = plan.describe() if plan else ""


def to_rgb(frame: Any, size: tuple[int, int] | None, hdr: str = "tonemap") -> np.ndarray:
    """uint8 RGB [H, W, 3] of `frame` scaled to `size` (stored orientation; None = full size),
    then turned to display orientation by the frame's display matrix. With `hdr` "tonemap",
    a frame tagged PQ/HLG (or BT.2020 SDR) is converted to SDR BT.709 (`io.hdr`); every other
    frame, and every frame with "off", is swscale's rgb24 as it is."""
    plan = plan_for(frame) if hdr == "tonemap" else None
    fmt = "rgb48le" if plan is not None else "rgb24"
    if size is None:
        img = frame.to_ndarray(format=fmt)
    else:
        img = frame.to_ndarray(format=fmt, width=size[0], height=size[1],
                               interpolation="AREA")
    if plan is not None:
        img = convert(img, plan)
    k = frame_rotation(frame) // 90  # counter-clockwise quarter turns
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


def _result(name: str, want: _Want, index: FrameIndex, *, source: tuple[int, int],
            notes: Notes, settings: DecodeSettings) -> SampledFrames:
    """The request's frames in time order; substitutes that coincide are kept once."""
    warnings = notes.lines()
    out: dict[int, tuple[int, np.ndarray]] = {}  # pts -> (position, pixels)
    for p in want.positions:
        if p not in want.frames:
            continue
        img, pts = want.frames[p]
        if pts != index.pts[p]:
            warnings.append(f"frame {p} ({index.seconds(index.pts[p]):.3f}s) did not decode; "
                            f"used the frame at {index.seconds(pts):.3f}s")
        out.setdefault(pts, (_position_of(index, pts, p), img))
    check_enough(name, len(want.positions), len(out), settings.min_decoded_fraction, warnings)
    order = sorted(out)
    return SampledFrames(
        indices=[out[t][0] for t in order], timestamps=[round(index.seconds(t), 6) for t in order],
        frames=np.stack([out[t][1] for t in order]), source_size=source,
        requested=len(want.positions), warnings=warnings,
    )


def _position_of(index: FrameIndex, pts: int, fallback: int) -> int:
    k = bisect.bisect_left(index.pts, pts)
    return k if k < len(index.pts) and index.pts[k] == pts else fallback
