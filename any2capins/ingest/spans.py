"""Shot spans as frame ranges and times (see the `ingest.shots` module doc): a boundary sits
`EDGE_S` before a shot's first frame, so "frame time in [start_s, end_s)" selects exactly the
shot's frames whatever the float rounding of the bounds; spans tile the video."""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from dataclasses import dataclass

EDGE_S = 0.001  # span boundaries sit this far before a shot's first frame


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


def boundary(times: array, i: int) -> float:
    """Span boundary before frame `i` (`times`: every frame's time, then the end): `EDGE_S`
    before the frame (half the gap to the previous frame when frames are closer), not below 0;
    the end as is."""
    n = len(times) - 1
    if i >= n:
        return round(times[n], 6)
    gap = times[i] - times[i - 1] if i > 0 else (times[1] - times[0] if n > 1 else EDGE_S * 2)
    return round(max(0.0, times[i] - min(EDGE_S, gap / 2)), 6)


def shot_between(times: array, a: int, b: int) -> Shot:
    """Frames [a, b) as a shot with its time span (`times`: every frame's time, then the end)."""
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
    return [shot_between(times, a, b) for a, b in itertools.pairwise(bounds)]
