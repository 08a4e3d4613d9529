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
3. One pass, now vs before (`--only decode [--baseline e244c89] [--skip-old-way]`, results in
   bench/results/extract_decode.json): the bundled clips through `extract` (every stage +
   contact sheets, tiny models, in-process executor, 1 torch thread) as a subprocess, the
   code of commit REF (a git worktree under /tmp, run with PYTHONPATH; removed at the end)
   against the current code, same settings and clips, fresh run folders, alternating rounds,
   best of --repeat: current/baseline wall ratio (target <= 1.0 within noise), decoder opens
   per clip of both (ANY2CAPINS_DECODE_LOG, target 1.0), load average. Then, in this process,
   the current code's old way (each stage alone, decoding for itself, then the sheets) against
   its one pass (wall, opens, decode seconds), and the one decode pass of a synthetic 60 s
   1080p clip for every stage's default frame request + the sheet's (runtime.frames.
   decode_clip): bytes held, tracemalloc peak, decode wall.
2. Scaling (depth): 1 worker x 1 thread, 2 workers x 1 thread, 1 worker x 2 threads, on
   --shards identical one-clip shards; processing wall time = first shard start to last shard
   end (actor start and model load excluded; also printed with them). Target: 2x1 over 1x1 >= 1.6.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

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
        "pose.backend=vitpose",  # the bare loop below is VitPose on the detector's boxes
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
    ap.add_argument("--baseline", default="e244c89", metavar="REF",
                    help="decode part: the commit whose `extract` the current one is timed "
                    "against (a git worktree under /tmp)")
    ap.add_argument("--skip-old-way", action="store_true",
                    help="decode part: leave out the in-process each-stage-alone comparison")
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
    ray_tmp = Path("/tmp") / f"a2c-bench-ray-{os.getpid()}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(ray_tmp))
    print(f"clip {Path(args.clip).name}: {args.shards} shards x 1 clip x {args.frames} frames; "
          f"{'tiny' if args.quick else 'production-size random'} models; {os.cpu_count()} CPUs")
    try:
        if args.only != "scaling":
            overhead(args, cfg, clip, run)
        if args.only != "overhead":
            scaling(args, cfg, run)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def overhead(args: argparse.Namespace, cfg, clip, run: Path) -> None:
    from any2capins.conditions.registry import build_stage
    from any2capins.runtime.frames import decode_clip

    print(f"\n1. overhead (1 worker, 1 torch thread): seconds per frame, best of {args.repeat} "
          "alternating rounds")
    for name, bare in (("depth", bare_depth), ("pose", bare_pose)):
        frames = decode_clip(clip, {name: build_stage(name, cfg).frames()}).get(name).frames
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
STAGE_NAMES = ["depth", "pose", "refs", "camera"]


def decode_sets(models: dict[str, str]) -> list[str]:
    """`--set` overrides both the current code and the baseline accept, giving both the same
    work: every stage on the tiny models (pose on vitpose, the baseline's only transformers
    backend), in-process, 1 torch thread, camera on 8 frames at 192 px, sheets during extract."""
    det = ["threshold=0.3", "max_detections=3", "input_size=160", "frame_batch=4"]
    return [
        "runtime.progress=false", "runtime.executor=local",
        f"depth.model={models['depth']}", "depth.input_size=70", "depth.store_max_side=64",
        "depth.sampling.fps=4", "pose.backend=vitpose",
        f"pose.detector.model={models['detector']}", f"pose.vitpose.model={models['vitpose']}",
        "pose.sampling.fps=4", "pose.sampling.max_frames=48", "pose.sampling.max_side=320",
        *(f"pose.detector.{d}" for d in det),
        f"refs.detector.model={models['detector']}", "refs.min_box_frac=0", "refs.sampling.fps=4",
        "refs.sampling.count=null", "refs.sampling.max_frames=48", "refs.sampling.max_side=320",
        *(f"refs.detector.{d}" for d in det),
        "camera.count=8", "camera.max_side=192", "camera.num_threads=1",
        *(f"{s}.resources.torch_threads=1" for s in ("depth", "pose", "refs")),
        "sheet.during_extract=true",
    ]


