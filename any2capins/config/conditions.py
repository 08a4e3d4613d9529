"""Settings of the condition stages: depth, pose (detector + tracker + pose backend), refs.

Each stage section has its own frame sampling, device and resources, so one YAML can put depth
on a GPU and keep the rest on CPUs. Model settings accept a hub id or a local folder.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.sampling import SamplingConfig

Device = Literal["cpu", "cuda"]
DType = Literal["float32", "float16", "bfloat16"]


def _sampling(
    fps: float | None, count: int | None, max_frames: int, max_side: int
) -> SamplingConfig:
    return SamplingConfig(fps=fps, count=count, max_frames=max_frames, max_side=max_side)


class DepthConfig(StrictModel):
    """Depth Anything (transformers `AutoModelForDepthEstimation` + its image processor)."""

    model: str = Field("depth-anything/Depth-Anything-V2-Small-hf",
                       description="Hub id or local folder of a depth-estimation model.")
    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU).")
    dtype: DType = Field("float32", description="Model weights/activations dtype.")
    sampling: SamplingConfig = Field(
        default_factory=lambda: _sampling(2.0, None, 32, 512),
        description="Frames sampled per clip (fps or count) and decode resolution cap.")
    input_size: int = Field(518, ge=14, description="Longest side of the model input in pixels "
                            "(rounded to a multiple of 14, aspect ratio kept).")
    store_max_side: int | None = Field(
        256, ge=8, description="Longest side of stored depth maps; None stores at frame size.")
    frame_batch: int = Field(4, ge=1, description="Frames per forward pass.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))


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


class VitPoseBackendConfig(StrictModel):
    model: str = Field("usyd-community/vitpose-base-simple",
                       description="Hub id or local folder of a VitPoseForPoseEstimation model.")
    box_batch: int = Field(16, ge=1, description="Person boxes per forward pass.")


class MMPoseBackendConfig(StrictModel):
    config: str | None = Field(None, description="mmpose config file (.py), e.g. an RTMPose or "
                               "DWPose config; required when pose.backend is 'mmpose'.")
    checkpoint: str | None = Field(None, description="Checkpoint path or URL; None keeps the "
                                   "weights random (tests only).")


class PoseConfig(StrictModel):
    """Top-down human pose: person boxes, keypoints per box, tracks across frames."""

    backend: Literal["vitpose", "mmpose"] = Field(
        "vitpose", description="'vitpose' (transformers) or 'mmpose' (optional extra).")
    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU).")
    dtype: DType = Field("float32", description="Model dtype (detector and vitpose).")
    sampling: SamplingConfig = Field(
        default_factory=lambda: _sampling(4.0, None, 48, 640),
        description="Frames sampled per clip and decode resolution cap.")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    person_label: str = Field("person", description="Detector label used as the person class.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    vitpose: VitPoseBackendConfig = Field(default_factory=VitPoseBackendConfig)
    mmpose: MMPoseBackendConfig = Field(default_factory=MMPoseBackendConfig)
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))


class RefsConfig(StrictModel):
    """Reference crops: subjects detected and tracked, best crop per track, stitched image."""

    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU).")
    dtype: DType = Field("float32", description="Detector dtype.")
    sampling: SamplingConfig = Field(
        default_factory=lambda: _sampling(None, 8, 16, 768),
        description="Frames sampled per clip (crops come from these frames).")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    person_label: str = Field("person", description="Label ranked first (people first).")
    labels: list[str] | None = Field(
        None, description="Detector labels kept; None keeps every class the detector knows.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    margin: float = Field(0.1, ge=0, le=1, description="Crop margin, a fraction of box size.")
    min_box_frac: float = Field(0.01, ge=0, le=1,
                                description="Boxes below this fraction of the frame are ignored.")
    max_subjects: int = Field(3, ge=1, description="Best tracks kept (and stitched) per clip.")
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality of crops.")
    stitch_height: int = Field(256, ge=16, description="Height of the stitched image.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))
