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
3. Decode once (`--only decode`, results in bench/results/extract_decode.json): the bundled
   clips through `extract` (every stage + contact sheets, tiny models, in-process) the old way
   (each stage run on its own, decoding for itself, then `sheet --all`) and the new way (one
   decode pass per clip); alternating rounds, best of --repeat: wall-time ratio, decode-time
   ratio, decoder opens per clip (target 1), frame-plan bytes per clip; and the frame plan of a
   synthetic 60 s 1080p clip (default settings of every stage + sheet): bytes held, decode wall.
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
    ap.add_argument("--only", choices=("overhead", "scaling", "decode"),
                    help="run one part only ('decode': one pass per clip vs per-stage decoding)")
    ap.add_argument("--long-seconds", type=float, default=60.0,
                    help="decode part: length of the synthetic 1080p clip for the memory figure")
    args = ap.parse_args()
    if args.only == "decode":
        decode_part(args)
        return

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


DECODE_CLIPS = ("people_selfie_1s.mp4", "vp9_bear.webm", "people_his_girl_friday_pd.mp4",
                "people_bedroom_kids_jumping.mp4", "vp8_flower_cc0.webm")


def _old_way(cfg, run: Path, names: list[str]) -> None:
    """Each stage on its own (decoding for itself), then the sheets (decoding again)."""
    from any2capins.conditions.registry import build_stage
    from any2capins.conditions.sheet import write_sheets
    from any2capins.runtime import ShardTask, run_stage

    for name in names:
        run_stage(build_stage(name, cfg), [ShardTask(0, "clips")], str(run), cfg.runtime,
                  force=True)
    write_sheets(str(run), cfg.sheet)


def _new_way(cfg, run: Path, names: list[str]):
    from any2capins.conditions.extract import run_extract_stages
    from any2capins.conditions.registry import build_stage

    stages = [build_stage(n, cfg) for n in names]
    return run_extract_stages(stages, cfg, str(run), [0], force=True)


def _timed(fn, log: Path, n_clips: int):
    """(wall seconds, decoder opens per clip, result) of one call."""
    log.unlink(missing_ok=True)
    os.environ["ANY2CAPINS_DECODE_LOG"] = str(log)
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    opens = len(log.read_text().splitlines()) if log.exists() else 0
    del os.environ["ANY2CAPINS_DECODE_LOG"]
    return wall, opens / n_clips, result


def _decode_seconds(run: Path, names: list[str]) -> float:
    """Decode seconds the records report, one figure per clip (extract shares one pass)."""
    from any2capins.conditions.sheet import CONDITIONS
    from any2capins.io.shards import ShardStore

    store = ShardStore(str(run))
    per: dict[tuple[str, str], float] = {}
    for name in names:
        if name == "camera":
            continue  # camera records (models/camera.py) do not carry decode_seconds
        for r in store.read_shard(f"conditions/{name}", 0, CONDITIONS[name]):
            per[(name, r.clip_id)] = r.decode_seconds
    return sum(per.values())


def long_clip(path: Path, seconds: float) -> Path:
    """A synthetic 1080p30 H.264 clip (moving gradient; ultrafast, low bitrate: cheap)."""
    import av
    import numpy as np

    if path.exists():
        return path
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 1920, 1080, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "40", "g": "60"}
        yy, xx = np.mgrid[0:1080, 0:1920]
        base = ((xx + yy) % 256).astype(np.uint8)
        for k in range(int(seconds * 30)):
            img = np.stack([np.roll(base, 8 * k, axis=1), np.roll(base, 4 * k, axis=0),
                            np.full_like(base, (k * 3) % 256)], axis=-1)
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path


