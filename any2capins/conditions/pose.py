"""The pose stage: person boxes (detector), keypoints per box (pose backend), tracks.

Per clip: frames sampled with `pose.sampling`; persons detected in every frame; boxes linked
into tracks (`tracking.track`); keypoints estimated for the boxes of kept tracks only; then
everything scaled to display pixels and laid out per track as arrays over the clip's T sampled
frames (absent frames zero, `present` False). A clip with no people yields zero tracks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from any2capins.conditions.common import (
    ModelStageMixin,
    check_device,
    display_scale,
    torch_dtype,
)
from any2capins.conditions.detect import (
    Detector,
    clip_detections,
    detection_key,
    select,
    shared_detector,
)
from any2capins.conditions.pose_backends import PoseBackend, make_backend
from any2capins.conditions.tracking import FrameDetections, Track, track
from any2capins.config.pose import PoseConfig
from any2capins.errors import DecodeError
from any2capins.io.frames import FrameRequest
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import PoseRecord, PoseTrack
from any2capins.models.modelrefs import is_tiny
from any2capins.models.tables import folder
from any2capins.runtime.frames import frames_failure
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, Stage


def _r(x: float) -> float:
    return round(float(x), 3)


def build_track(
    tr: Track, dets: Sequence[FrameDetections], keypoints: dict[tuple[int, int], np.ndarray], *,
    n_frames: int, k: int, scale: tuple[float, float],
) -> PoseTrack:
    """A PoseTrack laid out over all `n_frames`, coordinates multiplied by `scale` (sx, sy)."""
    sx, sy = scale
    present = [False] * n_frames
    boxes = [[0.0] * 4 for _ in range(n_frames)]
    box_scores = [0.0] * n_frames
    kps = [[[0.0, 0.0, 0.0] for _ in range(k)] for _ in range(n_frames)]
    kp_scores = []
    for t, d in zip(tr.frames, tr.detections, strict=True):
        present[t] = True
        x1, y1, x2, y2 = dets[t].boxes[d]
        boxes[t] = [_r(x1 * sx), _r(y1 * sy), _r(x2 * sx), _r(y2 * sy)]
        box_scores[t] = _r(dets[t].scores[d])
        kp = keypoints[(t, d)].copy()
        # heatmap peaks (vitpose) and SimCC maxima (mmpose) are not bounded; store [0, 1]
        kp[:, 2] = np.clip(kp[:, 2], 0.0, 1.0)
        kps[t] = [[_r(x * sx), _r(y * sy), _r(s)] for x, y, s in kp]
        kp_scores.append(float(kp[:, 2].mean()) if len(kp) else 0.0)
    coverage = len(tr.frames) / max(n_frames, 1)
    mean_box = float(np.mean([box_scores[t] for t in tr.frames]))
    mean_kp = float(np.mean(kp_scores)) if kp_scores else 0.0
    return PoseTrack(track_id=tr.track_id, present=present, boxes=boxes, box_scores=box_scores,
                     keypoints=kps, coverage=_r(coverage), mean_box_score=_r(mean_box),
                     mean_keypoint_score=_r(mean_kp), quality=_r(coverage * mean_box * mean_kp))


class PoseStage(ModelStageMixin, Stage[ClipRecord, PoseRecord]):
    name = "pose"
    input_model = ClipRecord
    output_model = PoseRecord
    input_dir = folder("clips")
    output_dir = folder("conditions.pose")

    def __init__(self, config: PoseConfig) -> None:
        super().__init__(config.resources)
        self.config = config
        self.detector: Detector | None = None
        self.backend: PoseBackend | None = None

    def setup(self) -> None:
        """Load detector and pose backend once; bad settings fail here, naming the key."""
        cfg = self.config
        device = check_device(cfg.device, "pose.device")
        dtype = torch_dtype(cfg.dtype, cfg.device, "pose.dtype")
        self.detector = shared_detector(cfg.detector, device, dtype, "pose.detector.model")
        self.person_ids = self.detector.label_ids([cfg.person_label], "pose.person_label")
        self.backend = make_backend(cfg, device, dtype)
        self.backend.load()
        self.note_load(f"pose:{cfg.detector.model}+{self.backend.model_ref}")

    def frames(self) -> FrameRequest:
        return self.config.sampling.request()

    def fingerprint(self) -> dict[str, Any]:
        """The settings; the `dwpose` section only when it is the backend (it came later: a
        vitpose or mmpose run folder made before it keeps its fingerprint)."""
        out = super().fingerprint()
        if self.config.backend != "dwpose":
            out["config"] = {k: v for k, v in out["config"].items() if k != "dwpose"}
        return out

    def share_key(self) -> tuple[str, ...]:
        """Pose and refs with equal detector settings and frames share one worker, one
        detector and one detection pass per clip."""
        cfg = self.config
        return detection_key(cfg.detector, cfg.device, cfg.dtype, self.frames())

    def process_batch(self, batch: Sequence[ClipRecord],
                      inputs: Inputs) -> list[PoseRecord | Failure]:
        return [self._one(clip, inputs) for clip in batch]

    def _one(self, clip: ClipRecord, inputs: Inputs) -> PoseRecord | Failure:
        t0 = time.perf_counter()
        try:
            sampled, info = inputs.frames(clip.clip_id), inputs.decode_info(clip.clip_id)
        except DecodeError as exc:
            return frames_failure(exc)
        dets = clip_detections(inputs, self.detector, clip.clip_id, sampled.frames,
                               self.share_key())
        tracks, dets, kps = self.analyse(sampled.frames, dets)
        k = len(self.backend.keypoint_names)
        scale = display_scale(sampled)
        n = len(sampled.indices)
        models = [self.config.detector.model, self.backend.model_ref]
        return PoseRecord(
            clip_id=clip.clip_id, uri=clip.uri, model=self.backend.model_ref,
            tiny_model=any(is_tiny(m) for m in models), frame_indices=sampled.indices,
            timestamps=sampled.timestamps, seconds=round(time.perf_counter() - t0, 4),
            backend=self.backend.name, detector=self.config.detector.model,
            width=sampled.source_size[0], height=sampled.source_size[1],
            keypoint_names=list(self.backend.keypoint_names),
            keypoint_layout=self.backend.keypoint_layout,
            tracks=[build_track(tr, dets, kps, n_frames=n, k=k, scale=scale) for tr in tracks],
            **info,
        )

    def analyse(
        self, frames: np.ndarray, detections: Sequence[FrameDetections] | None = None,
    ) -> tuple[list[Track], list[FrameDetections], dict[tuple[int, int], np.ndarray]]:
        """Tracks, person detections and keypoints {(frame, detection): [K, 3]} in frame
        pixels; `detections` (any classes, `Detector.detect_all`) are computed here when not
        given."""
        if detections is None:
            detections = self.detector.detect_all(frames)
        limit = self.config.detector.max_detections
        dets = [select(d, self.person_ids, limit) for d in detections]
        tc = self.config.tracker
        tracks = track(dets, iou_threshold=tc.iou_threshold, max_missed=tc.max_missed,
                       min_length=tc.min_length)
        wanted = sorted((t, d) for tr in tracks for t, d in zip(tr.frames, tr.detections,
                                                                  strict=True))
        boxes = [np.zeros((0, 4), np.float32) for _ in range(len(frames))]
        slots: list[tuple[int, int]] = []
        for t, d in wanted:
            boxes[t] = np.vstack([boxes[t], dets[t].boxes[d][None]])
            slots.append((t, d))
        per_frame = self.backend.estimate(frames, boxes)
        counters = [0] * len(frames)
        kps: dict[tuple[int, int], np.ndarray] = {}
        for t, d in slots:
            kps[(t, d)] = per_frame[t][counters[t]]
            counters[t] += 1
        return tracks, dets, kps
