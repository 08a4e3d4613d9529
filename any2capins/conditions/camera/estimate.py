"""From sampled frames to a camera estimate with a status; degenerate clips are recognised.

Order of the checks (each one a status with a reason, never an exception):
  too few frames / frames of different sizes       -> failed
  median SIFT keypoints per frame below minimum    -> failed (textureless)
  no verified frame pair                           -> failed (no_matches)
  the still part of the matches (low quantile of the
  keypoint displacements) never moves more than a little -> static (identity poses, none
                                                      of them measured)
  most verified pairs PLANAR_OR_PANORAMIC          -> rotation_only (rotations from chained
                                                      homographies, focal fitted to them)
  incremental mapping registers enough frames      -> ok (normalised SfM poses)
  mapping fails but the motion is small            -> rotation_only (homographies; the reason
                                                      names the failure and the small motion)
  otherwise                                        -> failed (sfm)
Mapping, the expensive step, only runs when the cheap pair statistics call for it.
What each estimate measured is kept apart from what it assumed: per frame `measured` (pose,
rotation or none) and per clip `measured` and `focal_source`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from any2capins.conditions.camera import geometry as geo
from any2capins.conditions.camera.motion import segments, sentence
from any2capins.conditions.camera.sfm import Matches, map_frames, match_frames
from any2capins.config.camera import CameraConfig
from any2capins.models.camera import MotionSegment


@dataclass
class Estimate:
    status: str
    reason: str
    sfm_size: tuple[int, int]  # (w, h) of the frames SfM saw
    K: np.ndarray  # 3x3 at SfM resolution
    poses: list[np.ndarray] = field(default_factory=list)  # normalised cam_from_world
    # per frame what was measured: "pose", "rotation" (translation assumed zero) or "none"
    # (identity of a static clip, interpolated or copied from a neighbour)
    frame_measured: list[str] = field(default_factory=list)
    measured: str = "none"  # per clip: full, rotation, none
    focal_source: str = "prior"  # sfm, homographies, prior
    reprojection_error: float | None = None
    planar_share: float | None = None
    background_motion: float | None = None
    scale_depth: float | None = None
    segments: list[MotionSegment] = field(default_factory=list)
    description: str = ""

    @property
    def registered(self) -> list[bool]:
        """Per frame: was anything of its pose measured."""
        return [m != "none" for m in self.frame_measured]

    @property
    def num_registered(self) -> int:
        return sum(self.registered)


def _prior_k(size: tuple[int, int], factor: float) -> np.ndarray:
    w, h = size
    f = factor * max(w, h)
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])


def _failed(reason: str, size: tuple[int, int], cfg: CameraConfig, **extra) -> Estimate:
    return Estimate("failed", reason, size, _prior_k(size, cfg.focal_prior), **extra)


def estimate_camera(frames: Sequence[np.ndarray], times: Sequence[float], cfg: CameraConfig,
                    workdir: str | None = None) -> Estimate:
    """Camera poses, status and motion description of one clip's sampled frames (RGB uint8)."""
    sizes = {tuple(f.shape[:2]) for f in frames}
    size = (int(frames[0].shape[1]), int(frames[0].shape[0])) if frames else (0, 0)
    if len(frames) < cfg.min_frames:
        return _failed(f"too_short: {len(frames)} frame(s) sampled, need {cfg.min_frames}",
                       size, cfg)
    if len(sizes) > 1:
        return _failed(f"frame_sizes: frames differ in size {sorted(sizes)}", size, cfg)
    if frames[0].ndim != 3 or frames[0].shape[2] != 3:
        return _failed(f"frame_format: expected HxWx3 RGB, got {frames[0].shape}", size, cfg)
    stack = np.ascontiguousarray(np.stack(frames).astype(np.uint8))
    with tempfile.TemporaryDirectory(prefix="a2c-cam-", dir=workdir) as tmp:
        return _estimate(stack, list(times), cfg, Path(tmp))


