"""Camera benchmark: our camera stage against pycolmap, with controls that separate "fewer
frames" from "better settings".

    nice .venv/bin/python bench/camera.py [--frames 48] [--size 640x480] [--repeat 2]
                                         [--no-full]

On the synthetic translating clip (tests/camera_renders.py, known trajectory) written as a
video file, five runs:
  ours (stage)            CameraStage(CameraConfig()) on the video: decode, 16 frames, longest
                          side 320 px, sequential matching, status checks, motion description
  ours (same frames)      estimate_camera on the 16 frames the stage sees (no decode)
  plain sequential        pycolmap on those same 16 frames at the same size: extract_features,
                          match_sequential, incremental_mapping, all with pycolmap's defaults
  defaults, same frames   the same with match_exhaustive (pycolmap's defaults)
  defaults, all frames    pycolmap's defaults on every frame at full resolution (--no-full
                          skips it: it is the slow one)
The pycolmap controls are timed from feature extraction to the model (writing their images
is not counted; ours writes its own inside the timed call). Wall times are the least of
--repeat runs; CPU seconds (process_time: every thread of the process) are reported next to
them, the steadier figure on a shared machine. Scores: mean rotation error (deg) of the
rotations relative to the first frame, and mean camera-centre error after similarity
alignment as a share of the true path length.
Targets: ours (same frames) within 1.1x of plain sequential at no worse accuracy; the stage
far faster than the defaults on all frames. Results: bench/results/camera.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

Run = tuple[float, dict[int, np.ndarray], dict]  # (wall s, poses, info with "cpu_s")


class Clock:
    """Wall and CPU seconds (all threads of this process) of a block: on a shared machine the
    CPU seconds are the steadier measure of work; both are reported."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


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


def least(repeat: int, fn: Callable[[], Run]) -> Run:
    """The fastest of `repeat` runs (the machine is shared; the least time is the cost)."""
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def run_stage(stage, clip) -> Run:
    with Clock() as c:
        rec = stage.process_batch([clip])[0]
    poses = {f.frame_index: np.reshape(f.cam_from_world, (3, 4)) for f in rec.frames
             if f.registered}
    return c.wall, poses, {"status": rec.status, "cpu_s": c.cpu}


def run_estimate(frames: list[np.ndarray], times: list[float], indices: list[int]) -> Run:
    from any2capins.conditions.camera.estimate import estimate_camera
    from any2capins.config.camera import CameraConfig

    with Clock() as c:
        est = estimate_camera(frames, times, CameraConfig())
    poses = {indices[k]: p for k, (p, reg) in enumerate(zip(est.poses, est.registered,
                                                            strict=True)) if reg}
    return c.wall, poses, {"status": est.status, "cpu_s": c.cpu}


def run_pycolmap(frames: list[np.ndarray], indices: list[int], matching: str) -> Run:
    """pycolmap with its defaults on `frames`; matching: 'sequential' or 'exhaustive'."""
    import pycolmap

    from any2capins.conditions.camera.sfm import write_frames

    pycolmap.logging.minloglevel = 2
    with tempfile.TemporaryDirectory(prefix="a2c-bench-") as tmp:
        work = Path(tmp)
        write_frames(np.stack(frames), work / "images")  # not timed
        with Clock() as c:
            pycolmap.extract_features(work / "db.db", work / "images")
            getattr(pycolmap, f"match_{matching}")(work / "db.db")
            recs = pycolmap.incremental_mapping(work / "db.db", work / "images", work)
    if not recs:
        return c.wall, {}, {"status": "no model", "cpu_s": c.cpu}
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    poses = {indices[int(img.name[1:5])]: np.asarray(img.cam_from_world().matrix(), float)
             for img in rec.images.values() if img.has_pose}
    return c.wall, poses, {"status": "model", "cpu_s": c.cpu}


def contenders(video: str, repeat: int, full: bool) -> dict[str, tuple[Run, int]]:
    """name -> (run, frames it was given)."""
    from conditions_helpers import probe_clip

    from any2capins.conditions.camera.stage import CameraStage, area_resize
    from any2capins.config.camera import CameraConfig
    from any2capins.io.frames import sample_frames

    clip = probe_clip(Path(video))
    stage = CameraStage(CameraConfig())
    stage.setup()
    sampled = stage._decode(clip)  # exactly the frames the stage works on
    frames = [area_resize(f, stage.config.max_side) for f in sampled.frames]
    times, idx = list(sampled.timestamps), list(sampled.indices)
    n = len(frames)
    out = {
        "ours (stage)": (least(repeat, lambda: run_stage(stage, clip)), n),
        "ours (same frames)": (least(repeat, lambda: run_estimate(frames, times, idx)), n),
        "plain sequential": (least(repeat, lambda: run_pycolmap(frames, idx, "sequential")), n),
        "defaults, same frames": (least(repeat, lambda: run_pycolmap(frames, idx,
                                                                     "exhaustive")), n),
    }
    if full:
        every = sample_frames(video, fps=None, count=10**6, max_frames=None, max_side=None)
        out["defaults, all frames"] = (run_pycolmap(list(every.frames), list(every.indices),
                                                    "exhaustive"), len(every.frames))
    return out