def new_only() -> list[str]:
    """Settings the baseline does not know, at the values that make the current code's work
    the same as the baseline's: no SAM2 masks, no curation pass before the conditions."""
    from any2capins.config import load_config

    cfg = load_config([], [])
    out = ["refs.segment=none"] if hasattr(cfg.refs, "segment") else []
    return out + (["filter.enabled=false"] if hasattr(cfg, "filter") else [])


def _tasks(run: Path) -> list:
    from any2capins.io.shards import ShardStore
    from any2capins.models.tables import folder
    from any2capins.runtime import ShardTask

    clips = folder("clips")
    return [ShardTask(index=i, input_dir=clips) for i in ShardStore(str(run)).shard_indices(clips)]


def _old_way(cfg, run: Path, names: list[str]):
    """Each stage alone (`extract --stages X` with sheets off: decoding for itself), then
    `sheet --all` (decoding again); the passes' decode figures, merged."""
    from any2capins.conditions.registry import build_stage
    from any2capins.conditions.sheet_stage import SheetStage
    from any2capins.runtime import run_pass
    from any2capins.runtime.frames import DecodeStats

    stats = DecodeStats()
    for stages in [[build_stage(n, cfg)] for n in names] + [[SheetStage(cfg.sheet, str(run))]]:
        res = run_pass(stages, _tasks(run), str(run), cfg.runtime, decode=cfg.decode, force=True)
        stats.merge(res.decode)
    return stats


def _new_way(cfg, run: Path, names: list[str]):
    """`extract`'s one pass: every stage and the sheet, one decode per clip."""
    from any2capins.conditions.registry import build_stage
    from any2capins.conditions.sheet_stage import SheetStage
    from any2capins.runtime import run_pass

    stages = [*(build_stage(n, cfg) for n in names), SheetStage(cfg.sheet, str(run))]
    return run_pass(stages, _tasks(run), str(run), cfg.runtime, decode=cfg.decode,
                    force=True).decode


def _opens(log: Path, n_clips: int) -> float:
    return len(log.read_text().splitlines()) / n_clips if log.exists() else 0.0


def _timed(fn, log: Path, n_clips: int):
    """(wall seconds, decoder opens per clip, result) of one call in this process."""
    log.unlink(missing_ok=True)
    os.environ["ANY2CAPINS_DECODE_LOG"] = str(log)
    try:
        t0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
    finally:
        del os.environ["ANY2CAPINS_DECODE_LOG"]
    return wall, _opens(log, n_clips), result


def _cli(code: Path, args: list[str], log: Path, env: dict[str, str]) -> float:
    """`python -m any2capins.cli ARGS` of checkout `code` in the log's folder; wall seconds.
    A failure stops the benchmark with the command's output."""
    from baseline import PY

    t0 = time.perf_counter()
    out = subprocess.run([PY, "-m", "any2capins.cli", *args], capture_output=True, text=True,
                         env=env, cwd=log.parent, check=False)
    wall = time.perf_counter() - t0
    log.with_suffix(".out").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} ({code}) exited {out.returncode}:\n"
                         f"{(out.stdout + out.stderr)[-3000:]}")
    return wall


def _template(code: Path, tmp: Path, src: Path, name: str) -> Path:
    """clips/ of the bundled clips, ingested by checkout `code` (each code reads its own run
    folders), whole files (the clips are single shots)."""
    from baseline import code_env

    run = tmp / name
    _cli(code, ["ingest", str(src), "--out", str(run), "--set", "ingest.shots.detect=false",
                "--set", "runtime.executor=local", "--set", "runtime.progress=false"],
         tmp / f"{name}.ingest", code_env(code))
    return run


