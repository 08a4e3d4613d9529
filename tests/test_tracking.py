"""Tracking on synthetic box sequences: crossings, missed frames, classes, IoU."""

from __future__ import annotations

import numpy as np
import pytest

from any2capins.conditions.tracking import FrameDetections, iou_matrix, track


def frame(boxes, labels=None, scores=None) -> FrameDetections:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(b)
    return FrameDetections(b, np.asarray(scores if scores is not None else [0.9] * n, np.float32),
                           np.asarray(labels if labels is not None else [0] * n, np.int64))


def person_at(x: float, y: float = 50.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h]


def identity_of(tracks, t: int, x1: float) -> int:
    """Track id whose box at frame t starts at x1."""
    for tr in tracks:
        for f, b in zip(tr.frames, tr.boxes, strict=True):
            if f == t and abs(b[0] - x1) < 1e-3:
                return tr.track_id
    raise AssertionError(f"no track at frame {t} x={x1}")


def crossing(n: int = 11, speed: float = 12.0, order_flip: bool = True) -> tuple[list, list]:
    """Person A walks right from x=0, person B walks left from x=120; they overlap mid-way.
    Detection order is shuffled every other frame so order cannot carry identity."""
    frames, truth = [], []
    for t in range(n):
        a, b = person_at(t * speed), person_at(126 - t * speed, y=58.0)
        dets = [b, a] if (order_flip and t % 2) else [a, b]
        frames.append(frame(dets))
        truth.append((a[0], b[0]))
    return frames, truth


def test_two_people_crossing_keep_their_ids():
    frames, truth = crossing()
    tracks = track(frames, iou_threshold=0.2, max_missed=1)
    assert len(tracks) == 2
    a0, b0 = identity_of(tracks, 0, truth[0][0]), identity_of(tracks, 0, truth[0][1])
    assert a0 != b0
    for t, (ax, bx) in enumerate(truth):
        assert identity_of(tracks, t, ax) == a0, f"identity switch at frame {t}"
        assert identity_of(tracks, t, bx) == b0


def test_missed_frame_during_crossing_does_not_switch_or_split():
    frames, truth = crossing()
    # person B is not detected at frames 4 and 5 (two misses, right where they overlap)
    for t in (4, 5):
        frames[t] = frame([person_at(truth[t][0])])  # only A
    tracks = track(frames, iou_threshold=0.2, max_missed=2)
    assert len(tracks) == 2
    b_id = identity_of(tracks, 0, truth[0][1])
    assert identity_of(tracks, 10, truth[10][1]) == b_id
    b_track = next(tr for tr in tracks if tr.track_id == b_id)
    assert b_track.frames == [0, 1, 2, 3, 6, 7, 8, 9, 10]


def test_gap_longer_than_max_missed_starts_a_new_track():
    frames = [frame([person_at(10)]) for _ in range(3)] + [frame([])] * 3
    frames += [frame([person_at(10)]) for _ in range(2)]
    assert len(track(frames, max_missed=2)) == 2
    assert len(track(frames, max_missed=3)) == 1


def test_classes_are_never_mixed_and_min_length_drops_flicker():
    frames = [frame([person_at(10), person_at(12)], labels=[0, 2]) for _ in range(4)]
    frames[2] = frame([person_at(10), person_at(12), person_at(300)], labels=[0, 2, 0])
    tracks = track(frames, min_length=2)
    assert sorted(tr.label for tr in tracks) == [0, 2]
    assert all(tr.frames == [0, 1, 2, 3] for tr in tracks)
    assert len(track(frames, min_length=1)) == 3


def test_ids_are_numbered_by_first_appearance():
    frames = [frame([]), frame([person_at(200)]), frame([person_at(200), person_at(0)])]
    tracks = track(frames)
    assert [(tr.track_id, tr.frames[0]) for tr in tracks] == [(0, 1), (1, 2)]


def test_iou_matrix_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == pytest.approx(1.0)
    assert m[0, 1] == pytest.approx(50 / 150)
    assert m[0, 2] == 0 and not m[1].any()
    assert iou_matrix(a[:0], b).shape == (0, 3)
