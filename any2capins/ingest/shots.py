"""Shot detection: one streaming decode per video at low resolution, PySceneDetect's detectors.

Contract of `detect_shots(path, config)`:

- Frames are decoded once with PyAV from the video stream of the project's stream rule
  (`io.decode_pyav.pick_stream`, the one the frame sampler uses; the clip's `stream_index` when
  known), scaled by swscale to ~`DETECT_WIDTH` px wide and handed one by one to PySceneDetect's
  `ContentDetector` / `AdaptiveDetector`. No frame is kept: memory is flat in video length
  except for one float (the frame's time) per frame, 1.7 MB for a 2-hour film at 30 fps.
  Rotation does not matter for cut detection (both sides of a cut are rotated alike), so frames
  are scanned in coded orientation.
- Times are presentation times in seconds (pts x time base, the sampler's convention: a stream
  whose first pts is > 0 keeps that offset), so VFR and delayed starts are exact. A shot is the
  frame range [start_frame, end_frame) in presentation order and the time span
  [start_s, end_s). A boundary sits 1 ms (`EDGE_S`; half the frame gap when frames are
  closer) before the shot's first frame, so "frame time in [start_s, end_s)" selects exactly
  the shot's frames whatever the float rounding of the bounds, while the values read like frame
  times (a cut at 1.2 s gives 1.199). The first span starts there too (not below 0), the last
  ends with the last frame's duration. Spans tile the video; durations are exact to 1 ms.
- PySceneDetect reports the first frame of the new shot, so hard cuts are exact to the frame.
  Its own minimum-scene-length filter is disabled: short shots are not merged into a neighbour
  (which would put a cut inside a clip) but dropped here when shorter than `min_len_s`, and
  returned in `dropped`. A video with no cut is one shot and is never dropped.
- Shots longer than `max_len_s` are split into the fewest equal pieces no longer than it, each
  boundary before the first frame at or after its target time.
- Speed: decoding runs in a worker thread (`prefetch`, a few frames ahead), so it overlaps the
  detector instead of adding to it, and the content score's plane distance uses cv2.norm (the
  same values as PySceneDetect's numpy code, about twice as fast); bench/shots.py compares the
  whole against a plain decode at the same size.
- A packet that fails to decode is skipped (counted in `skipped_packets`); DecodeError is raised
  only when no frame decodes at all.
"""

from __future__ import annotations

import bisect
import itertools
import math
import queue
import threading
from array import array
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from any2capins.config.ingest import ShotsConfig
from any2capins.errors import DecodeError

T = TypeVar("T")
DETECT_WIDTH = 256  # PySceneDetect's own auto-downscale target width
EDGE_S = 0.001  # span boundaries sit this far before a shot's first frame (see module doc)


