"""Settings of the depth stage (`conditions/depth/`)."""

from __future__ import annotations

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.conditions import Device, DType, stage_sampling
from any2capins.config.sampling import SamplingConfig


class DepthConfig(StrictModel):
    """Depth Anything (transformers `AutoModelForDepthEstimation` + its image processor)."""

    model: str = Field("depth-anything/Depth-Anything-V2-Small-hf",
                       description="Hub id or local folder of a depth-estimation model.")
    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU).")
    dtype: DType = Field("float32", description="Model weights/activations dtype.")
    sampling: SamplingConfig = Field(
        default_factory=lambda: stage_sampling(2.0, None, 32, 512),
        description="Frames sampled per clip (fps or count) and decode resolution cap.")
    input_size: int = Field(518, ge=14, description="Longest side of the model input in pixels "
                            "(rounded to a multiple of 14, aspect ratio kept).")
    store_max_side: int | None = Field(
        256, ge=8, description="Longest side of stored depth maps; None stores at frame size.")
    frame_batch: int = Field(4, ge=1, description="Frames per forward pass.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))
