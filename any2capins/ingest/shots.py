"""Shot detection: one streaming decode per video at low resolution, PySceneDetect's detectors.

Contract of `detect_shots(path, config)`:

- Frames are decoded once with PyAV from the video stream of the project's stream rule
  (`io.streams.pick_stream`, the one the frame sampler uses; the clip's `stream_index` when
  known), scaled by swscale to ~`DETECT_WIDTH` px wide and handed one by one to PySceneDetect's
  `ContentDetector` / `AdaptiveDetector`. No frame is kept (but the last few the detector
  holds, see Dense cuts): memory is flat in video length except for two numbers per frame (its
  time and its content score), 2.6 MB for a 2-hour film at 30 fps.
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
- Dense cuts (`dense_cuts="resolve"`, the default, when `min_len_s > 0`): a frame-difference
  detector also fires on fast motion at a low frame rate (a 6 fps pan scores ~40 at every
  frame, over the threshold of 27), on flashes (two cuts around a white frame) and on each
  step of a short dissolve, and every piece between such cuts would be dropped as too short:
  a whole video could vanish into ShotTooShort rows. So a cut beside a piece shorter than
  `min_len_s` (the video's ends count) is examined with what `CutEvidence` measured while the
  video streamed past: it is camera motion when the frame, compared with the previous one
  after undoing the global shift phase correlation finds, scores below the threshold (a pan:
  ~1; a cut: ~50-90, no shift explains it); it is constant change, not an edit, when it does
  not stand out `STAND_OUT_RATIO` x from the frames within `SURROUND_S` (zoom, rotation,
  strobe light, which no shift explains). What remains is grouped into runs of cuts at most
  `TRANSITION_FRAMES` apart (spanning at most `TRANSITION_SPAN`): a run whose surrounding
  frames match (shift undone) is a flash and leaves no boundary (its frames stay in the
  shot), any other is one transition, cut at its strongest frame. Cuts with no short piece
  beside them are the detector's, untouched, so hard cuts stay exact to the frame; a real
  short shot between two cuts is still dropped and recorded. The frame gaps are in frames on
  purpose (a flash or a dissolve step is one frame whatever the rate); lengths and
  surroundings are in seconds. `ShotScan.resolution` counts what was changed. The measuring
  and resolving live in `ingest.cuts`, the span arithmetic in `ingest.spans`.
- Speed: decoding runs in a worker thread (`prefetch`, a few frames ahead), so it overlaps the
  detector instead of adding to it, and the content score's plane distance uses cv2.norm (the
  same values as PySceneDetect's numpy code, about twice as fast); bench/shots.py compares the
  whole against a plain decode at the same size.
- Decoding goes through the project's packet loop (`io.packets`, the sampler's and the probe's
  error policy): a packet that fails to decode costs its frame, counted in `skipped_packets`
  with the decoder's words in `messages`; a demux error ends the scan there (noted). DecodeError
  (with those words) is raised only when no frame decodes at all. A frame without a timestamp
  is placed one period after the previous frame, by the frame-rate rule
  (`io.streams.frame_rate`).
"""

from __future__ import annotations

import itertools
import queue
import threading
from array import array
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from any2capins.config.ingest import ShotsConfig
from any2capins.errors import DecodeError
from any2capins.ingest.cuts import (
    MOTION_THRESHOLD,
    CutEvidence,
    Resolution,
    _l1_mean,
    resolve_cuts,
)
from any2capins.ingest.spans import Shot, shot_between, split_shot
from any2capins.io.packets import Notes, decoded
from any2capins.io.streams import frame_rate

T = TypeVar("T")
DETECT_WIDTH = 256  # PySceneDetect's own auto-downscale target width


@dataclass
class ShotScan:
    """What one detection pass found. `shots` are kept (after splitting), `dropped` too short."""

    shots: list[Shot]
    dropped: list[Shot] = field(default_factory=list)
    cuts: int = 0  # boundaries after resolving dense cuts
    frames: int = 0
    stream_index: int = 0
    skipped_packets: int = 0
    messages: list[str] = field(default_factory=list)  # the decoder's words, deduplicated
    detector_cuts: int = 0  # what the detector reported
    resolution: Resolution | None = None  # None: dense cuts were not resolved

    @property
    def note(self) -> str:
        """One line on what resolving dense cuts changed ('' when nothing), for logs."""
        if self.resolution is None or not self.resolution.note():
            return ""
        return (f"{self.detector_cuts} detector cut(s) -> {self.cuts}: "
                f"{self.resolution.note()}")


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


