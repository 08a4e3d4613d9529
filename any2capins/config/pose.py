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


class DWPoseBackendConfig(StrictModel):
    """The `dwpose` pose backend (default): DWPose's whole-body ONNX model on ONNX Runtime."""

    model: str = Field("yzd-v/DWPose", description="Hub repository id, local folder or .onnx "
                       "file of a DWPose/RTMPose SimCC ONNX model (input [N, 3, H, W] RGB crops; "
                       "outputs simcc_x, simcc_y); 133 keypoints: COCO-WholeBody, 17: COCO. "
                       "Default: DWPose-l (RTMPose-l distilled, 384x288) as its authors "
                       "released it.")
    file: str = Field("dw-ll_ucoco_384.onnx", description="The ONNX file inside `model` when "
                      "it is a hub repository or a folder (a folder with one .onnx file may "
                      "hold it under any name).")
    box_batch: int = Field(8, ge=1, description="Person boxes per ONNX Runtime call (a model "
                           "exported with a fixed batch size runs at that size).")


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

    backend: Literal["dwpose", "vitpose", "mmpose"] = Field(
        "dwpose", description="'dwpose' (whole-body, 133 keypoints, ONNX Runtime), 'vitpose' "
        "(COCO-17, transformers) or 'mmpose' (any mmpose config; optional extra).")
    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU; "
                           "dwpose on cuda needs onnxruntime-gpu).")
    dtype: DType = Field("float32", description="Model dtype of the detector and vitpose "
                         "(dwpose runs its ONNX model's own precision).")
    sampling: SamplingConfig = Field(
        default_factory=lambda: stage_sampling(4.0, None, 48, 640),
        description="Frames sampled per clip and decode resolution cap.")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    person_label: str = Field("person", description="Detector label used as the person class.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    dwpose: DWPoseBackendConfig = Field(default_factory=DWPoseBackendConfig)
    vitpose: VitPoseBackendConfig = Field(default_factory=VitPoseBackendConfig)
    mmpose: MMPoseBackendConfig = Field(default_factory=MMPoseBackendConfig)
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))
