"""Pose backends behind one interface: keypoints [N, K, 3] (x, y, score) for person boxes.

- `dwpose` (default): DWPose's whole-body ONNX model (133 keypoints) on ONNX Runtime
  (`conditions/dwpose.py`); any RTMPose-style SimCC ONNX model works the same way.
- `vitpose`: `VitPoseForPoseEstimation` + its image processor (transformers).
- `mmpose`: RTMPose / DWPose through `mmpose.apis` (optional extra: `make install-mmpose`).

All take uint8 RGB frames and xyxy boxes in the pixels of those frames and return keypoints in
the same pixels, so the pose stage and its output schema do not depend on the backend. Each
names its keypoints (`keypoint_names`) and their layout (`keypoint_layout`: 'coco17',
'coco_wholebody133' or 'custom', see `any2capins.models.skeleton`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from any2capins.conditions.common import load_pretrained
from any2capins.config.pose import PoseConfig
from any2capins.errors import ConfigError
from any2capins.models.skeleton import LAYOUTS, layout_name


class PoseBackend(Protocol):
    name: str
    model_ref: str
    keypoint_names: list[str]
    keypoint_layout: str

    def load(self) -> None: ...

    def estimate(self, frames: np.ndarray, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per frame t, keypoints [len(boxes[t]), K, 3] for the xyxy boxes of that frame."""
        ...


