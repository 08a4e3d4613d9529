"""Building blocks shared by the condition stages' sections (config/depth.py, pose.py,
refs.py): device and dtype choices, per-stage frame sampling, the detector and the tracker.

Each stage section has its own frame sampling, device and resources, so one YAML can put depth
on a GPU and keep the rest on CPUs. Model settings accept a hub id or a local folder.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from any2capins.config.base import StrictModel
from any2capins.config.sampling import SamplingConfig

Device = Literal["cpu", "cuda"]
DType = Literal["float32", "float16", "bfloat16"]


def stage_sampling(
    fps: float | None, count: int | None, max_frames: int, max_side: int
) -> SamplingConfig:
    return SamplingConfig(fps=fps, count=count, max_frames=max_frames, max_side=max_side)


class DetectorConfig(StrictModel):
    """Object detector (transformers `AutoModelForObjectDetection`, RT-DETR by default)."""

    model: str = Field("PekingU/rtdetr_r50vd_coco_o365",
                       description="Hub id or local folder of an object-detection model.")
    threshold: float = Field(0.5, ge=0, le=1, description="Minimum detection score kept.")
    max_detections: int = Field(20, ge=1, description="Most detections kept per frame.")
    input_size: int | None = Field(
        640, ge=32, description="Square model input size; None keeps the processor's own.")
    frame_batch: int = Field(4, ge=1, description="Frames per forward pass.")


class TrackerConfig(StrictModel):
    """IoU + Hungarian tracker with constant-velocity prediction."""

    iou_threshold: float = Field(0.3, gt=0, le=1, description="Minimum IoU between a track's "
                                 "predicted box and a detection for a match.")
    max_missed: int = Field(2, ge=0, description="Sampled frames a track may miss and resume.")
    min_length: int = Field(2, ge=1, description="Tracks seen in fewer frames are dropped.")
