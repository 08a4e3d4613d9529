"""Extract benchmark: depth and pose stages through the pipeline against bare model loops, and
Ray worker/thread splits on this machine.

    .venv/bin/python bench/extract.py [--clip examples/clips/people_his_girl_friday_pd.mp4]
                                      [--shards 4] [--frames 6] [--quick]

No hub is reachable, so it builds randomly-initialised models with the *architecture sizes* of
the production defaults' small variants (Depth Anything V2 Small: DINOv2 ViT-S/14; RT-DETR with
a ResNet-18 backbone; VitPose with a ViT-S backbone) in /tmp/a2c-bench-models: compute per
frame is what matters here, not the weights. `--quick` uses the tiny test models instead.

1. Overhead: per-frame time of each stage through the pipeline (Ray, 1 worker, 1 torch thread;
   the workers' own shard timings: decode, model, encoding, Parquet write; actor start and model
   load excluded) against a bare loop calling the same processor + model on the same,
   pre-decoded frames (pose: detector, then the pose model on the same boxes), 1 thread.
   Target: ratio <= 1.15.
2. Scaling (depth): 1 worker x 1 thread, 2 workers x 1 thread, 1 worker x 2 threads, on
   --shards identical one-clip shards; processing wall time = first shard start to last shard
   end (actor start and model load excluded; also printed with them). Target: 2x1 over 1x1 >= 1.6.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench_models(root: Path, quick: bool) -> dict[str, str]:
    """Random models at production-like sizes (or the tiny ones with --quick)."""
    import torch

    from any2capins.conditions.models_tiny import write_tiny_models

    if quick:
        return write_tiny_models(root / "tiny")
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrImageProcessor,
        RTDetrResNetConfig,
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    from any2capins.conditions.models_tiny import COCO_CLASSES, COCO_KEYPOINTS

    torch.manual_seed(0)
    out = {k: str(root / k) for k in ("depth", "detector", "vitpose")}
    if not (root / "depth" / "config.json").is_file():
        bb = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                          intermediate_size=1536, image_size=518, patch_size=14,
                          reshape_hidden_states=False,
                          out_features=["stage3", "stage6", "stage9", "stage12"])
        cfg = DepthAnythingConfig(backbone_config=bb, fusion_hidden_size=64,
                                  neck_hidden_sizes=[48, 96, 192, 384], reassemble_hidden_size=384)
        DepthAnythingForDepthEstimation(cfg).save_pretrained(out["depth"])
        DPTImageProcessor(keep_aspect_ratio=False, ensure_multiple_of=14,
                          do_pad=False).save_pretrained(out["depth"])
    if not (root / "detector" / "config.json").is_file():
        bb = RTDetrResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                                depths=[2, 2, 2, 2], layer_type="basic",
                                out_features=["stage2", "stage3", "stage4"])
        cfg = RTDetrConfig(backbone_config=bb, encoder_in_channels=[128, 256, 512],
                           decoder_layers=3, num_denoising=0,
                           id2label=dict(enumerate(COCO_CLASSES)),
                           label2id={n: i for i, n in enumerate(COCO_CLASSES)})
        model = RTDetrForObjectDetection(cfg)
        with torch.no_grad():  # as the tiny one: make the random detector report people
            for name, module in model.named_modules():
                if name.endswith(("enc_score_head", *(f"class_embed.{i}" for i in range(3)))):
                    module.bias[0] += 6.0
        model.save_pretrained(out["detector"])
        RTDetrImageProcessor().save_pretrained(out["detector"])
    if not (root / "vitpose" / "config.json").is_file():
        bb = VitPoseBackboneConfig(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                                   image_size=[256, 192], patch_size=[16, 16], out_indices=[12])
        cfg = VitPoseConfig(backbone_config=bb, use_simple_decoder=True, num_labels=17,
                            id2label=dict(enumerate(COCO_KEYPOINTS)),
                            label2id={n: i for i, n in enumerate(COCO_KEYPOINTS)})
        VitPoseForPoseEstimation(cfg).save_pretrained(out["vitpose"])
        VitPoseImageProcessor().save_pretrained(out["vitpose"])
    return out


def prepare_run(tmp: Path, clip: Path, shards: int) -> tuple[Path, object]:
    from conditions_helpers import probe_clip, write_clips

    record = probe_clip(clip)
    run = tmp / "run"
    write_clips(run, [[record] for _ in range(shards)])
    return run, record


def overrides(models: dict[str, str], frames: int, quick: bool) -> list[str]:
    size = 160 if quick else 640
    return [
        "runtime.progress=false", "runtime.executor=ray",
        f"depth.model={models['depth']}", f"depth.input_size={140 if quick else 364}",
        f"depth.sampling.count={frames}", "depth.sampling.fps=null", "depth.frame_batch=1",
        f"pose.detector.model={models['detector']}", f"pose.vitpose.model={models['vitpose']}",
        f"pose.sampling.count={frames}", "pose.sampling.fps=null", "pose.detector.frame_batch=1",
        f"pose.detector.input_size={size}", "pose.detector.threshold=0.3",
        "pose.detector.max_detections=3", "pose.vitpose.box_batch=3",
    ]


def pipeline_per_frame(name: str, cfg, run: Path, shards: int, workers: int,
                       threads: int) -> dict[str, float]:
    """Run stage `name` fresh; per-frame seconds from the workers' shard timings, and walls."""
    from any2capins.conditions.registry import build_stage
    from any2capins.io.shards import ShardStore
    from any2capins.runtime import ShardTask, run_stage

    section = getattr(cfg, name)
    section.resources = section.resources.model_copy(update={
        "workers": workers, "num_cpus": 1, "torch_threads": threads, "batch_size": 1})
    stage = build_stage(name, cfg)
    t0 = time.perf_counter()
    run_stage(stage, [ShardTask(i, "clips") for i in range(shards)], str(run), cfg.runtime,
              force=True)
    wall = time.perf_counter() - t0
    store = ShardStore(str(run))
    done = [store.done(name, i) for i in range(shards)]
    model = type(stage).output_model
    frames = sum(len(r.frame_indices) for i in range(shards)
                 for r in store.read_shard(stage.output_dir, i, model))
    span = (max(d.finished for d in done) - min(d.started for d in done)).total_seconds()
    return {"per_frame": sum(d.seconds for d in done) / frames, "wall": wall,
            "processing_wall": span, "frames": frames}


