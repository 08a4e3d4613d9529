"""pycolmap in two steps: features + sequential matching (cheap, always), then incremental
mapping (only when the pairs say the clip is neither static nor rotation-only).

Contract: `match_frames` returns every verified pair with its COLMAP configuration and inlier
point correspondences (pixels of the SfM frames); `map_frames` returns per-frame poses and the
shared intrinsics of the largest reconstruction, or None when COLMAP builds none (it returns
`{}` for a static camera rather than raising). pycolmap 4.x: `cam_from_world()` is a method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from any2capins.config.camera import CameraConfig

PLANAR_CONFIGS = ("PLANAR_OR_PANORAMIC", "PANORAMIC")


@dataclass(frozen=True)
class Pair:
    """A verified frame pair: points1[k] in frame i matches points2[k] in frame j."""

    i: int
    j: int
    config: str
    points1: np.ndarray  # [M, 2] float
    points2: np.ndarray


@dataclass
class Matches:
    keypoints: list[int]  # keypoints per frame
    pairs: list[Pair] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)  # database id of each frame
    # displacement (px) of every raw (ratio-test) match, per matched pair: the static test
    # reads these, because verification of a still background is degenerate (zero motion
    # fits any epipolar geometry) and may keep a moving subject's matches instead
    raw_motion: list[np.ndarray] = field(default_factory=list)

    def initial_pair(self, min_inliers: int = 100) -> tuple[int, int] | None:
        """Frames (database ids) of the non-planar pair with the largest median displacement
        among those with enough inliers: the widest baseline to start mapping from."""
        best, score = None, 0.0
        for p in self.pairs:
            if p.config in PLANAR_CONFIGS or len(p.points1) < min_inliers:
                continue
            disp = float(np.median(np.linalg.norm(p.points2 - p.points1, axis=1)))
            if disp > score:
                best, score = (self.image_ids[p.i], self.image_ids[p.j]), disp
        return best

    @property
    def planar_share(self) -> float | None:
        if not self.pairs:
            return None
        return sum(p.config in PLANAR_CONFIGS for p in self.pairs) / len(self.pairs)


@dataclass(frozen=True)
class Mapped:
    """Largest reconstruction: poses[k] is None for frames it did not register."""

    poses: list[np.ndarray | None]  # 3x4 cam_from_world
    K: np.ndarray  # 3x3 at SfM resolution
    reprojection_error: float
    points_depth_first: np.ndarray  # depths of 3D points seen in the first registered frame


def _names(n: int) -> list[str]:
    # BMP, not PNG: with decord loaded in the same process, COLMAP's libpng meets another zlib
    # ("libpng error: bad parameters to zlib") and reads nothing
    return [f"f{k:04d}.bmp" for k in range(n)]


def write_frames(frames: np.ndarray, image_dir: Path) -> None:
    from PIL import Image

    image_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(_names(len(frames)), frames, strict=True):
        Image.fromarray(frame).save(image_dir / name)


def match_frames(frames: np.ndarray, workdir: Path, cfg: CameraConfig) -> Matches:
    """SIFT features of every frame and sequential matching with geometric verification."""
    import pycolmap

    pycolmap.logging.minloglevel = max(int(pycolmap.logging.minloglevel), 2)  # errors only
    image_dir, db_path = workdir / "images", workdir / "database.db"
    write_frames(frames, image_dir)
    h, w = frames.shape[1:3]
    reader = pycolmap.ImageReaderOptions(camera_model=cfg.camera_model)
    reader.default_focal_length_factor = cfg.focal_prior
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = cfg.num_threads
    extraction.max_image_size = max(w, h)
    extraction.sift.max_num_features = cfg.max_features
    # images enter the database in frame order first: threaded extraction otherwise writes
    # (and numbers) them in the order its threads finish, and the mapper, whose ties follow
    # image ids, gave poses that differed in the 6th digit run to run
    with pycolmap.Database.open(db_path):
        pass  # creates the database, which import_images wants to exist
    pycolmap.import_images(db_path, image_dir, camera_mode=pycolmap.CameraMode.SINGLE,
                           image_names=_names(len(frames)), options=reader)
    pycolmap.extract_features(db_path, image_dir, image_names=_names(len(frames)),
                              camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              extraction_options=extraction, device=pycolmap.Device.cpu)
    matching = pycolmap.FeatureMatchingOptions()
    # one thread: with two, COLMAP's matcher returned different verified pairs for the same
    # keypoints in about 1 run of 8 (the RANSAC seed does not cover it), which flipped the
    # bedroom clip's description; extraction, the costly step, keeps its threads. (Image ids
    # followed the extraction threads' finishing order then, which swaps a pair's sides and
    # so its RANSAC samples: a likely cause, fixed above; two matching threads then gave the
    # same matches in 12 of 12 runs, too few to drop this guard.)
    matching.num_threads = 1
    pairing = pycolmap.SequentialPairingOptions(overlap=cfg.overlap,
                                                quadratic_overlap=cfg.quadratic)
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.random_seed = cfg.seed
    pycolmap.match_sequential(db_path, matching_options=matching, pairing_options=pairing,
                              verification_options=verification, device=pycolmap.Device.cpu)
    return _read_matches(db_path, len(frames))


def _read_matches(db_path: Path, n: int) -> Matches:
    import pycolmap

    with pycolmap.Database.open(db_path) as db:
        by_name = {img.name: img.image_id for img in db.read_all_images()}
        ids = [by_name[name] for name in _names(n)]
        kps = [db.read_keypoints(i)[:, :2] if db.exists_keypoints(i) else np.zeros((0, 2))
               for i in ids]
        out = Matches([len(k) for k in kps], image_ids=ids)
        for a in range(n):
            for b in range(a + 1, n):
                if db.exists_matches(ids[a], ids[b]):
                    raw = np.asarray(db.read_matches(ids[a], ids[b]), np.int64).reshape(-1, 2)
                    if len(raw):
                        out.raw_motion.append(np.linalg.norm(
                            kps[b][raw[:, 1]] - kps[a][raw[:, 0]], axis=1))
                if not db.exists_two_view_geometry(ids[a], ids[b]):
                    continue
                geom = db.read_two_view_geometry(ids[a], ids[b])
                inl = np.asarray(geom.inlier_matches, dtype=np.int64).reshape(-1, 2)
                if len(inl) == 0:
                    continue
                out.pairs.append(Pair(a, b, _config_name(geom.config),
                                      kps[a][inl[:, 0]].astype(float),
                                      kps[b][inl[:, 1]].astype(float)))
    return out


def map_frames(workdir: Path, n: int, cfg: CameraConfig,
               init_pair: tuple[int, int] | None = None) -> Mapped | None:
    """Incremental mapping over the matched database; the largest model wins. `init_pair`
    (database image ids) starts the first model from a wide baseline: with an unknown focal,
    COLMAP's own choice among short sequential baselines often stalls after two frames."""
    import pycolmap

    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = cfg.num_threads
    options.random_seed = cfg.seed
    # multiple_models stays on: a first model often starts from a poor (narrow) initial pair
    # and stalls; the mapper then starts another one from the remaining frames
    options.min_model_size = max(3, n // 3)
    # dolly shots are forward motion: COLMAP's default (0.95) refuses them as initial pair
    options.mapper.init_max_forward_motion = 1.0
    # distortion held at zero while frames register: refined from the first two-view
    # adjustment on, it trades off against the focal (seed-dependent focal and rotations,
    # runaway focals that stall the model); refined once, over all frames, at the end
    final = cfg.refine_distortion == "final"
    options.ba_refine_extra_params = not final
    options.mapper.abs_pose_refine_extra_params = not final
    if init_pair is not None:
        options.init_image_id1, options.init_image_id2 = init_pair
        # COLMAP wants 16 deg between the initial views; a video clip rarely has that
        options.mapper.init_min_tri_angle = cfg.init_min_tri_angle
    out_dir = workdir / "sparse"
    out_dir.mkdir(exist_ok=True)
    recs = pycolmap.incremental_mapping(workdir / "database.db", workdir / "images", out_dir,
                                        options=options)
    if not recs:
        return None
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    if final:
        _final_adjustment(rec)
    by_name = {img.name: img for img in rec.images.values() if img.has_pose}
    poses: list[np.ndarray | None] = []
    for name in _names(n):
        img = by_name.get(name)
        poses.append(None if img is None else np.asarray(img.cam_from_world().matrix(), float))
    camera = next(iter(rec.cameras.values()))
    first = next((by_name[name] for name in _names(n) if name in by_name), None)
    depths = _point_depths(rec, first) if first is not None else np.zeros(0)
    return Mapped(poses, np.asarray(camera.calibration_matrix(), float),
                  float(rec.compute_mean_reprojection_error()), depths)


def _final_adjustment(rec) -> None:
    """One global bundle adjustment refining focal and distortion with every registered frame
    (in place), Ceres on one thread (a problem this small gains nothing from more)."""
    import pycolmap

    options = pycolmap.BundleAdjustmentOptions()
    options.print_summary = False
    options.refine_focal_length = True
    options.refine_extra_params = True
    options.ceres.solver_options.num_threads = 1
    pycolmap.bundle_adjustment(rec, options)
    pycolmap.logging.minloglevel = max(int(pycolmap.logging.minloglevel), 2)


def _point_depths(rec, image) -> np.ndarray:
    pose = np.asarray(image.cam_from_world().matrix(), float)
    xyz = [rec.points3D[p.point3D_id].xyz for p in image.points2D if p.has_point3D()]
    if not xyz:
        return np.zeros(0)
    pts = np.asarray(xyz, float)
    z = pts @ pose[:, :3].T[:, 2] + pose[2, 3]
    return z[z > 0]


def _config_name(config: object) -> str:
    """TwoViewGeometry.config is an int in the database reader, an enum elsewhere."""
    import pycolmap

    enum = pycolmap.TwoViewGeometryConfiguration
    return getattr(config, "name", None) or enum(int(config)).name