def _estimate(frames: np.ndarray, times: list[float], cfg: CameraConfig, tmp: Path) -> Estimate:
    size = (frames.shape[2], frames.shape[1])
    matches = match_frames(frames, tmp, cfg)
    kp = float(np.median(matches.keypoints))
    if kp < cfg.min_keypoints:
        return _failed(f"textureless: median {kp:.0f} keypoints per frame, need "
                       f"{cfg.min_keypoints}", size, cfg)
    if not matches.pairs:
        return _failed("no_matches: no frame pair passed geometric verification", size, cfg)
    motion = _background_motion(matches, cfg.static_quantile) / max(size)
    share = matches.planar_share
    stats = {"planar_share": share, "background_motion": round(motion, 6)}
    if motion < cfg.static_motion:
        n = len(frames)
        ident = [np.column_stack([np.eye(3), np.zeros(3)])] * n
        reason = (f"background motion {motion:.4f} of the frame < static_motion "
                  f"{cfg.static_motion}: identity poses, not measured")
        est = Estimate("static", reason, size, _prior_k(size, cfg.focal_prior), ident,
                       ["none"] * n, **stats)
    elif share is not None and share >= cfg.planar_share:
        est = _rotation_only(matches, len(frames), times=times, size=size, cfg=cfg,
                             stats=stats, why=f"{share:.2f} of verified pairs are "
                             f"planar/panoramic (>= planar_share {cfg.planar_share})")
    else:
        est = _sfm(tmp, len(frames), matches.initial_pair(), times=times, size=size, cfg=cfg,
                   stats=stats)
        if est.status == "failed" and motion < cfg.fallback_motion:
            # little parallax to triangulate (a near-still shot, film gate weave): the
            # homographies describe such motion well; the reason names both triggers
            est = _rotation_only(matches, len(frames), times=times, size=size, cfg=cfg,
                                 stats=stats, why=f"{est.reason}, and the background motion "
                                 f"{motion:.4f} of the frame is small (< fallback_motion "
                                 f"{cfg.fallback_motion})")
    if est.status != "failed":
        est.segments = segments(est.poses, times, cfg.motion)
        est.description = sentence(est.segments)
    return est


def _background_motion(matches: Matches, quantile: float) -> float:
    """Image motion of the background (px): per matched pair the `quantile` of the raw
    keypoint displacements (a low quantile measures the still background even when people move
    through a fixed shot), then the 80th percentile over the pairs (a pair where a large
    subject hides most of the background does not decide; a camera that moves during a fifth
    of the clip or more does)."""
    disps = matches.raw_motion or [np.linalg.norm(p.points2 - p.points1, axis=1)
                                   for p in matches.pairs]
    return float(np.quantile([np.quantile(d, quantile) for d in disps], 0.8))


def _rotation_only(matches: Matches, n: int, *, times: list[float], size: tuple[int, int],
                   cfg: CameraConfig, stats: dict, why: str) -> Estimate:
    """Rotations from chained pairwise homographies; translation zero (assumed), focal
    fitted to the homographies when they carry enough rotation, else the prior. `why`: the
    trigger, which starts the reason."""
    import cv2

    fitted = []
    for p in matches.pairs:
        if len(p.points1) < 8:
            continue
        h, mask = cv2.findHomography(p.points1, p.points2, cv2.RANSAC, 2.0)
        if h is not None:
            fitted.append((int(mask.sum()), p.i, p.j, h))
    fitted.sort(key=lambda x: -x[0])
    chained = geo.chain_homographies(n, [(i, j, h) for _, i, j, h in fitted])
    prior = cfg.focal_prior * max(size)
    f = geo.focal_from_homographies([h for h in chained[1:] if h is not None], size)
    focal_known = f is not None
    f = f or prior
    rots = geo.rotations_from_homographies(chained, f, size)
    poses = [None if r is None else np.column_stack([r, np.zeros(3)]) for r in rots]
    measured = ["none" if p is None else "rotation" for p in poses]
    k = np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1.0]])
    reason = (f"{why}: rotations from homographies, translation not measured (zero), focal "
              f"{'fitted to them' if focal_known else 'from the prior'}")
    return Estimate("rotation_only", reason, size, k, geo.fill_missing(poses, times), measured,
                    measured="rotation", focal_source="homographies" if focal_known else "prior",
                    **stats)


def _sfm(tmp: Path, n: int, init_pair: tuple[int, int] | None, *, times: list[float],
         size: tuple[int, int], cfg: CameraConfig, stats: dict) -> Estimate:
    mapped = map_frames(tmp, n, cfg, init_pair)
    if mapped is None:
        return _failed("sfm: COLMAP built no model", size, cfg, **stats)
    reg = [p is not None for p in mapped.poses]
    if sum(reg) < cfg.min_registered * n:
        return _failed(f"sfm: only {sum(reg)} of {n} frames registered", size, cfg,
                       reprojection_error=mapped.reprojection_error, **stats)
    ref = reg.index(True)
    depths = mapped.points_depth_first
    depth = float(np.median(depths)) if len(depths) else 1.0
    poses = geo.fill_missing(geo.normalise(mapped.poses, ref, depth), times)
    measured = ["pose" if r else "none" for r in reg]
    return Estimate("ok", f"{sum(reg)} of {n} frames registered", size, mapped.K, poses,
                    measured, measured="full", focal_source="sfm",
                    reprojection_error=mapped.reprojection_error, scale_depth=depth, **stats)