def bare_depth(cfg, frames) -> float:
    """Seconds per frame: processor + model forward, one frame at a time, 1 thread."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    from any2capins.conditions.depth import model_input_size

    proc = AutoImageProcessor.from_pretrained(cfg.depth.model)
    model = AutoModelForDepthEstimation.from_pretrained(cfg.depth.model).eval()
    w, h = model_input_size(frames.shape[2], frames.shape[1], cfg.depth.input_size)
    t0 = time.perf_counter()
    for f in frames:
        px = proc(images=[f], return_tensors="pt", size={"height": h, "width": w},
                  keep_aspect_ratio=False, do_pad=False)["pixel_values"]
        with torch.inference_mode():
            model(pixel_values=px)
    return (time.perf_counter() - t0) / len(frames)


def bare_pose(cfg, frames) -> float:
    """Seconds per frame: detector, then the pose model on the same person boxes."""
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForObjectDetection,
        VitPoseForPoseEstimation,
    )

    dproc = AutoImageProcessor.from_pretrained(cfg.pose.detector.model)
    det = AutoModelForObjectDetection.from_pretrained(cfg.pose.detector.model).eval()
    pproc = AutoImageProcessor.from_pretrained(cfg.pose.vitpose.model)
    pose = VitPoseForPoseEstimation.from_pretrained(cfg.pose.vitpose.model).eval()
    s = cfg.pose.detector.input_size
    h, w = frames.shape[1:3]
    t0 = time.perf_counter()
    for f in frames:
        inputs = dproc(images=[f], return_tensors="pt", size={"height": s, "width": s})
        with torch.inference_mode():
            raw = det(**inputs)
        res = dproc.post_process_object_detection(raw, threshold=cfg.pose.detector.threshold,
                                                  target_sizes=[(h, w)])[0]
        keep = res["labels"] == 0
        boxes = res["boxes"][keep][: cfg.pose.detector.max_detections].tolist()
        if not boxes:
            continue
        xywh = [[[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in boxes]]
        px = pproc(images=[f], boxes=xywh, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = pose(pixel_values=px)
        pproc.post_process_pose_estimation(out, boxes=xywh)
    return (time.perf_counter() - t0) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=str(ROOT / "examples/clips/people_his_girl_friday_pd.mp4"))
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--frames", type=int, default=6, help="frames sampled per clip")
    ap.add_argument("--quick", action="store_true", help="tiny models (a smoke run)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds; the best of each is kept")
    ap.add_argument("--only", choices=("overhead", "scaling"), help="run one part only")
    args = ap.parse_args()

    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    import ray
    import torch

    from any2capins.config import load_config

    torch.set_num_threads(1)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    models = bench_models(Path(tempfile.gettempdir()) / "a2c-bench-models", args.quick)
    tmp = Path(tempfile.mkdtemp(prefix="a2c-bench-"))
    run, clip = prepare_run(tmp, Path(args.clip), args.shards)
    cfg = load_config([], overrides(models, args.frames, args.quick))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(Path("/tmp") / f"a2c-bench-ray-{os.getpid()}"))
    print(f"clip {Path(args.clip).name}: {args.shards} shards x 1 clip x {args.frames} frames; "
          f"{'tiny' if args.quick else 'production-size random'} models; {os.cpu_count()} CPUs")

    if args.only != "scaling":
        overhead(args, cfg, clip, run)
    if args.only != "overhead":
        scaling(args, cfg, run)
    ray.shutdown()


def overhead(args: argparse.Namespace, cfg, clip, run: Path) -> None:
    from any2capins.conditions.common import decode_clip

    print(f"\n1. overhead (1 worker, 1 torch thread): seconds per frame, best of {args.repeat} "
          "alternating rounds")
    for name, bare in (("depth", bare_depth), ("pose", bare_pose)):
        frames = decode_clip(clip, getattr(cfg, name).sampling).frames
        bs, ps = [], []
        for _ in range(args.repeat):
            bs.append(bare(cfg, frames))
            ps.append(pipeline_per_frame(name, cfg, run, args.shards, 1, 1)["per_frame"])
        print(f"  {name:<6} bare {min(bs):.3f}  pipeline {min(ps):.3f}  "
              f"ratio {min(ps) / min(bs):.2f}  (target <= 1.15; rounds: bare "
              f"{' '.join(f'{b:.2f}' for b in bs)}, pipeline {' '.join(f'{p:.2f}' for p in ps)})")



def scaling(args: argparse.Namespace, cfg, run: Path) -> None:
    print(f"\n2. depth scaling: processing wall (with actor start + model load), best of "
          f"{args.repeat} rounds")
    splits = ((1, 1), (2, 1), (1, 2))
    runs: dict[tuple[int, int], list[dict[str, float]]] = {k: [] for k in splits}
    for _ in range(args.repeat):
        for workers, threads in splits:
            runs[(workers, threads)].append(
                pipeline_per_frame("depth", cfg, run, args.shards, workers, threads))
    base = min(p["processing_wall"] for p in runs[(1, 1)])
    for (workers, threads), ps in runs.items():
        best = min(ps, key=lambda p: p["processing_wall"])
        print(f"  {workers} worker(s) x {threads} thread(s): {best['processing_wall']:6.1f} s "
              f"({best['wall']:6.1f} s)  speed-up {base / best['processing_wall']:.2f}x")


if __name__ == "__main__":
    main()
