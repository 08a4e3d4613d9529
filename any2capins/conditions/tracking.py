"""Tracking by detection: IoU + Hungarian matching with constant-velocity prediction.

A track is one subject over the sampled frames of a clip. At each frame every live track
predicts its box (last box plus its last per-frame velocity times the gap), detections are
assigned to predictions by the Hungarian method on 1 - IoU (only pairs of the same class and
with IoU >= `iou_threshold`), unmatched detections start new tracks, and a track missing more
than `max_missed` consecutive frames ends. The velocity term keeps identities through crossings
(two people passing each other); the gap tolerance keeps them through a missed detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FrameDetections:
    """Detections in one frame: boxes [N, 4] xyxy, scores [N], integer labels [N]."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> FrameDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class Track:
    """One tracked subject: `frames[i]` is the frame position of observation i and
    `detections[i]` the index of its detection in that frame."""

    track_id: int
    label: int
    frames: list[int] = field(default_factory=list)
    detections: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)

    def predict(self, t: int) -> np.ndarray:
        last = self.boxes[-1]
        if len(self.boxes) < 2:
            return last
        step = self.frames[-1] - self.frames[-2]
        velocity = (self.boxes[-1] - self.boxes[-2]) / max(step, 1)
        return last + velocity * (t - self.frames[-1])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes a [N, 4] and b [M, 4] -> [N, M]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    a = a.astype(np.float64)[:, None, :]
    b = b.astype(np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]).clip(0) * (a[..., 3] - a[..., 1]).clip(0)
    area_b = (b[..., 2] - b[..., 0]).clip(0) * (b[..., 3] - b[..., 1]).clip(0)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _assign(preds: np.ndarray, pred_labels: np.ndarray, det: FrameDetections,
            iou_threshold: float) -> list[tuple[int, int]]:
    """(prediction, detection) pairs chosen by the Hungarian method on 1 - IoU."""
    from scipy.optimize import linear_sum_assignment

    iou = iou_matrix(preds, det.boxes)
    iou[pred_labels[:, None] != det.labels[None, :]] = 0.0
    if iou.size == 0:
        return []
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= iou_threshold]


def track(frames: Sequence[FrameDetections], *, iou_threshold: float = 0.3,
          max_missed: int = 2, min_length: int = 1) -> list[Track]:
    """Tracks over a sequence of per-frame detections, ids renumbered 0.. by first appearance.
    Tracks seen in fewer than `min_length` frames are dropped."""
    live: list[Track] = []
    done: list[Track] = []
    next_id = 0
    for t, det in enumerate(frames):
        still = [tr for tr in live if t - tr.frames[-1] - 1 <= max_missed]
        done.extend(tr for tr in live if tr not in still)
        live = still
        preds = np.array([tr.predict(t) for tr in live]).reshape(-1, 4)
        labels = np.array([tr.label for tr in live], np.int64)
        matched: set[int] = set()
        for r, c in _assign(preds, labels, det, iou_threshold):
            live[r].frames.append(t)
            live[r].detections.append(c)
            live[r].boxes.append(det.boxes[c].astype(np.float64))
            matched.add(c)
        for c in range(len(det)):
            if c not in matched:
                live.append(Track(next_id, int(det.labels[c]), [t], [c],
                                  [det.boxes[c].astype(np.float64)]))
                next_id += 1
    kept = sorted((tr for tr in done + live if len(tr.frames) >= min_length),
                  key=lambda tr: (tr.frames[0], tr.track_id))
    for new_id, tr in enumerate(kept):
        tr.track_id = new_id
    return kept