@dataclass(frozen=True)
class Shot:
    """One shot: frames [start_frame, end_frame) in presentation order, times [start_s, end_s)."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class ShotScan:
    """What one detection pass found. `shots` are kept (after splitting), `dropped` too short."""

    shots: list[Shot]
    dropped: list[Shot] = field(default_factory=list)
    cuts: int = 0
    frames: int = 0
    stream_index: int = 0
    skipped_packets: int = 0


def _l1_mean(left: Any, right: Any) -> float:
    """Mean |left - right| of two 8-bit planes: PySceneDetect's `_mean_pixel_distance`, same
    value (OpenCV sums the integer differences exactly), without its int32 temporaries."""
    import cv2

    return cv2.norm(left, right, cv2.NORM_L1) / float(left.shape[0] * left.shape[1])


def _use_fast_distance() -> None:
    """The content score is three plane distances per frame; numpy's version is most of the
    detector's time at our size (~0.35 ms each on this project's CPUs, cv2.norm ~0.17 ms)."""
    from scenedetect.detectors import content_detector

    if getattr(content_detector, "_mean_pixel_distance", None) not in (None, _l1_mean):
        content_detector._mean_pixel_distance = _l1_mean


def _make_detector(config: ShotsConfig) -> Any:
    from scenedetect.detectors import AdaptiveDetector, ContentDetector

    _use_fast_distance()

    if config.detector == "adaptive":
        kw = {} if config.threshold is None else {"adaptive_threshold": config.threshold}
        return AdaptiveDetector(min_scene_len=0, **kw)
    kw = {} if config.threshold is None else {"threshold": config.threshold}
    return ContentDetector(min_scene_len=0, **kw)


def _scaled_size(width: int, height: int) -> tuple[int, int]:
    if width <= DETECT_WIDTH or width <= 0:
        return max(2, width - width % 2), max(2, height - height % 2)
    h = max(2, round(height * DETECT_WIDTH / width / 2) * 2)
    return DETECT_WIDTH, h


def _frames(container: Any, stream: Any, counter: list[int]) -> Iterator[Any]:
    """Decoded frames of `stream` in presentation order; packets that fail are skipped."""
    import av

    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.FFmpegError:
            counter[0] += 1


def _small_frames(container: Any, stream: Any, counter: list[int]) -> Iterator[tuple[float, Any]]:
    """(presentation time in seconds, low-res BGR image) of every decoded frame."""
    tb, rate = stream.time_base, _rate(stream)
    last: float | None = None
    for frame in _frames(container, stream, counter):
        pts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
        nominal = 0.0 if last is None else last + 1 / rate  # for a frame without timestamp
        t = float(pts * tb) if pts is not None and tb else nominal
        w, h = _scaled_size(frame.width, frame.height)
        yield t, frame.to_ndarray(format="bgr24", width=w, height=h)
        last = t


def prefetch(items: Iterator[T], depth: int = 8) -> Iterator[T]:
    """`items` produced by a worker thread, at most `depth` ahead: decoding (PyAV, which releases
    the GIL) overlaps the detector's work (OpenCV/numpy) instead of adding to it. The worker is
    stopped and joined when the consumer stops, also on an exception."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x: object) -> None:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.05)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            for x in items:
                put(("item", x))
                if stop.is_set():
                    return
            put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            put(("error", exc))

    thread = threading.Thread(target=work, name="shots-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, x = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise x
            yield x
    finally:
        stop.set()
        thread.join()


def scan_times(
    path: str, detector: Any, stream_index: int | None = None,
) -> tuple[array, list[int], int, int]:
    """Decode `path` once, feeding low-res BGR frames to `detector`. Returns (time of every
    frame, then the end of the last frame; sorted positions of frames that start a new shot;
    the stream's index; packets that failed to decode)."""
    from scenedetect.common import FrameTimecode

    from any2capins.io.decode_pyav import open_container, pick_stream

    times: array = array("d")
    cuts: list[int] = []
    skipped = [0]
    with open_container(path, purpose="shots") as container:
        stream = pick_stream(container, stream_index)
        stream.thread_type = "AUTO"
        rate = _rate(stream)
        # closed explicitly: the decode thread must stop before the container closes
        with closing(prefetch(_small_frames(container, stream, skipped))) as frames:
            for t, img in frames:
                times.append(t)
                tc = FrameTimecode(len(times) - 1, rate)
                cuts.extend(c.frame_num for c in detector.process_frame(tc, img))
        if not times:
            raise DecodeError("shot detection decoded no frames")
        last = FrameTimecode(len(times) - 1, rate)
        cuts.extend(c.frame_num for c in detector.post_process(last))
        index = stream.index
    times.append(times[-1] + _last_duration(times, rate))
    return times, sorted({c for c in cuts if 0 < c < len(times) - 1}), index, skipped[0]


def _rate(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 25.0


def _last_duration(times: array, rate: float) -> float:
    if len(times) >= 2 and times[-1] > times[-2]:
        return times[-1] - times[-2]
    return 1 / rate


def detect_shots(path: str, config: ShotsConfig, stream_index: int | None = None) -> ShotScan:
    """Shots of the video at `path` (see the module docstring for the contract)."""
    times, cuts, index, skipped = scan_times(path, _make_detector(config), stream_index)
    n = len(times) - 1
    bounds = [0, *cuts, n]
    raw = [_shot(times, a, b) for a, b in itertools.pairwise(bounds)]
    kept, dropped = raw, []
    if len(raw) > 1:
        kept = [s for s in raw if s.duration_s >= config.min_len_s]
        dropped = [s for s in raw if s.duration_s < config.min_len_s]
    if config.max_len_s is not None:
        kept = [p for s in kept for p in split_shot(times, s, config.max_len_s)]
    return ShotScan(shots=kept, dropped=dropped, cuts=len(cuts), frames=n, stream_index=index,
                    skipped_packets=skipped)


def boundary(times: array, i: int) -> float:
    """Span boundary before frame `i` (`times`: every frame's time, then the end): `EDGE_S`
    before the frame (half the gap to the previous frame when frames are closer), not below 0;
    the end as is."""
    n = len(times) - 1
    if i >= n:
        return round(times[n], 6)
    gap = times[i] - times[i - 1] if i > 0 else (times[1] - times[0] if n > 1 else EDGE_S * 2)
    return round(max(0.0, times[i] - min(EDGE_S, gap / 2)), 6)


def _shot(times: array, a: int, b: int) -> Shot:
    return Shot(a, b, boundary(times, a), boundary(times, b))


def split_shot(times: array, shot: Shot, max_len_s: float) -> list[Shot]:
    """`shot` split into the fewest equal-time pieces no longer than `max_len_s`, each boundary
    before the first frame at or after its target time (`times`: every frame's time + end)."""
    pieces = math.ceil(shot.duration_s / max_len_s - 1e-9)
    if pieces <= 1:
        return [shot]
    bounds = [shot.start_frame]
    for k in range(1, pieces):
        target = shot.start_s + k * shot.duration_s / pieces
        i = bisect.bisect_left(times, target, shot.start_frame, shot.end_frame)
        if bounds[-1] < i < shot.end_frame:
            bounds.append(i)
    bounds.append(shot.end_frame)
    return [_shot(times, a, b) for a, b in itertools.pairwise(bounds)]
