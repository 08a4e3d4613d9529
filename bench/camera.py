"""Camera benchmark: our configured camera stage against pycolmap with its defaults.

    .venv/bin/python bench/camera.py [--frames 48] [--size 640x480] [--out bench/camera.json]

On the synthetic translating clip (tests/camera_renders.py, known trajectory) written as a
video file:
  ours      CameraStage(CameraConfig()) on the video: decode, every 3rd frame (count=16 of 48),
            longest side 320 px, sequential matching, status checks, motion description
  defaults  pycolmap defaults on every frame of the same video at full resolution:
            extract_features, match_exhaustive, incremental_mapping (its decoding and image
            writing are not counted)
Both are scored on the frames they return: mean rotation error (deg) of the rotations relative
to the first frame, and mean camera-centre error after similarity alignment as a share of the
true path length. Prints a table and the ratios (target: >= 10x faster at <= 1.5x the error).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def score(poses: dict[int, np.ndarray], truth: np.ndarray) -> tuple[float, float]:
    """(mean rotation error deg, centre error / path length) over the frames in `poses`."""
    from any2capins.conditions.camera import geometry as geo

    idx = sorted(poses)
    e0, g0 = poses[idx[0]][:, :3], truth[idx[0]][:, :3]
    rot = [geo.rotation_angle_deg((poses[i][:, :3] @ e0.T) @ (truth[i][:, :3] @ g0.T).T)
           for i in idx]
    est_c = np.array([geo.centre(poses[i]) for i in idx])
    true_c = np.array([geo.centre(truth[i]) for i in idx])
    path = np.linalg.norm(np.diff(true_c, axis=0), axis=1).sum()
    aligned = geo.similarity_align(est_c, true_c)
    return float(np.mean(rot)), float(np.linalg.norm(aligned - true_c, axis=1).mean() / path)


def run_ours(video: str, n: int) -> tuple[float, dict[int, np.ndarray], dict]:
    from conditions_helpers import probe_clip

    from any2capins.conditions.camera.stage import CameraStage
    from any2capins.config.camera import CameraConfig

    clip = probe_clip(Path(video))
    stage = CameraStage(CameraConfig(count=max(2, n // 3)))
    stage.setup()
    t0 = time.perf_counter()
    rec = stage.process_batch([clip])[0]
    seconds = time.perf_counter() - t0
    poses = {f.frame_index: np.reshape(f.cam_from_world, (3, 4)) for f in rec.frames
             if f.registered}
    info = {"status": rec.status, "registered": rec.num_registered, "sampled": rec.num_sampled,
            "fx": rec.frames[0].fx if rec.frames else None, "description": rec.description}
    return seconds, poses, info


def decode_all(video: str) -> np.ndarray:
    """Every frame of the video at full resolution (the pixels both contenders start from)."""
    from any2capins.io.frames import sample_frames

    return sample_frames(video, fps=None, count=10**6, max_frames=None, max_side=None).frames


def run_defaults(frames: np.ndarray) -> tuple[float, dict[int, np.ndarray], dict]:
    import pycolmap

    from any2capins.conditions.camera.sfm import write_frames

    pycolmap.logging.minloglevel = 2
    with tempfile.TemporaryDirectory(prefix="a2c-bench-") as tmp:
        work = Path(tmp)
        write_frames(frames, work / "images")  # not timed
        t0 = time.perf_counter()
        pycolmap.extract_features(work / "db.db", work / "images")
        pycolmap.match_exhaustive(work / "db.db")
        recs = pycolmap.incremental_mapping(work / "db.db", work / "images", work)
        seconds = time.perf_counter() - t0
    if not recs:
        return seconds, {}, {"status": "no model"}
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    poses = {}
    for img in rec.images.values():
        if img.has_pose:
            poses[int(img.name[1:5])] = np.asarray(img.cam_from_world().matrix(), float)
    cam = next(iter(rec.cameras.values()))
    return seconds, poses, {"registered": len(poses), "sampled": len(frames),
                            "fx": float(cam.params[0])}


def main() -> int:
    from camera_renders import render_clip, write_video

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    render = render_clip("translate", n=args.frames, size=(w, h), focal=0.9375 * w)
    with tempfile.TemporaryDirectory(prefix="a2c-bench-") as tmp:
        video = write_video(render, str(Path(tmp) / "translate.avi"))
        ours_s, ours_p, ours_i = run_ours(video, args.frames)
        base_s, base_p, base_i = run_defaults(decode_all(video))
    rows = {"ours": (ours_s, ours_p, ours_i), "pycolmap defaults": (base_s, base_p, base_i)}
    result = {"clip": f"synthetic translate, {args.frames} frames {w}x{h}, true fx "
              f"{render.K[0, 0]:.1f}"}
    print(result["clip"])
    print(f"{'':20} {'seconds':>8} {'frames':>7} {'rot err deg':>12} {'centre err':>11}  info")
    for name, (sec, poses, info) in rows.items():
        rot, cen = score(poses, render.cam_from_world) if len(poses) >= 3 else (None, None)
        result[name] = {"seconds": round(sec, 2), "rot_err_deg": rot, "centre_err": cen, **info}
        r = f"{rot:12.3f} {cen:10.2%}" if rot is not None else f"{'-':>12} {'-':>11}"
        print(f"{name:20} {sec:8.2f} {len(poses):7d} {r}  {info}")
    o, b = result["ours"], result["pycolmap defaults"]
    if o["rot_err_deg"] is not None and b["rot_err_deg"] is not None:
        result["speedup"] = round(b["seconds"] / o["seconds"], 2)
        result["rot_err_ratio"] = round(o["rot_err_deg"] / max(b["rot_err_deg"], 1e-9), 2)
        result["centre_err_ratio"] = round(o["centre_err"] / max(b["centre_err"], 1e-9), 2)
        print(f"speed-up {result['speedup']}x; error ratio ours/defaults: rotation "
              f"{result['rot_err_ratio']}, centre {result['centre_err_ratio']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