def main() -> int:
    from camera_renders import render_clip, write_video
    from results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--repeat", type=int, default=2, help="runs per fast contender (least time)")
    ap.add_argument("--no-full", action="store_true", help="skip defaults on all frames")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    render = render_clip("translate", n=args.frames, size=(w, h), focal=0.9375 * w)
    with tempfile.TemporaryDirectory(prefix="a2c-bench-") as tmp:
        video = write_video(render, str(Path(tmp) / "translate.avi"))
        runs = contenders(video, max(1, args.repeat), not args.no_full)
    table = [["run", "frames", "wall s", "cpu s", "registered", "rot err deg", "centre err",
              "status"]]
    figures: dict[str, float | None] = {}
    for name, ((sec, poses, info), given) in runs.items():
        rot, cen = score(poses, render.cam_from_world) if len(poses) >= 3 else (None, None)
        key = name.replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
        figures.update({f"{key}_s": round(sec, 2), f"{key}_cpu_s": round(info["cpu_s"], 2),
                        f"{key}_registered": len(poses),
                        f"{key}_rot_err_deg": rot and round(rot, 4),
                        f"{key}_centre_err": cen and round(cen, 5)})
        table.append([name, given, f"{sec:.2f}", f"{info['cpu_s']:.2f}", len(poses),
                      "-" if rot is None else f"{rot:.3f}", "-" if cen is None else f"{cen:.2%}",
                      info.get("status")])
    figures.update(_ratios(figures))
    for row in table:
        print(" | ".join(str(c) for c in row))
    print({k: v for k, v in figures.items() if "ratio" in k or "speedup" in k})
    plain_ok = figures["plain_sequential_registered"] >= 0.6 * runs["plain sequential"][1]
    notes = ("" if plain_ok else "Plain sequential matching with pycolmap's defaults placed "
             f"only {figures['plain_sequential_registered']} of {runs['plain sequential'][1]} "
             "frames (its mapper starts from a short baseline and stalls; ours starts from the "
             "widest non-planar pair): its time is for less work, and its accuracy is "
             "undefined. ") + (
             f"Synthetic translating clip ({args.frames} frames {w}x{h}, MJPEG, true fx "
             f"{render.K[0, 0]:.0f}). 'plain sequential' and 'defaults, same frames' get the "
             "very frames our stage sees (16 at 320 px): the ratio ours/plain is what our "
             "settings and checks cost or save (target <= 1.1 at no worse accuracy); defaults "
             "on all frames over defaults on the same frames is what fewer, smaller frames "
             f"save. Least wall time of {args.repeat} runs for the fast contenders, one run for "
             "all frames; CPU seconds (all threads) are steadier on a shared machine.")
    write_results("camera", figures, table=table, notes=notes,
                  command="nice .venv/bin/python bench/camera.py " + " ".join(sys.argv[1:]))
    return 0


def _ratios(f: dict) -> dict[str, float]:
    out = {}
    if f.get("plain_sequential_s"):
        out["ours_over_plain_sequential_time_ratio"] = round(
            f["ours_same_frames_s"] / f["plain_sequential_s"], 2)
        out["ours_over_plain_sequential_cpu_ratio"] = round(
            f["ours_same_frames_cpu_s"] / max(f["plain_sequential_cpu_s"], 1e-9), 2)
    if f.get("plain_sequential_rot_err_deg") and f.get("ours_same_frames_rot_err_deg"):
        out["ours_over_plain_sequential_rot_err_ratio"] = round(
            f["ours_same_frames_rot_err_deg"] / f["plain_sequential_rot_err_deg"], 2)
    if f.get("defaults_all_frames_s"):
        out["stage_speedup_over_defaults_all_frames"] = round(
            f["defaults_all_frames_s"] / f["ours_stage_s"], 1)
        out["fewer_frames_speedup_defaults"] = round(
            f["defaults_all_frames_s"] / f["defaults_same_frames_s"], 1)
        out["stage_cpu_speedup_over_defaults_all_frames"] = round(
            f["defaults_all_frames_cpu_s"] / max(f["ours_stage_cpu_s"], 1e-9), 1)
    return out


if __name__ == "__main__":
    sys.exit(main())