def _small_frames(container: Any, stream: Any, notes: Notes) -> Iterator[tuple[float, Any]]:
    """(presentation time in seconds, low-res BGR image) of every decoded frame."""
    tb, rate = stream.time_base, frame_rate(stream)
    last: float | None = None
    size: tuple[int, int] | None = None  # of the first frame: the detector compares frames of
    # one size, and a stream may change resolution mid-way (a splice: often a cut there too)
    for frame in decoded(container, stream, notes):
        pts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
        nominal = 0.0 if last is None else last + 1 / rate  # for a frame without timestamp
        t = float(pts * tb) if pts is not None and tb else nominal
        size = size or _scaled_size(frame.width, frame.height)
        yield t, frame.to_ndarray(format="bgr24", width=size[0], height=size[1])
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


@dataclass
class _Scan:
    """What `scan_times` read: the time of every frame, then the end of the last frame; the
    sorted positions of frames that start a new shot; the stream's index; what went wrong."""

    times: array
    cuts: list[int]
    stream_index: int
    notes: Notes


def scan_times(
    path: str, detector: Any, stream_index: int | None = None,
    evidence: CutEvidence | None = None,
) -> _Scan:
    """Decode `path` once, feeding low-res BGR frames to `detector` (and, when given, to
    `evidence`, which measures each cut the detector reports). DecodeError (with the decoder's
    words) when no frame decodes."""
    from scenedetect.common import FrameTimecode

    from any2capins.io.streams import open_container, pick_stream

    times: array = array("d")
    cuts: list[int] = []
    notes = Notes()
    with open_container(path, purpose="shots") as container:
        stream = pick_stream(container, stream_index)
        stream.thread_type = "AUTO"
        rate = frame_rate(stream)
        # closed explicitly: the decode thread must stop before the container closes
        with closing(prefetch(_small_frames(container, stream, notes))) as frames:
            for t, img in frames:
                times.append(t)
                tc = FrameTimecode(len(times) - 1, rate)
                found = [c.frame_num for c in detector.process_frame(tc, img)]
                if evidence is not None:
                    evidence.add_frame(detector, img)
                    for c in found:
                        evidence.add_cut(c)
                cuts.extend(found)
        if not times:
            said = "; ".join(notes.lines()) or "no decoder message"
            raise DecodeError(f"shot detection decoded no frames: {said}")
        last = FrameTimecode(len(times) - 1, rate)
        cuts.extend(c.frame_num for c in detector.post_process(last))  # no evidence: kept
        index = stream.index
    times.append(times[-1] + _last_duration(times, rate))
    return _Scan(times, sorted({c for c in cuts if 0 < c < len(times) - 1}), index, notes)


def _last_duration(times: array, rate: float) -> float:
    if len(times) >= 2 and times[-1] > times[-2]:
        return times[-1] - times[-2]
    return 1 / rate


def detect_shots(path: str, config: ShotsConfig, stream_index: int | None = None) -> ShotScan:
    """Shots of the video at `path` (see the module docstring for the contract)."""
    detector = _make_detector(config)
    evidence = None
    if config.dense_cuts == "resolve" and config.min_len_s > 0:
        # the score below which two frames are one shot: the content detector's threshold;
        # the adaptive detector's is a ratio, so it gets ContentDetector's default
        threshold = MOTION_THRESHOLD
        if config.detector == "content" and config.threshold is not None:
            threshold = config.threshold
        evidence = CutEvidence(threshold, getattr(detector, "window_width", 0))
    scan = scan_times(path, detector, stream_index, evidence)
    times, found = scan.times, scan.cuts
    cuts, resolution = found, None
    if evidence is not None:
        cuts, resolution = resolve_cuts(times, evidence, found, config.min_len_s)
    n = len(times) - 1
    bounds = [0, *cuts, n]
    raw = [shot_between(times, a, b) for a, b in itertools.pairwise(bounds)]
    kept, dropped = raw, []
    if len(raw) > 1:
        kept = [s for s in raw if s.duration_s >= config.min_len_s]
        dropped = [s for s in raw if s.duration_s < config.min_len_s]
    if config.max_len_s is not None:
        kept = [p for s in kept for p in split_shot(times, s, config.max_len_s)]
    return ShotScan(shots=kept, dropped=dropped, cuts=len(cuts), frames=n,
                    stream_index=scan.stream_index, skipped_packets=scan.notes.failed_packets,
                    messages=scan.notes.lines(), detector_cuts=len(found),
                    resolution=resolution)
