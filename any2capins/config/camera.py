"""Settings of the camera stage (pycolmap SfM + motion description) and of contact sheets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from any2capins.config.base import StageResources, StrictModel


class MotionConfig(StrictModel):
    """How a trajectory becomes labelled segments. Rates are "image-equivalent" degrees per
    second: rotations as they are, translations as the angle they sweep at the scene's median
    depth (lateral: atan(v); dolly: half of that, as it only moves the image edges)."""

    static_rate: float = Field(
        0.8, gt=0, description="Below this rate (deg/s) a step counts as no motion.")
    slow_rate: float = Field(6.0, gt=0, description="Up to this rate (deg/s) motion is 'slow'.")
    fast_rate: float = Field(
        18.0, gt=0, description="From this rate (deg/s) motion is 'fast'; between: 'moderate'.")
    shake_rate: float = Field(
        4.0, gt=0, description="Mean jitter (deg/s, motion minus its smoothed version) from which "
        "a segment is 'handheld shake' (no net motion) or gets shake as a secondary label.")
    orbit_ratio: float = Field(
        0.5, ge=0, description="Truck plus opposite pan is 'orbit' when the weaker of the two "
        "is at least this share of the stronger.")
    secondary_share: float = Field(
        0.5, gt=0, le=1, description="A component at least this share of the dominant one is "
        "listed as a secondary motion of the segment.")
    smooth_s: float = Field(
        0.5, ge=0, description="Window (s) of the moving average applied before labelling.")
    min_segment_s: float = Field(
        0.5, ge=0, description="Segments shorter than this are merged into a neighbour.")

    @model_validator(mode="after")
    def _ordered(self) -> MotionConfig:
        if not self.static_rate < self.slow_rate < self.fast_rate:
            raise ValueError("need static_rate < slow_rate < fast_rate")
        return self


class CameraConfig(StrictModel):
    """Camera extrinsics by pycolmap structure-from-motion on sampled, downscaled frames."""

    resources: StageResources = Field(
        default_factory=lambda: StageResources(batch_size=1),
        description="Workers and CPUs; one clip per batch (SfM is CPU-bound).")
    count: int = Field(16, ge=2, description="Frames sampled evenly over the clip for SfM.")
    fps: float | None = Field(
        None, gt=0, description="Sample at this rate instead of `count` (capped by max_frames).")
    max_frames: int = Field(48, ge=2, description="Upper bound on frames per clip.")
    max_side: int = Field(
        320, ge=64, description="Longest side (px) of the frames SfM sees; intrinsics are "
        "reported in pixels of the clip's full resolution.")
    camera_model: Literal["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL"] = Field(
        "SIMPLE_RADIAL", description="COLMAP camera model shared by all frames of a clip.")
    focal_prior: float = Field(
        1.2, gt=0, description="Initial focal length as a multiple of the longest side "
        "(COLMAP's default; also used by homography rotations when the focal cannot be found).")
    max_features: int = Field(2048, ge=64, description="SIFT features per frame.")
    overlap: int = Field(
        8, ge=1, description="Sequential matching: each frame is matched to this many next ones "
        "(with `quadratic`: to the frames 1, 2, 4, ... 2^(overlap-1) ahead).")
    quadratic: bool = Field(
        False, description="Quadratic sequential pairs (long baselines at few pairs) instead of "
        "the `overlap` nearest frames. Off: on the benchmark clip 16 frames x 8 neighbours "
        "gave lower and steadier rotation errors than the quadratic pairs, at the same time.")
    init_min_tri_angle: float = Field(
        2.0, gt=0, description="Least triangulation angle (deg) of the initial pair, which is "
        "the verified non-planar pair with the largest image motion (COLMAP's default, 16 deg, "
        "is rarely met by a video clip).")
    num_threads: int = Field(2, ge=1, description="Threads pycolmap may use per clip.")
    seed: int = Field(0, description="Random seed of the mapper (deterministic runs).")
    min_frames: int = Field(4, ge=2, description="Fewer sampled frames: status failed (too_short).")
    min_keypoints: int = Field(
        80, ge=8, description="Median SIFT keypoints per frame below this: failed (textureless).")
    static_motion: float = Field(
        0.006, gt=0, description="Static when, in 80% of the matched pairs, the `static_quantile` "
        "of the keypoint displacements is below this share of the longest side.")
    static_quantile: float = Field(
        0.3, gt=0, le=0.5, description="Quantile of the displacements the static test uses: "
        "low, so subjects moving through a fixed shot do not count as camera motion.")
    fallback_motion: float = Field(
        0.03, gt=0, description="When SfM fails on a clip whose background motion (see "
        "static_motion) is below this share of the longest side, fall back to homography "
        "rotations (status rotation_only, the reason says so) instead of failed.")
    planar_share: float = Field(
        0.75, gt=0, le=1, description="Rotation-only when at least this share of the verified "
        "frame pairs is PLANAR_OR_PANORAMIC/PANORAMIC (COLMAP's H-vs-F test).")
    min_registered: float = Field(
        0.6, gt=0, le=1, description="Share of frames SfM must register for status ok.")
    motion: MotionConfig = Field(default_factory=MotionConfig)

    @model_validator(mode="after")
    def _sampling(self) -> CameraConfig:
        if self.min_frames > self.max_frames:
            raise ValueError("min_frames must not exceed max_frames")
        return self


class SheetConfig(StrictModel):
    """Contact sheets: one PNG per clip for annotators (frames, depth, pose, camera, crops)."""

    during_extract: bool = Field(
        False, description="Write RUN_DIR/sheets/<clip_id>.png for every clip after extract.")
    frames: int = Field(6, ge=1, le=16, description="Frames shown per row.")
    thumb_height: int = Field(150, ge=32, description="Height (px) of one frame thumbnail.")
    dpi: int = Field(100, ge=50, description="Resolution of the PNG.")