def tiny_models(folder: Path, tmp: Path) -> dict[str, str]:
    """Every stage's tiny models, written by the current code's `any2capins models tiny`
    (idempotent); {name: folder}. The baseline loads the same folders."""
    from baseline import code_env

    log = tmp / "models-tiny"
    _cli(ROOT, ["models", "tiny", str(folder)], log, code_env(ROOT))
    text = log.with_suffix(".out").read_text().splitlines()
    return dict(ln.split(maxsplit=1) for ln in text if ln.strip() and "/" in ln
                and len(ln.split()) == 2)


def filter_opens(tmp: Path, sets: list[str], models: dict[str, str], n: int) -> dict[str, Any]:
    """The current `extract` once more with its curation pass on (the default; tiny CLIP):
    its wall and decoder opens per clip (the filter pass decodes for its signals)."""
    from baseline import code_env

    run = tmp / "current-filter"
    shutil.copytree(tmp / "template-current", run)
    log = tmp / "current-filter.opens"
    extra = [x for x in new_only() if not x.startswith("filter.")]
    extra.append(f"filter.embedding.model={models['clip']}")
    wall = _cli(ROOT, ["extract", "--run", str(run),
                       *(x for s in [*sets, *extra] for x in ("--set", s))], log,
                code_env(ROOT, ANY2CAPINS_DECODE_LOG=str(log)))
    opens = _opens(log, n)
    print(f"  current extract with its curation pass (filter.enabled, the default): "
          f"{wall:6.1f} s, {opens:.1f} decoder opens/clip")
    shutil.rmtree(run, ignore_errors=True)
    return {"current_with_filter_wall_s": round(wall, 2),
            "current_with_filter_opens_per_clip": round(opens, 2)}


def baseline_rounds(args: argparse.Namespace, tmp: Path, src: Path, sets: list[str],
                    n: int) -> dict[str, list[tuple[float, float]]]:
    """`extract` of the baseline checkout and of the current code, each a subprocess on a
    fresh copy of its own ingested clips, alternating (the order flips every round, so load
    drifts hit both alike); (wall s, decoder opens per clip) per round."""
    from baseline import code_env, commit_of, worktree

    rows: dict[str, list[tuple[float, float]]] = {"baseline": [], "current": []}
    with worktree(args.baseline) as base:
        print(f"baseline: {args.baseline} ({commit_of(base)}) at {base}")
        codes = {"baseline": (base, sets), "current": (ROOT, [*sets, *new_only()])}
        templates = {k: _template(code, tmp, src, f"template-{k}") for k, (code, _) in
                     codes.items()}
        for r in range(args.repeat):
            order = ["baseline", "current"] if r % 2 == 0 else ["current", "baseline"]
            for side in order:
                code, side_sets = codes[side]
                run = tmp / f"{side}-{r}"
                shutil.copytree(templates[side], run)
                log = tmp / f"{side}-{r}.opens"
                wall = _cli(code, ["extract", "--run", str(run),
                                   *(x for s in side_sets for x in ("--set", s))], log,
                            code_env(code, ANY2CAPINS_DECODE_LOG=str(log)))
                rows[side].append((wall, _opens(log, n)))
                print(f"  round {r + 1} {side:<8} extract {wall:6.1f} s, "
                      f"{rows[side][-1][1]:.1f} decoder opens/clip  (load "
                      f"{os.getloadavg()[0]:.1f})")
                shutil.rmtree(run, ignore_errors=True)
    return rows