def long_plan(cfg, seconds: float, tmp: Path) -> dict[str, float]:
    """Frame plan of a synthetic long 1080p clip with every stage's settings + the sheet."""
    import tracemalloc

    from any2capins.conditions.plan import decode_clip_plan, frame_requests
    from any2capins.config.ingest import IngestConfig
    from any2capins.ingest.stage import ProbeStage
    from any2capins.models.clips import SourceRecord

    path = long_clip(tmp / f"long_{int(seconds)}s_1080p.mp4", seconds)
    ingest = IngestConfig.model_validate({"shots": {"detect": False}})  # the whole file: 1 clip
    (rows,) = ProbeStage(ingest).process_batch([SourceRecord(uri=str(path), index=0)])
    clip = rows[0]
    requests = frame_requests(cfg, ["depth", "pose", "refs", "camera"], sheet=True)
    tracemalloc.start()
    plan = decode_clip_plan(clip, requests, cfg.decode)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if plan.error:
        raise SystemExit(f"long clip did not decode: {plan.error}")
    return {"long_clip_seconds": round(clip.duration_s, 2),
            "long_plan_mb": round(plan.nbytes / 2**20, 1),
            "long_plan_traced_peak_mb": round(peak / 2**20, 1),
            "long_plan_frames": sum(len(s.indices) for s in plan.frames.values()),
            "long_decode_s": round(plan.seconds, 2)}


def decode_part(args: argparse.Namespace) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "bench"))
    import torch
    from conditions_helpers import make_run, tiny_overrides
    from results import write_results

    from any2capins.config import load_config

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="a2c-bench-decode-"))
    run = make_run(tmp, bad=False, names=DECODE_CLIPS)
    names = ["depth", "pose", "refs", "camera"]
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=local", "camera.count=8",
                           "camera.max_side=192", "sheet.during_extract=true"])
    n = len(DECODE_CLIPS)
    log = tmp / "opens.log"
    rows: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
    plan_bytes: list[int] = []
    for _ in range(args.repeat):
        wall, opens, _ = _timed(lambda: _old_way(cfg, run, names), log, n)
        rows["old"].append((wall, opens, _decode_seconds(run, names)))
        wall, opens, res = _timed(lambda: _new_way(cfg, run, names), log, n)
        rows["new"].append((wall, opens, res.decode.seconds))
        plan_bytes = res.decode.plan_bytes
    old, new = min(rows["old"]), min(rows["new"])
    print(f"old (per-stage decoding): {old[0]:.1f} s, {old[1]:.1f} opens/clip, decode "
          f"{old[2]:.2f} s (w/o camera, sheets)")
    print(f"new (one pass per clip):  {new[0]:.1f} s, {new[1]:.1f} opens/clip, decode "
          f"{new[2]:.2f} s (all stages + sheet)")
    figures = {
        "clips": n, "rounds": args.repeat, "old_wall_s": round(old[0], 2),
        "new_wall_s": round(new[0], 2), "wall_ratio_old_over_new": round(old[0] / new[0], 2),
        "old_opens_per_clip": round(old[1], 2), "new_opens_per_clip": round(new[1], 2),
        "old_decode_s_without_camera_and_sheets": round(old[2], 2),
        "new_decode_s_all": round(new[2], 2),
        "plan_mb_per_clip_max": round(max(plan_bytes) / 2**20, 2),
        "plan_mb_per_clip_mean": round(sum(plan_bytes) / len(plan_bytes) / 2**20, 2),
    }
    figures |= long_plan(load_config([], []), args.long_seconds, tmp)
    print(figures)
    table = [["way", "wall s", "decoder opens / clip", "decode s"],
             ["per stage (old)", f"{old[0]:.1f}", f"{old[1]:.1f}", f"{old[2]:.2f} (no camera)"],
             ["one pass (extract)", f"{new[0]:.1f}", f"{new[1]:.1f}", f"{new[2]:.2f}"]]
    write_results("extract_decode", figures, table=table, command=".venv/bin/python "
                  "bench/extract.py --only decode", notes=(
                      f"{n} bundled clips through every condition stage plus contact sheets, tiny "
                      "models, in-process, 1 torch thread, best of alternating rounds. Old: each "
                      "stage run on its own (decoding for itself), then `sheet --all`. New: "
                      "`extract`'s one decode pass per clip. Target: 1 decoder open per clip. "
                      "long_*: the frame plan of a synthetic 1080p30 clip with the default "
                      "settings of every stage and the sheet (bytes held by the decoded frames, "
                      "tracemalloc peak during the pass, decode wall time)."))


if __name__ == "__main__":
    main()
