"""Settings of the pose stage (`conditions/pose/`): detector, tracker, pose backend."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.conditions import (
    DetectorConfig,
    Device,
    DType,
    TrackerConfig,
    stage_sampling,
)
from any2capins.config.sampling import SamplingConfig


class VitPoseBackendConfig(StrictModel):
    """The `vitpose` pose backend: transformers `VitPoseForPoseEstimation` on person boxes."""

    model: str = Field("usyd-community/vitpose-base-simple",
                       description="Hub id or local folder of a VitPoseForPoseEstimation model.")
    box_batch: int = Field(16, ge=1, description="Person boxes per forward pass.")


class MMPoseBackendConfig(StrictModel):
    """The `mmpose` pose backend (RTMPose / DWPose through mmpose.apis; `make install-mmpose`)."""

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
        default_factory=lambda: stage_sampling(4.0, None, 48, 640),
        description="Frames sampled per clip and decode resolution cap.")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    person_label: str = Field("person", description="Detector label used as the person class.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    vitpose: VitPoseBackendConfig = Field(default_factory=VitPoseBackendConfig)
    mmpose: MMPoseBackendConfig = Field(default_factory=MMPoseBackendConfig)
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))