def in_process_rounds(args: argparse.Namespace, tmp: Path, src: Path, sets: list[str],
                      n: int) -> dict[str, list[tuple[float, float, float]]]:
    """The current code in this process: each stage alone then the sheets (old way) against
    one pass; (wall s, opens per clip, decode s) per round."""
    from baseline import code_env

    from any2capins.config import load_config

    if not (tmp / "template-current").exists():
        _template(ROOT, tmp, src, "template-current")
    cfg = load_config([], [*sets, *new_only()])
    rows: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
    os.environ.update({k: v for k, v in code_env(ROOT).items() if k == "OMP_NUM_THREADS"})
    for r in range(args.repeat):
        for way, fn in (("old", _old_way), ("new", _new_way)):
            run = tmp / f"inproc-{way}-{r}"
            shutil.copytree(tmp / "template-current", run)
            wall, opens, stats = _timed(lambda f=fn, d=run: f(cfg, d, STAGE_NAMES),
                                        tmp / f"inproc-{way}.opens", n)
            rows[way].append((wall, opens, stats.seconds))
            print(f"  round {r + 1} in-process {way}: {wall:6.1f} s, {opens:.1f} opens/clip, "
                  f"decode {stats.seconds:.2f} s")
            shutil.rmtree(run, ignore_errors=True)
    return rows


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
    """The one decode pass of a synthetic long 1080p clip for the frame requests of every
    stage at its default settings plus the sheet (`runtime.frames.decode_clip`, as extract)."""
    import tracemalloc

    from any2capins.conditions.registry import build_stage
    from any2capins.conditions.sheet_stage import sheet_request
    from any2capins.config.ingest import IngestConfig
    from any2capins.ingest.stage import ProbeStage
    from any2capins.models.clips import SourceRecord
    from any2capins.runtime.frames import decode_clip

    path = long_clip(tmp / f"long_{int(seconds)}s_1080p.mp4", seconds)
    ingest = IngestConfig.model_validate({"shots": {"detect": False}})  # the whole file: 1 clip
    (rows,) = ProbeStage(ingest).process_batch([SourceRecord(uri=str(path), index=0)])
    clip = rows[0]
    requests = {n: build_stage(n, cfg).frames() for n in STAGE_NAMES}
    requests["sheet"] = sheet_request(cfg.sheet)
    tracemalloc.start()
    got = decode_clip(clip, requests, cfg.decode)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if got.error:
        raise SystemExit(f"long clip did not decode: {got.error}")
    unique = {id(s.frames): len(s.indices) for s in got.frames.values()}
    return {"long_clip_seconds": round(clip.duration_s, 2),
            "long_plan_mb": round(got.nbytes / 2**20, 1),
            "long_plan_traced_peak_mb": round(peak / 2**20, 1),
            "long_plan_frames": sum(unique.values()),
            "long_decode_s": round(got.seconds, 2)}


