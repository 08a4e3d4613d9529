"""Records of the camera stage: per-clip status, per-frame poses, motion description.

Conventions (COLMAP's): `cam_from_world` maps world points into the camera, x_cam = R x + t,
with x right, y down, z forward (looking direction). The world frame is the camera of the
first registered frame (normally the first sampled frame; its pose is [I | 0]).
Translation scale: the median depth of the reconstructed scene points seen from that frame is
1.0, so translations read as "fractions of the scene's depth"; rotation-only and static clips
have zero translation. Intrinsics: fitted by SfM (ok) or to the homographies (rotation_only);
for static clips the focal is the configured prior (focal_prior x longest side), not measured.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from any2capins.models.common import Record

CameraStatus = Literal["ok", "rotation_only", "static", "failed"]
MOTION_LABELS = (
    "static", "pan left", "pan right", "tilt up", "tilt down", "roll", "dolly in", "dolly out",
    "truck left", "truck right", "pedestal up", "pedestal down", "orbit", "handheld shake",
)


class CameraFrame(Record):
    """One sampled frame's camera."""

    frame_index: int = Field(description="Index of the frame in the clip (decode order).")
    timestamp: float = Field(description="Seconds from the start of the clip.")
    fx: float = Field(description="Focal length x, pixels of the clip's full resolution.")
    fy: float = Field(description="Focal length y, pixels of the clip's full resolution.")
    cx: float = Field(description="Principal point x, pixels of the clip's full resolution.")
    cy: float = Field(description="Principal point y, pixels of the clip's full resolution.")
    cam_from_world: list[float] = Field(
        description="3x4 world-to-camera matrix [R | t], row-major (12 numbers).")
    registered: bool = Field(
        description="False when SfM could not place this frame (its pose is then interpolated "
        "from its neighbours, or the identity when none).")


class MotionSegment(Record):
    """One stretch of the clip with one dominant camera motion."""

    label: str = Field(description="One of " + ", ".join(MOTION_LABELS) + ".")
    speed: Literal["slow", "moderate", "fast", ""] = Field(
        description="Speed word ('' for static).")
    start_s: float
    end_s: float
    secondary: list[str] = Field(
        default_factory=list, description="Other motions present in the segment.")
    rate: float = Field(description="Dominant motion's rate, image-equivalent deg/s.")


class CameraRecord(Record):
    """The camera condition of one clip."""

    clip_id: str
    uri: str
    status: CameraStatus = Field(
        description="ok: full SfM; rotation_only: rotations from homographies, zero translation; "
        "static: identity poses; failed: see `reason` (poses empty).")
    reason: str = Field("", description="Why the status (always set for failed).")
    width: int = Field(description="Full-resolution width the intrinsics refer to.")
    height: int = Field(description="Full-resolution height the intrinsics refer to.")
    sfm_width: int = Field(description="Width of the frames SfM saw.")
    sfm_height: int = Field(description="Height of the frames SfM saw.")
    frames: list[CameraFrame] = Field(description="One entry per sampled frame, in time order.")
    num_sampled: int
    num_registered: int = Field(description="Frames placed by SfM (all, for rotation_only/static).")
    reprojection_error: float | None = Field(
        None, description="Mean reprojection error (px at SfM resolution); None without SfM.")
    planar_share: float | None = Field(
        None, description="Share of verified pairs COLMAP found PLANAR_OR_PANORAMIC/PANORAMIC.")
    median_motion: float | None = Field(
        None, description="Background image motion: per matched pair a low quantile of the "
        "keypoint displacements, 80th percentile over the pairs, as a share of the longest "
        "side (the static test).")
    scale_depth: float | None = Field(
        None, description="Median scene depth (SfM units) the translations were divided by.")
    segments: list[MotionSegment] = Field(default_factory=list)
    description: str = Field("", description="The motion as one sentence, for captions.")
    seconds: float = Field(description="Wall time spent on this clip.")
