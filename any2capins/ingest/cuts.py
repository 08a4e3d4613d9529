"""Dense detector cuts, re-examined (see the `ingest.shots` module doc and docs/ingest.md).

A detector cut beside a piece shorter than `min_len_s` is checked against what `CutEvidence`
measured while the video streamed past: a cut a global shift explains (a camera pan/tilt) is
dropped; one that does not stand out `STAND_OUT_RATIO` x from its surroundings (zoom, rotation,
strobe light) is dropped; a run of cuts at most `TRANSITION_FRAMES` apart is one event, a flash
(no boundary) when the frames around it match, else one transition (one boundary). Cuts with no
short piece beside them are never changed.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import statistics
from array import array
from dataclasses import dataclass
from typing import Any

from any2capins.ingest.spans import shot_between

# dense cuts (module doc): the measured figures behind these are in docs/ingest.md
MOTION_THRESHOLD = 27.0  # ContentDetector's default; the adaptive detector's own is a ratio
TRANSITION_FRAMES = 2  # cuts this close (a 1-2 frame flash, dissolve steps) are one event
TRANSITION_SPAN = 4  # ... if the run spans at most this many frames; longer is no one event
MIN_OVERLAP = 0.25  # a shift must leave this much of the frame to compare
STAND_OUT_RATIO = 2.0  # a cut beside a short piece must score this much above its surroundings:
SURROUND_S = 1.0  # the frames within this time (at least 2 frames) each side


def _l1_mean(left: Any, right: Any) -> float:
    """Mean |left - right| of two 8-bit planes: PySceneDetect's `_mean_pixel_distance`, same
    value (OpenCV sums the integer differences exactly), without its int32 temporaries."""
    import cv2

    return cv2.norm(left, right, cv2.NORM_L1) / float(left.shape[0] * left.shape[1])

@dataclass(frozen=True)
class Cut:
    """One detector cut and what was measured at it (content-score units, 0-255)."""

    frame: int
    score: float  # the detector's content score: this frame against the previous one
    still: float  # the same after undoing the best global shift (camera pan/tilt); <= score
    run_start: int  # first cut of its run of near-adjacent unexplained cuts (itself if none)
    bridge: float  # frame before the run against this frame, shift undone; inf if not measured


class CutEvidence:
    """Measures, while the video streams past, what `resolve_cuts` needs: every frame's
    content score (one float per frame) and, for each detector cut, the shift-compensated
    score and the bridge over its run. Holds the HSV planes of the last few frames (the
    detector's own, no copy) plus one anchor frame, so memory stays flat."""

    def __init__(self, threshold: float, lag: int) -> None:
        self.threshold = threshold
        self.scores: array = array("f")
        self.cuts: dict[int, Cut] = {}
        self._ring: dict[int, tuple[Any, ...]] = {}
        self._keep = lag + 2  # a cut reported `lag` frames late still finds its previous frame
        self._run: tuple[int, int, tuple[Any, ...] | None] | None = None  # (start, last, anchor)

    def add_frame(self, detector: Any, img: Any) -> None:
        index = len(self.scores)
        self.scores.append(float(getattr(detector, "_frame_score", None) or 0.0))
        self._ring[index] = _planes(detector, img)
        self._ring.pop(index - self._keep, None)

    def add_cut(self, c: int) -> None:
        prev, cur = self._ring.get(c - 1), self._ring.get(c)
        score = self.scores[c] if c < len(self.scores) else math.inf
        if prev is None or cur is None:
            self.cuts[c] = Cut(c, score, score, c, math.inf)
            return
        still = min(score, aligned_distance(prev, cur))
        if still < self.threshold:  # camera motion: not part of a transition run
            self.cuts[c] = Cut(c, score, still, c, math.inf)
            return
        if self._run is not None and c - self._run[1] <= TRANSITION_FRAMES:
            start, _, anchor = self._run
            bridge = math.inf if anchor is None else aligned_distance(anchor, cur)
        else:
            start, anchor, bridge = c, prev, math.inf
        self._run = (start, c, anchor)
        self.cuts[c] = Cut(c, score, still, start, bridge)


def _planes(detector: Any, img: Any) -> tuple[Any, ...]:
    """(hue, sat, lum) of the frame just given to `detector`: the planes ContentDetector keeps
    for its next comparison, or computed here if a future version stops keeping them."""
    last = getattr(detector, "_last_frame", None)
    if last is not None and hasattr(last, "lum"):
        return last.hue, last.sat, last.lum
    import cv2

    return tuple(cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV)))


@functools.lru_cache(maxsize=8)
def _window(width: int, height: int) -> Any:
    import cv2

    return cv2.createHanningWindow((width, height), cv2.CV_32F)


