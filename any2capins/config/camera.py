"""Settings of the camera stage (pycolmap SfM + motion description)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from any2capins.config.base import StageResources, StrictModel


class MotionConfig(StrictModel):
    """How a trajectory becomes a few phases and one sentence. Rates are "image-equivalent"
    degrees per second: rotations as they are, translations as the angle they sweep at the
    scene's median depth (lateral: atan(v); dolly and roll: half of that, as they only move the
    image edges). The rate series is split into at most `max_phases` phases (a split must
    explain `split_gain` of what remains unexplained, and every phase lasts `min_phase_share`
    of the clip), each phase named by its mean motion."""

    static_rate: float = Field(
        0.8, gt=0, description="A phase slower than this (deg/s) whose net motion sweeps "
        "less than drift_deg is static (or handheld shake when irregular).")
    slow_rate: float = Field(6.0, gt=0, description="Up to this rate (deg/s) motion is 'slow'.")
    fast_rate: float = Field(
        18.0, gt=0, description="From this rate (deg/s) motion is 'fast'; between: 'moderate'.")
    slight_deg: float = Field(
        5.0, ge=0, description="A phase whose net motion sweeps less than this (deg) is "
        "'slight', whatever its rate.")
    drift_deg: float = Field(
        1.0, ge=0, description="Least net sweep (deg) of a phase that moves: less is static, "
        "or shake when irregular; more, when irregular and slight, is handheld drift.")
    shake_rate: float = Field(
        4.0, gt=0, description="Irregularity (step-to-step wobble of the rates: RMS of their "
        "first differences over sqrt 2, deg/s) from which a phase is handheld whatever its "
        "net motion.")
    handheld_ratio: float = Field(
        1.0, gt=0, description="A phase is also handheld when its irregularity is above "
        "static_rate and at least this multiple of its net rate (it wobbles more than it "
        "goes).")
    orbit_ratio: float = Field(
        0.5, ge=0, description="Truck plus opposite pan is 'orbit' when the weaker of the two "
        "is at least this share of the stronger.")
    secondary_share: float = Field(
        0.5, gt=0, le=1, description="A component at least this share of the dominant one is "
        "named as the phase's secondary motion ('pans left while trucking left').")
    max_phases: int = Field(
        3, ge=1, le=6, description="Most phases (phrases) per clip.")
    min_phase_share: float = Field(
        0.25, gt=0, le=1, description="Least duration of a phase as a share of the clip.")
    min_segment_s: float = Field(
        0.5, ge=0, description="Least duration (s) of a phase, whatever the clip's length.")
    split_gain: float = Field(
        0.25, gt=0, lt=1, description="A further phase is accepted only when it removes at "
        "least this share of the remaining squared deviation of the rates from the phase "
        "means (noise and handheld jitter do not split a clip).")

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
    refine_distortion: Literal["final", "throughout"] = Field(
        "final", description="When the camera model's radial distortion is refined. 'final': "
        "held at zero while incremental mapping registers the frames, then refined with the "
        "focal length in one last global bundle adjustment (on 16 frames at 320 px the "
        "distortion term otherwise trades off against the focal early on: seed-dependent, "
        "biased focal and rotations, and more stalled models; see docs/camera.md). "
        "'throughout': COLMAP's default, refined in every adjustment. No effect on the "
        "PINHOLE models, which have none.")
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
        "gave lower rotation errors than the quadratic pairs (pycolmap's own pairing), which "
        "cost less CPU (see docs/camera.md).")
    init_min_tri_angle: float = Field(
        2.0, gt=0, description="Least triangulation angle (deg) of the initial pair, which is "
        "the verified non-planar pair with the largest image motion (COLMAP's default, 16 deg, "
        "is rarely met by a video clip).")
    num_threads: int = Field(
        2, ge=1, description="Threads pycolmap may use per clip for feature extraction and "
        "mapping. Matching always runs on one thread: threaded, COLMAP's matcher returns "
        "different matches run to run, and so different camera words.")
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
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="How the poses become the motion description.")

    @model_validator(mode="after")
    def _sampling(self) -> CameraConfig:
        if self.min_frames > self.max_frames:
            raise ValueError("min_frames must not exceed max_frames")
        return self
