"""Object detection through transformers (`AutoModelForObjectDetection`, RT-DETR by default),
shared by the pose stage (people) and the reference-crop stage (people and other classes).

One detector per worker process and settings (`shared_detector`): pose and refs running in
one worker hold the same instance. A clip's detections are computed once per worker for the
same frames and detector (`clip_detections`, through the runtime's per-clip scratch): every
class above the threshold, then each stage keeps its own classes and the `max_detections` best
(`select`). A stage gets the same boxes whether it runs alone or with the other.
`ANY2CAPINS_DETECT_LOG=<file>` appends "<pid> <clip_id> <frames>" per detection pass (tests
and benchmarks count passes with it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.conditions.common import load_pretrained
from any2capins.conditions.tracking import FrameDetections
from any2capins.config.conditions import DetectorConfig
from any2capins.errors import ConfigError


class Detector:
    """Loads once (`load`), then `detect(frames)` gives FrameDetections per frame, boxes in
    the pixels of the given frames. `keep` restricts the labels (names) kept."""

    def __init__(self, config: DetectorConfig, device: str, dtype: Any, setting: str) -> None:
        self.config = config
        self.device = device
        self.dtype = dtype
        self.setting = setting
        self.model: Any = None
        self.processor: Any = None
        self.id2label: dict[int, str] = {}

    def load(self) -> None:
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        self.processor = load_pretrained(AutoImageProcessor, self.config.model, self.setting)
        model = load_pretrained(AutoModelForObjectDetection, self.config.model, self.setting)
        self.model = model.to(self.device, dtype=self.dtype).eval()
        self.id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        self.detect(np.zeros((1, 240, 320, 3), np.uint8))  # warm-up: first-call costs at load

    def label_ids(self, names: Sequence[str], setting: str) -> list[int]:
        """Label ids of `names`; an unknown name is a start-up error naming `setting`."""
        by_name = {v: k for k, v in self.id2label.items()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ConfigError(f"{setting}: label(s) {missing} unknown to detector "
                              f"{self.config.model!r}")
        return [by_name[n] for n in names]

    def detect(
        self, frames: np.ndarray, keep: Sequence[int] | None = None
    ) -> list[FrameDetections]:
        """Detections per frame of uint8 RGB frames [T, H, W, 3], best first, at most
        `max_detections` per frame of the labels in `keep` (None: all), score >= `threshold`."""
        return [select(d, keep, self.config.max_detections) for d in self.detect_all(frames)]

    def detect_all(self, frames: np.ndarray) -> list[FrameDetections]:
        """Every detection of every class above the threshold, best first (`select` then
        keeps a stage's classes and count)."""
        import torch

        out: list[FrameDetections] = []
        h, w = frames.shape[1:3]
        size = self.config.input_size
        kwargs = {"size": {"height": size, "width": size}} if size else {}
        for start in range(0, len(frames), self.config.frame_batch):
            chunk = list(frames[start : start + self.config.frame_batch])
            inputs = self.processor(images=chunk, return_tensors="pt", **kwargs)
            pixels = inputs["pixel_values"].to(self.device, dtype=self.dtype)
            with torch.inference_mode():
                raw = self.model(pixel_values=pixels)
            results = self.processor.post_process_object_detection(
                raw, threshold=self.config.threshold, target_sizes=[(h, w)] * len(chunk))
            out.extend(_boxes(r, w, h) for r in results)
        return out


def _boxes(result: dict, w: int, h: int) -> FrameDetections:
    """A post-processed result as FrameDetections clipped to the frame, degenerate boxes out,
    best first (stable order)."""
    boxes = result["boxes"].float().cpu().numpy().reshape(-1, 4)
    scores = result["scores"].float().cpu().numpy().reshape(-1)
    labels = result["labels"].cpu().numpy().reshape(-1).astype(np.int64)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    mask = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    order = np.argsort(-scores[mask], kind="stable")
    return FrameDetections(boxes[mask][order].astype(np.float32),
                           scores[mask][order].astype(np.float32), labels[mask][order])


def select(det: FrameDetections, keep: Sequence[int] | None, limit: int) -> FrameDetections:
    """The `limit` best detections whose label is in `keep` (all labels when None)."""
    mask = np.ones(len(det.scores), bool) if keep is None else np.isin(det.labels, list(keep))
    idx = np.flatnonzero(mask)[:limit]  # detections are sorted best first
    return FrameDetections(det.boxes[idx], det.scores[idx], det.labels[idx])


_DETECTORS: dict[tuple[str, str, str], Detector] = {}


def shared_detector(config: DetectorConfig, device: str, dtype: Any, setting: str) -> Detector:
    """The process's loaded Detector for these settings (loaded on first use)."""
    key = (config.model_dump_json(), device, str(dtype))
    if key not in _DETECTORS:
        det = Detector(config, device, dtype, setting)
        det.load()
        _DETECTORS[key] = det
    return _DETECTORS[key]


def run_detector(detector: Detector, clip_id: str, frames: np.ndarray) -> list[FrameDetections]:
    """`detector.detect_all` on a clip's frames, logged to ANY2CAPINS_DETECT_LOG when set."""
    dets = detector.detect_all(frames)
    log = os.environ.get("ANY2CAPINS_DETECT_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {clip_id} {len(frames)}\n")
    return dets


def clip_detections(inputs: Any, detector: Detector, clip_id: str, frames: np.ndarray,
                    key: Any) -> list[FrameDetections]:
    """Every detection of the clip's frames, computed once per worker for `key` (the detector
    settings and the frame request: stages with equal keys see the same frames) and shared
    through the runtime's per-clip scratch. Callers `select` their own classes."""
    return inputs.shared(("detections", key), clip_id,
                         lambda: run_detector(detector, clip_id, frames))


def detection_key(detector: Any, device: str, dtype: str, request: Any) -> tuple[str, ...]:
    """The key under which two stages share a detector and its detections (equal settings,
    device, dtype and frames)."""
    return ("detector", detector.model_dump_json(), device, dtype, repr(request))