def decode_part(args: argparse.Namespace) -> None:
    import sys

    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]
    from results import write_results

    from any2capins.config import load_config

    tmp = Path(tempfile.mkdtemp(prefix="a2c-bench-decode-"))
    names = DECODE_CLIPS[:2] if args.quick else DECODE_CLIPS
    src = tmp / "src"
    src.mkdir()
    for name in names:
        shutil.copy(ROOT / "examples" / "clips" / name, src / name)
    models = tiny_models(Path(tempfile.gettempdir()) / "a2c-bench-models" / "tiny", tmp)
    sets, n = decode_sets(models), len(names)
    load0 = os.getloadavg()[0]
    print(f"{n} clips, every stage + sheets, tiny models, in-process, 1 torch thread; best of "
          f"{args.repeat} alternating rounds; load average {load0:.1f} on {os.cpu_count()} CPUs")
    sub = baseline_rounds(args, tmp, src, sets, n)
    with_filter = filter_opens(tmp, sets, models, n) if "clip" in models else {}
    figures: dict[str, object] = {"clips": n, "rounds": args.repeat, "baseline": args.baseline}
    base, cur = min(sub["baseline"]), min(sub["current"])
    figures |= {"baseline_wall_s": round(base[0], 2), "current_wall_s": round(cur[0], 2),
                "wall_ratio_current_over_baseline": round(cur[0] / base[0], 2),
                "baseline_opens_per_clip": round(max(o for _, o in sub["baseline"]), 2),
                "current_opens_per_clip": round(max(o for _, o in sub["current"]), 2)}
    table = [["run", "wall s (best)", "rounds s", "decoder opens / clip"],
             [f"extract, baseline {args.baseline}", f"{base[0]:.1f}",
              " ".join(f"{w:.1f}" for w, _ in sub["baseline"]),
              f"{figures['baseline_opens_per_clip']:.1f}"],
             ["extract, current", f"{cur[0]:.1f}", " ".join(f"{w:.1f}" for w, _ in sub["current"]),
              f"{figures['current_opens_per_clip']:.1f}"]]
    figures |= with_filter
    if with_filter:
        wall, opens = (with_filter[f"current_with_filter_{k}"] for k in ("wall_s",
                                                                          "opens_per_clip"))
        table.append(["extract, current, curation pass on", f"{wall:.1f}", "1 run",
                      f"{opens:.1f}"])
    if not args.skip_old_way:
        ways = in_process_rounds(args, tmp, src, sets, n)
        old, new = min(ways["old"]), min(ways["new"])
        figures |= {"old_way_wall_s": round(old[0], 2), "one_pass_wall_s": round(new[0], 2),
                    "wall_ratio_old_way_over_one_pass": round(old[0] / new[0], 2),
                    "old_way_opens_per_clip": round(old[1], 2),
                    "one_pass_opens_per_clip": round(new[1], 2),
                    "old_way_decode_s": round(old[2], 2), "one_pass_decode_s": round(new[2], 2)}
        table += [["in-process, each stage alone + sheets", f"{old[0]:.1f}",
                   " ".join(f"{w:.1f}" for w, _, _ in ways["old"]), f"{old[1]:.1f}"],
                  ["in-process, one pass", f"{new[0]:.1f}",
                   " ".join(f"{w:.1f}" for w, _, _ in ways["new"]), f"{new[1]:.1f}"]]
    figures |= long_plan(load_config([], []), args.long_seconds, tmp)
    figures["load_avg_start"] = round(load0, 2)
    for row in table:
        print("  ".join(f"{c!s:>14}" for c in row))
    print(f"current/baseline wall: {figures['wall_ratio_current_over_baseline']} (target <= 1.0 "
          f"within noise); decoder opens per clip: baseline {figures['baseline_opens_per_clip']}"
          f", current {figures['current_opens_per_clip']} (target 1.0)")
    print(figures)
    shutil.rmtree(tmp, ignore_errors=True)
    write_results("extract_decode", figures, table=table, command=(
        f".venv/bin/python bench/extract.py --only decode --baseline {args.baseline} "
        f"--repeat {args.repeat}{' --quick' if args.quick else ''}"), notes=(
        f"{n} bundled clips through every condition stage plus contact sheets (tiny models, "
        "pose on vitpose, camera on 8 frames at 192 px, in-process executor, 1 torch thread), "
        f"best of {args.repeat} alternating rounds. baseline/current: `extract` as a "
        f"subprocess, the code of commit {args.baseline} (a git worktree, PYTHONPATH) against "
        "the current code, same settings, same clips, fresh run folders; target: current/"
        "baseline wall <= 1.0 within noise and 1 decoder open per clip (ANY2CAPINS_DECODE_LOG). "
        "current_with_filter: the current extract once more with its curation pass on (the "
        "default, tiny CLIP), which decodes each clip once for the filter's signals before the "
        "condition pass. old_way/one_pass: the current code in one process, each stage alone "
        "then the sheets (5 decodes per clip) against one pass. long_*: the one decode pass "
        "of a synthetic 1080p30 clip for the default frame requests of every stage and the "
        "sheet (bytes held by the frames, tracemalloc peak, decode wall)."))


if __name__ == "__main__":
    main()
