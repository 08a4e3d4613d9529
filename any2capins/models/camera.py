"""Records of the camera stage: per-clip status, per-frame poses, motion description.

Conventions (COLMAP's): `cam_from_world` maps world points into the camera, x_cam = R x + t,
with x right, y down, z forward (looking direction). The world frame is the camera of the
first registered frame (normally the first sampled frame; its pose is [I | 0]).
Translation scale: the median depth of the reconstructed scene points seen from that frame is
1.0, so translations read as "fractions of the scene's depth"; rotation-only and static clips
have zero translation. Intrinsics: fitted by SfM (ok) or to the homographies (rotation_only);
for static clips the focal is the configured prior (focal_prior x longest side), not measured.

What was measured is said, not implied: per frame `measured` (full pose, rotation only, or
nothing: an identity, interpolated or copied pose) and `registered` (measured at all); per
clip `measured` and `focal_source`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from any2capins.models.common import Record

CameraStatus = Literal["ok", "rotation_only", "static", "failed"]
FrameMeasured = Literal["pose", "rotation", "none"]
ClipMeasured = Literal["full", "rotation", "none"]
FocalSource = Literal["sfm", "homographies", "prior"]
MOTION_LABELS = (
    "static", "pan left", "pan right", "tilt up", "tilt down", "roll", "dolly in", "dolly out",
    "truck left", "truck right", "pedestal up", "pedestal down", "orbit", "handheld shake",
    "handheld drift",
)


class CameraFrame(Record):
    """One sampled frame's camera."""

    frame_index: int = Field(description="Position of the frame in the clip (0-based, "
                             "presentation order; inside the span for a shot clip).")
    timestamp: float = Field(description="Presentation time in seconds from the start of the "
                             "file's video stream (for a shot clip within its span, not from "
                             "0).")
    fx: float = Field(description="Focal length x, pixels of the clip's full resolution.")
    fy: float = Field(description="Focal length y, pixels of the clip's full resolution.")
    cx: float = Field(description="Principal point x, pixels of the clip's full resolution.")
    cy: float = Field(description="Principal point y, pixels of the clip's full resolution.")
    cam_from_world: list[float] = Field(
        description="3x4 world-to-camera matrix [R | t], row-major (12 numbers).")
    registered: bool = Field(
        description="True when this frame's pose (or, for rotation_only, its rotation) was "
        "measured; False when it was not: interpolated from its neighbours, copied from the "
        "nearest one, or the identity of a static clip.")
    measured: FrameMeasured = Field(
        "none", description="What of this frame's pose was measured: pose (SfM rotation and "
        "translation), rotation (from homographies; the translation is set to zero, not "
        "measured), none (identity, interpolated or copied).")

    @model_validator(mode="before")
    @classmethod
    def _measured_from_registered(cls, data: Any) -> Any:
        # records written before `measured` existed (and builders that set only
        # `registered`) read as a full pose when registered, nothing otherwise
        if isinstance(data, dict) and "measured" not in data and "registered" in data:
            data = {**data, "measured": "pose" if data["registered"] else "none"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> CameraFrame:
        if self.registered != (self.measured != "none"):
            raise ValueError("registered must be true exactly when something was measured")
        return self


class MotionSegment(Record):
    """One stretch of the clip with one dominant camera motion."""

    label: str = Field(description="One of " + ", ".join(MOTION_LABELS) + ". 'handheld "
                       "drift': a small, irregular net motion (its directions in `secondary`); "
                       "'handheld shake': irregular motion without a net direction.")
    speed: Literal["slight", "slow", "moderate", "fast", ""] = Field(
        description="Speed word: slight (the net motion sweeps less than motion.slight_deg), "
        "else by rate; '' for static and shake.")
    start_s: float = Field(description="Start of the segment: timestamp (seconds, as "
                           "`frames[].timestamp`) of the sampled frame it starts at.")
    end_s: float = Field(description="End of the segment: timestamp (seconds, as "
                         "`frames[].timestamp`) of the sampled frame it ends at (the next "
                         "segment starts there).")
    secondary: list[str] = Field(
        default_factory=list, description="Other motions present in the segment, strongest "
        "first (for 'handheld drift': all its directions, dominant first).")
    rate: float = Field(description="Dominant motion's mean rate over the segment, "
                        "image-equivalent deg/s (0 for static and shake).")
    amount: float = Field(0.0, description="Dominant motion's net sweep over the segment, "
                          "image-equivalent degrees.")
    irregularity: float = Field(
        0.0, description="Step-to-step wobble of the rates (deg/s): RMS of their first "
        "differences over sqrt 2; high relative to the net rate = handheld.")
    handheld: bool = Field(False, description="The segment's motion is irregular (handheld).")


class CameraRecord(Record):
    """The camera condition of one clip."""

    clip_id: str = Field(description="The clip's id (clips/).")
    uri: str = Field(description="The clip's source URI.")
    status: CameraStatus = Field(
        description="ok: full SfM; rotation_only: rotations from homographies, zero translation; "
        "static: identity poses; failed: see `reason` (poses empty).")
    reason: str = Field("", description="Why the status (always set for failed).")
    width: int = Field(description="Full-resolution width the intrinsics refer to.")
    height: int = Field(description="Full-resolution height the intrinsics refer to.")
    sfm_width: int = Field(description="Width of the frames SfM saw.")
    sfm_height: int = Field(description="Height of the frames SfM saw.")
    frames: list[CameraFrame] = Field(description="One entry per sampled frame, in time order.")
    num_sampled: int = Field(description="Frames sampled for SfM.")
    num_registered: int = Field(
        description="Frames whose pose (rotation_only: rotation) was measured; 0 for static.")
    measured: ClipMeasured = Field(
        "none", description="full: SfM rotations and translations (ok); rotation: rotations "
        "only, translation zero by assumption (rotation_only); none: static or failed.")
    focal_source: FocalSource = Field(
        "prior", description="Where the focal length comes from: sfm (fitted by bundle "
        "adjustment), homographies (fitted to the rotations), prior (focal_prior x longest "
        "side, not measured).")
    reprojection_error: float | None = Field(
        None, description="Mean reprojection error (px at SfM resolution); None without SfM.")
    planar_share: float | None = Field(
        None, description="Share of verified pairs COLMAP found PLANAR_OR_PANORAMIC/PANORAMIC.")
    background_motion: float | None = Field(
        None, description="Background image motion: per matched pair the static_quantile "
        "(a low quantile) of the keypoint displacements, 80th percentile over the pairs, as a "
        "share of the longest side (the static test and the SfM fallback test).")
    scale_depth: float | None = Field(
        None, description="Median scene depth (SfM units) the translations were divided by.")
    segments: list[MotionSegment] = Field(
        default_factory=list, description="At most motion.max_phases phases, in time order.")
    description: str = Field("", description="The motion as one sentence, for captions: at most "
        "motion.max_phases phrases, e.g. 'The handheld camera drifts slightly right and up.'")
    seconds: float = Field(description="Wall time spent on this clip.")

    @model_validator(mode="before")
    @classmethod
    def _measured_from_status(cls, data: Any) -> Any:
        # builders that set only the status get what that status measures
        if isinstance(data, dict) and "measured" not in data and "status" in data:
            data = {**data, "measured": _STATUS_MEASURED.get(data["status"], "none")}
        if isinstance(data, dict) and "focal_source" not in data and "status" in data:
            data = {**data, "focal_source": "sfm" if data["status"] == "ok" else "prior"}
        return data

    @model_validator(mode="after")
    def _measured_matches_status(self) -> CameraRecord:
        if self.measured != _STATUS_MEASURED[self.status]:
            raise ValueError(f"status {self.status} measures {_STATUS_MEASURED[self.status]!r}, "
                             f"not {self.measured!r}")
        return self


_STATUS_MEASURED = {"ok": "full", "rotation_only": "rotation", "static": "none", "failed": "none"}