def aligned_distance(prev: tuple[Any, ...], cur: tuple[Any, ...]) -> float:
    """Content score (mean L1 distance of the H, S, V planes) of `cur` against `prev`, the
    smaller of: as is, and after shifting by the global translation that phase correlation of
    the luma planes (at half size, ~0.6 ms) finds. A pan or tilt, however fast, is explained
    by a shift; two different shots are not, whatever the shift. A shift that leaves less
    than `MIN_OVERLAP` of the frame is not tried."""
    import cv2

    plain = sum(_l1_mean(a, b) for a, b in zip(prev, cur, strict=True)) / 3
    h, w = prev[2].shape
    if w < 16 or h < 16:
        return plain
    size = (w // 2, h // 2)
    a, b = (cv2.resize(p[2], size, interpolation=cv2.INTER_AREA).astype("float32")
            for p in (prev, cur))
    (dx, dy), _ = cv2.phaseCorrelate(a, b, _window(*size))
    ix, iy = round(dx * w / size[0]), round(dy * h / size[1])
    ow, oh = w - abs(ix), h - abs(iy)
    if ow <= 0 or oh <= 0 or ow * oh < MIN_OVERLAP * w * h:
        return plain
    xa, ya = max(0, -ix), max(0, -iy)  # cur at (x + ix, y + iy) shows prev at (x, y)
    shifted = sum(_l1_mean(p[ya : ya + oh, xa : xa + ow], q[ya + iy : ya + iy + oh,
                                                             xa + ix : xa + ix + ow])
                  for p, q in zip(prev, cur, strict=True)) / 3
    return min(plain, shifted)


@dataclass
class Resolution:
    """What `resolve_cuts` did: detector cuts removed as camera motion or as not standing out
    from their surroundings, runs of cuts read as a flash (no boundary) or as one transition
    (one boundary)."""

    motion: int = 0
    weak: int = 0
    flashes: int = 0
    transitions: int = 0

    def note(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (self.motion, "cut(s) explained by camera motion"),
            (self.weak, "cut(s) not standing out from constant change"),
            (self.flashes, "flash(es) kept inside their shot"),
            (self.transitions, "multi-frame transition(s) as one cut")) if n]
        return ", ".join(parts)


def resolve_cuts(times: array, evidence: CutEvidence, cuts: list[int],
                 min_len_s: float) -> tuple[list[int], Resolution]:
    """The detector's `cuts` with those that would shred the video resolved (module doc,
    "Dense cuts"). Only a cut beside a piece shorter than `min_len_s` (the video's ends count)
    is examined; it stays if (A) no global shift explains it (else camera motion) and (B) it
    stands out `STAND_OUT_RATIO` x above the frames around it (else the detector fires on
    zoom, rotation or light everywhere there). Then (C) each run of the remaining cuts at most
    `TRANSITION_FRAMES` apart is one event: a flash when the frames around it match (no
    boundary), else one transition (its strongest cut). A cut with no short piece beside it
    is never touched, so ordinary edits stay exact."""
    res = Resolution()
    info = {c: evidence.cuts.get(c) or Cut(c, math.inf, math.inf, c, math.inf) for c in cuts}
    bounds = [0, *cuts, len(times) - 1]
    kept = []
    for k, c in enumerate(cuts, start=1):
        if not (_short(times, bounds[k - 1], c, min_len_s)
                or _short(times, c, bounds[k + 1], min_len_s)):
            kept.append(c)
        elif info[c].still < evidence.threshold:
            res.motion += 1
        elif not _stands_out(times, evidence.scores, info, c):
            res.weak += 1
        else:
            kept.append(c)
    kept, res.flashes, res.transitions = _merge_runs(times, info, kept, min_len_s,
                                                     evidence.threshold)
    return kept, res


def _short(times: array, a: int, b: int, min_len_s: float) -> bool:
    return shot_between(times, a, b).duration_s < min_len_s


def _stands_out(times: array, scores: array, info: dict[int, Cut], c: int) -> bool:
    """Whether cut `c`'s evidence (its score, shift-compensated where measured) is at least
    `STAND_OUT_RATIO` x the median evidence of the frames within `SURROUND_S` (at least 2
    frames) each side: an edit stands out from motion or flicker that hits every frame."""
    def evidence(j: int) -> float:
        return info[j].still if j in info else float(scores[j])

    n = len(times) - 1
    lo = min(c - 2, bisect.bisect_left(times, times[c] - SURROUND_S, 0, n))
    hi = max(c + 3, bisect.bisect_right(times, times[c] + SURROUND_S, 0, n))
    around = [evidence(j) for j in range(max(1, lo), min(n, hi)) if j != c]
    return not around or evidence(c) >= STAND_OUT_RATIO * statistics.median(around)


def _merge_runs(times: array, info: dict[int, Cut], cuts: list[int], min_len_s: float,
                threshold: float) -> tuple[list[int], int, int]:
    """(C) Each run of near-adjacent cuts, spanning at most `TRANSITION_SPAN` frames, whose
    pieces are all short: none of its cuts when the frame before it matches the frame after it
    (a flash: the shot goes on), else only its strongest cut (a dissolve, a flash across a
    cut: one boundary). A longer run is no single event and stays as it is. Returns (cuts,
    flashes, transitions)."""
    runs: dict[int, list[int]] = {}
    for c in cuts:
        runs.setdefault(info[c].run_start, []).append(c)
    out, flashes, transitions = [], 0, 0
    for run in runs.values():
        if len(run) < 2 or run[-1] - run[0] > TRANSITION_SPAN or not all(
                _short(times, a, b, min_len_s) for a, b in itertools.pairwise(run)):
            out.extend(run)
        elif info[run[-1]].bridge < threshold:
            flashes += 1
        else:
            transitions += 1
            out.append(max(run, key=lambda c: info[c].still))
    return sorted(out), flashes, transitions
