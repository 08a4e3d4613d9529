"""What an `InstanceDataset` loads, as a validated model (the keyword arguments of the dataset)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from any2capins.config.base import StrictModel
from any2capins.models.instances import canonical_set

FrameSource = Literal["depth", "pose", "camera"]


class LoaderOptions(StrictModel):
    """Options of `InstanceDataset` (and of the Hugging Face recipe, which shares its decoder)."""

    conditions: list[str] | None = Field(
        None, description="Condition types to decode (depth, pose, camera, identity); None: all. "
        "An instance keeps its full condition list; types left out are returned as None.")
    frames: FrameSource | None = Field(
        None, description="Also decode the clip's video frames at the timestamps of this "
        "condition ('depth', 'pose' or 'camera'); None: no frames.")
    size: tuple[int, int] | None = Field(
        None, description="(height, width) of every spatial output (depth, pose coordinates, "
        "pose images, Plücker rays, frames); None keeps each condition's stored size.")
    camera_size: tuple[int, int] | None = Field(
        None, description="(height, width) of the Plücker rays when `size` is None; None: the "
        "clip's display size scaled so its longest side is 256.")
    pose_image: bool = Field(
        False, description="Also render the pose tracks as skeleton images (uint8 [T,H,W,3]).")
    pose_min_score: float = Field(
        0.3, ge=0, le=1, description="Keypoints below this score are not drawn in pose images.")
    split: Literal["train", "test"] | None = Field(
        None, description="Only instances of this split; None: all.")
    condition_sets: list[str] | None = Field(
        None, description="Only instances whose set name is listed (e.g. 'depth+camera').")
    cache_shards: int = Field(
        8, ge=1, description="Parquet shards kept decoded in memory per worker process (LRU).")

    @field_validator("conditions")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(canonical_set(value))

    @field_validator("size", "camera_size")
    @classmethod
    def _positive(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"sizes are (height, width) in pixels, both >= 1; got {value}")
        return value

    def wants(self, ctype: str) -> bool:
        return self.conditions is None or ctype in self.conditions


DEFAULT_CAMERA_SIDE = 256

# The fields each condition contributes to an item (see InstanceDecoder; ConditionDropout
# clears them when it drops the condition).
CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    "depth": ("depth", "depth_timestamps"),
    "pose": ("pose", "pose_present", "pose_boxes", "pose_track_ids", "pose_timestamps",
             "pose_image"),
    "camera": ("camera_plucker", "camera_K", "camera_w2c", "camera_measured",
               "camera_pose_measured", "camera_timestamps", "camera_focal_source"),
    "identity": ("ref_images", "ref_stitched", "ref_masks"),
}