class DWPoseBackend:
    """DWPose / RTMPose ONNX models: `pose.dwpose.model` (+ `file`). Keypoint names come from
    the model's keypoint count: 133 is COCO-WholeBody, 17 COCO; other counts are refused."""

    name = "dwpose"

    def __init__(self, config: PoseConfig, device: str, dtype: Any) -> None:
        self.config = config.dwpose
        self.model_ref = self.config.model
        self.device = device
        self.threads = config.resources.torch_threads
        self.keypoint_names: list[str] = []
        self.keypoint_layout = ""
        self.model: Any = None

    def load(self) -> None:
        from any2capins.conditions.dwpose import SimCCPoseModel, resolve_onnx

        setting = "pose.dwpose.model"
        path = resolve_onnx(self.config.model, self.config.file, setting)
        self.model = SimCCPoseModel(path, self.device, self.threads, setting)
        by_count = {len(lay.names): lay for lay in LAYOUTS.values()}
        layout = by_count.get(self.model.num_keypoints)
        if layout is None:
            raise ConfigError(f"{setting}: {path.name} predicts {self.model.num_keypoints} "
                              f"keypoints; expected one of {sorted(by_count)} "
                              f"({', '.join(LAYOUTS)})")
        self.keypoint_names = list(layout.names)
        self.keypoint_layout = layout.name

    def estimate(self, frames: np.ndarray, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        jobs = [(t, box) for t, b in enumerate(boxes) for box in b]
        kps = self.model(frames, jobs, self.config.box_batch)
        out, start = [], 0
        for b in boxes:
            out.append(kps[start:start + len(b)])
            start += len(b)
        return out


class VitPoseBackend:
    name = "vitpose"

    def __init__(self, config: PoseConfig, device: str, dtype: Any) -> None:
        self.config = config.vitpose
        self.model_ref = self.config.model
        self.device, self.dtype = device, dtype
        self.keypoint_names: list[str] = []
        self.keypoint_layout = ""
        self.model: Any = None
        self.processor: Any = None

    def load(self) -> None:
        from transformers import AutoImageProcessor, VitPoseForPoseEstimation

        setting = "pose.vitpose.model"
        self.processor = load_pretrained(AutoImageProcessor, self.model_ref, setting)
        model = load_pretrained(VitPoseForPoseEstimation, self.model_ref, setting)
        self.model = model.to(self.device, dtype=self.dtype).eval()
        labels = model.config.id2label
        self.keypoint_names = [str(labels[i]) for i in sorted(int(k) for k in labels)]
        self.keypoint_layout = layout_name(self.keypoint_names)

    def estimate(self, frames: np.ndarray, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        k = len(self.keypoint_names)
        out = [np.zeros((len(b), k, 3), np.float32) for b in boxes]
        jobs = [(t, i) for t, b in enumerate(boxes) for i in range(len(b))]
        for start in range(0, len(jobs), self.config.box_batch):
            part = jobs[start : start + self.config.box_batch]
            for (t, i), kp in zip(part, self._run(frames, boxes, part), strict=True):
                out[t][i] = kp
        return out

    def _run(self, frames: np.ndarray, boxes: Sequence[np.ndarray],
             part: list[tuple[int, int]]) -> list[np.ndarray]:
        import torch

        by_frame: dict[int, list[list[float]]] = {}
        for t, i in part:
            x1, y1, x2, y2 = (float(v) for v in boxes[t][i])
            by_frame.setdefault(t, []).append([x1, y1, x2 - x1, y2 - y1])  # COCO xywh
        order = list(by_frame)
        xywh = [by_frame[t] for t in order]
        inputs = self.processor(images=[frames[t] for t in order], boxes=xywh, return_tensors="pt")
        with torch.inference_mode():
            raw = self.model(pixel_values=inputs["pixel_values"].to(self.device, dtype=self.dtype))
        raw.heatmaps = raw.heatmaps.float().cpu()
        results = self.processor.post_process_pose_estimation(raw, boxes=xywh)
        kps = []
        for per_frame in results:
            for person in per_frame:
                xy = person["keypoints"].float().numpy().reshape(-1, 2)
                sc = person["scores"].float().numpy().reshape(-1, 1)
                kps.append(np.concatenate([xy, sc], axis=1).astype(np.float32))
        return kps


class MMPoseBackend:
    name = "mmpose"

    def __init__(self, config: PoseConfig, device: str, dtype: Any) -> None:
        self.config = config.mmpose
        self.model_ref = self.config.checkpoint or self.config.config or ""
        self.device = device
        self.keypoint_names: list[str] = []
        self.keypoint_layout = ""
        self.model: Any = None

    def load(self) -> None:
        if not self.config.config:
            raise ConfigError("pose.mmpose.config: required when pose.backend is 'mmpose'")
        try:
            from any2capins.conditions.mmpose_compat import init_pose_model
        except ImportError as exc:
            raise ConfigError(f"pose.backend=mmpose: mmpose is not installed ({exc}); run "
                              "`make install-mmpose` or set pose.backend=vitpose") from None
        try:
            self.model = init_pose_model(self.config.config, self.config.checkpoint, self.device)
        except Exception as exc:  # noqa: BLE001 - config/checkpoint problems name the setting
            raise ConfigError(f"pose.mmpose.config={self.config.config!r} / checkpoint="
                              f"{self.config.checkpoint!r}: cannot load: {exc}") from None
        names = self.model.dataset_meta.get("keypoint_id2name", {})
        self.keypoint_names = [str(names[i]) for i in sorted(names)]
        self.keypoint_layout = layout_name(self.keypoint_names)

    def estimate(self, frames: np.ndarray, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        from any2capins.conditions.mmpose_compat import inference_topdown

        out = []
        k = len(self.keypoint_names)
        for frame, b in zip(frames, boxes, strict=True):
            if len(b) == 0:
                out.append(np.zeros((0, k, 3), np.float32))
                continue
            bgr = np.ascontiguousarray(frame[..., ::-1])
            samples = inference_topdown(self.model, bgr, np.asarray(b, np.float32))
            rows = []
            for s in samples:
                xy = np.asarray(s.pred_instances.keypoints, np.float32).reshape(-1, 2)
                sc = np.asarray(s.pred_instances.keypoint_scores, np.float32).reshape(-1, 1)
                rows.append(np.concatenate([xy, sc], axis=1))
            out.append(np.stack(rows).astype(np.float32))
        return out


def make_backend(config: PoseConfig, device: str, dtype: Any) -> PoseBackend:
    backends = {"dwpose": DWPoseBackend, "vitpose": VitPoseBackend, "mmpose": MMPoseBackend}
    return backends[config.backend](config, device, dtype)
