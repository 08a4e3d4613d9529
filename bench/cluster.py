"""Cluster benchmark: what the Ray path costs, and per-frame costs for the 337K-clip plan.

    nice .venv/bin/python bench/cluster.py [--clips 4] [--repeat 1] [--no-frame-costs]

1. The same small extract (depth, pose, refs on tiny random models from `any2capins models
   tiny`; the bundled clips, one clip per shard) run as a user runs it, `any2capins extract`
   in a subprocess, three ways: in-process (`runtime.executor=local`), on the embedded Ray
   cluster the command starts itself, and attached to a cluster started apart (`ray start
   --head`, token auth on, RAY_ADDRESS). Figures: command wall time per mode (best of
   --repeat, modes alternating within a round), and Ray start-up seconds: `ensure_ray` alone in
   a fresh process (embedded: starting a cluster; attached: connecting to one).
2. Per-frame CPU costs at production architecture sizes (random weights: compute, not
   accuracy; models built by bench/extract.py): decode (PyAV, 1 thread), depth (Depth Anything
   V2 Small architecture, 1 thread), pose (RT-DETR-R18 detector + ViT-S VitPose, 1 thread).
   docs/cluster.md turns these into the GPU plan, with its assumptions said as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
CLI = str(Path(sys.executable).with_name("any2capins"))
CLIPS = ["vp9_bear.webm", "vp8_flower_cc0.webm", "people_selfie_1s.mp4",
         "people_bedroom_kids_jumping.mp4", "people_his_girl_friday_pd.mp4"]


def tiny_sets(models: Path) -> list[str]:
    sets = ["runtime.progress=false", "sheet.during_extract=false",
            f"depth.model={models / 'depth'}", "depth.input_size=70", "depth.store_max_side=64",
            f"pose.detector.model={models / 'detector'}",
            f"pose.vitpose.model={models / 'vitpose'}", "pose.detector.input_size=160",
            f"refs.detector.model={models / 'detector'}", "refs.detector.input_size=160"]
    for stage in ("depth", "pose", "refs"):
        sets.append(f"{stage}.resources={{workers: 1, num_cpus: 0.5, torch_threads: 1}}")
    return [x for s in sets for x in ("--set", s)]


def prepare(tmp: Path, n_clips: int) -> tuple[Path, Path]:
    """An ingested run folder (one clip per shard) and tiny models."""
    src = tmp / "src"
    src.mkdir()
    for name in CLIPS[:n_clips]:
        shutil.copy(ROOT / "examples" / "clips" / name, src / name)
    base = tmp / "base"
    subprocess.run([CLI, "ingest", str(src), "--out", str(base), "--set",
                    "runtime.executor=local", "--set", "runtime.progress=false", "--set",
                    "ingest.clips_per_shard=1"], check=True, capture_output=True)
    subprocess.run([CLI, "models", "tiny", str(tmp / "models")], check=True,
                   capture_output=True)
    return base, tmp / "models"


def timed_extract(base: Path, run: Path, models: Path, env: dict[str, str],
                  executor: str) -> float:
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    cmd = [CLI, "extract", "--run", str(run), "--stages", "depth,pose,refs", *tiny_sets(models),
           "--set", f"runtime.executor={executor}", "--set", "runtime.num_cpus=2"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{executor}: {out.stderr[-2000:]}")
    return wall


STARTUP = """
import time, sys
from any2capins.config.base import RuntimeConfig
from any2capins.runtime.cluster import ensure_ray
t0 = time.perf_counter()
ensure_ray(RuntimeConfig(num_cpus=2))
print(time.perf_counter() - t0)
"""


def startup_seconds(env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", STARTUP], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def frame_costs(tmp: Path, frames: int) -> dict[str, float]:
    """CPU seconds per frame at production sizes, 1 thread (see the module docstring)."""
    import torch
    from extract import bare_depth, bare_pose, bench_models  # bench/extract.py

    from any2capins.config import load_config
    from any2capins.io.frames import sample_frames

    torch.set_num_threads(1)
    clip = ROOT / "examples" / "clips" / "people_his_girl_friday_pd.mp4"
    t0 = time.perf_counter()
    sampled = sample_frames(str(clip), fps=None, count=frames, max_side=640)
    decode = (time.perf_counter() - t0) / len(sampled.indices)
    models = bench_models(Path(tempfile.gettempdir()) / "a2c-bench-models", quick=False)
    cfg = load_config([], [f"depth.model={models['depth']}", "depth.input_size=518",
                           f"pose.detector.model={models['detector']}",
                           f"pose.vitpose.model={models['vitpose']}",
                           "pose.detector.input_size=640", "pose.detector.threshold=0.3",
                           "pose.detector.max_detections=3"])
    return {"decode_s_per_frame": round(decode, 4),
            "depth_s_per_frame": round(bare_depth(cfg, sampled.frames), 4),
            "pose_s_per_frame": round(bare_pose(cfg, sampled.frames), 4),
            "frames": len(sampled.indices)}


def main() -> None:
    from cluster_helpers import StartedCluster
    from results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--frames", type=int, default=6, help="frames for the per-frame costs")
    ap.add_argument("--no-frame-costs", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="a2c-bench-cluster-"))
    base_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    base_env.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    t0 = time.perf_counter()
    cluster = StartedCluster(num_cpus=2, resources="{}",
                             pythonpath=str(ROOT)).start()
    cluster_start = time.perf_counter() - t0
    try:
        base, models = prepare(tmp, args.clips)
        envs = {"in-process": (base_env, "local"), "embedded": (base_env, "ray"),
                "attached": (cluster.env(), "ray")}
        walls: dict[str, list[float]] = {m: [] for m in envs}
        for _ in range(args.repeat):
            for mode, (env, executor) in envs.items():
                walls[mode].append(timed_extract(base, tmp / mode, models, env, executor))
                print(f"{mode:<11} {walls[mode][-1]:6.1f} s", flush=True)
        start_embedded = startup_seconds(base_env)
        start_attached = startup_seconds(cluster.env())
    finally:
        cluster.stop()
    best = {m: round(min(v), 2) for m, v in walls.items()}
    figures = {"clips": args.clips, "wall_in_process_s": best["in-process"],
               "wall_embedded_s": best["embedded"], "wall_attached_s": best["attached"],
               "startup_embedded_s": round(start_embedded, 2),
               "startup_attached_s": round(start_attached, 2),
               "cluster_start_s": round(cluster_start, 2),
               "embedded_over_in_process": round(best["embedded"] / best["in-process"], 2),
               "attached_over_in_process": round(best["attached"] / best["in-process"], 2)}
    if not args.no_frame_costs:
        figures |= frame_costs(tmp, args.frames)
    shutil.rmtree(tmp, ignore_errors=True)
    table = [["mode", "extract wall (s)", "Ray start-up (s)"],
             ["in-process (executor=local)", best["in-process"], "0"],
             ["embedded Ray cluster", best["embedded"], round(start_embedded, 2)],
             ["attached cluster (RAY_ADDRESS)", best["attached"], round(start_attached, 2)]]
    notes = (f"extract --stages depth,pose,refs of {args.clips} bundled clips (one per shard) "
             "on tiny random models, 1 worker per stage, as a subprocess per mode; best of "
             f"{args.repeat}. Start-up: ensure_ray alone in a fresh process. The attached "
             f"cluster (`ray start --head`, 2 CPUs) took {cluster_start:.1f} s to start, once, "
             "outside the commands. Per-frame CPU costs: production-size architectures with "
             "random weights, 1 thread (decode at max side 640; depth input 518; pose detector "
             "640 + ViT-S VitPose on up to 3 boxes).")
    print(figures)
    write_results("cluster", figures, table=table, notes=notes)


if __name__ == "__main__":
    main()
