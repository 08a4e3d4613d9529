"""Frame-sampling settings shared by every stage that reads frames."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from any2capins.config.base import StrictModel


class SamplingConfig(StrictModel):
    """How frames are sampled from a clip: by target fps or by count, with a resolution cap."""

    fps: float | None = Field(None, gt=0, description="Target frames per second.")
    count: int | None = Field(8, ge=1, description="Number of frames spread evenly over the clip.")
    max_frames: int = Field(64, ge=1, description="Upper bound on frames from one clip.")
    max_side: int | None = Field(
        512, ge=16, description="Longest side of decoded frames in pixels; None keeps full size."
    )

    backend: Literal["decord", "pyav"] = Field(
        "pyav", description="Frame decoder: 'pyav' (one forward pass with frame threads and "
        "keyframe seeks; faster in bench/decode.py) or 'decord' (get_batch); same pixels."
    )
    threads: int = Field(0, ge=0, description="Decoder threads for decord (0 = automatic).")

    @model_validator(mode="after")
    def _one_rule(self) -> SamplingConfig:
        if self.fps is None and self.count is None:
            raise ValueError("set either 'fps' or 'count'")
        return self
