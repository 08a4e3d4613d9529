"""Curation benchmark: what the quality signals cost per clip against `extract`, and how
near-duplicate search scales.

    nice .venv/bin/python bench/curation.py [--repeat 3] [--sizes 10000,100000] [--no-extract]

1. Signals: the bundled clips' frames sampled with the `filter:` defaults (12 frames, <= 256 px;
   decoding not counted: the frames come from extract's one decode pass), then each signal
   timed alone (best of --repeat) and `QualityScorer.score` as a whole with the default
   settings, twice: with a tiny random CLIP (what the demo runs) and with a random CLIP of the
   default model's architecture (ViT-B/32: same compute as openai/clip-vit-base-patch32, which
   no machine here can download). Per-clip cost against `extract`'s per-clip cost on the same
   clips, measured in the same run: `.venv/bin/any2capins ingest` + `extract` with the demo
   profile (pipelines/demo.yaml, tiny models from `any2capins models tiny`, in-process), wall
   time / clips; and, for the production defaults, a floor of the production extract's cost:
   the depth model (Depth Anything V2 Small's architecture) and the pose stage's person
   detector (RT-DETR, ResNet-18 backbone: lighter than the default R50), random weights, on the
   frames their default sampling plans. Target: signals <= 5% of extract per clip (tiny CLIP
   against the demo extract; B/32 against the production floor).
2. Near-duplicates: synthetic runs of N clips (--sizes) with 12 random 64-bit frame hashes each,
   plus 1% planted re-uploads: 9 of the original's frames (a trim) with 0-10 bits flipped per
   frame (the range measured on re-encoded, half-size, trimmed copies of the bundled clips)
   plus 3 unrelated frames. Recall of the planted pairs, clips wrongly marked, candidate pairs
   against all pairs, seconds. The same with 512-d embeddings (anisotropic like CLIP's: mean
   cosine between unrelated clips ~0.5) and planted copies at cosine 0.95-0.99, hashes off.
Results: bench/results/curation.json (see bench/results.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CLIPS = sorted(p for p in (ROOT / "examples" / "clips").iterdir()
               if p.suffix in (".mp4", ".webm"))
CLI = str(ROOT / ".venv" / "bin" / "any2capins")


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def b32_clip(folder: Path) -> Path:
    """A random CLIP with openai/clip-vit-base-patch32's architecture and preprocessing."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        CLIPModel(CLIPConfig()).save_pretrained(folder)  # defaults = ViT-B/32, 512-d
        CLIPImageProcessor().save_pretrained(folder)
    return folder


def signal_costs(tmp: Path, repeat: int) -> tuple[dict[str, float], list[list[Any]]]:
    """Seconds per clip of each signal and of score() (tiny and B/32 embedding models)."""
    import torch

    from any2capins.config.filter import FilterConfig
    from any2capins.curation import signals as sg
    from any2capins.curation.embedding import tiny_clip
    from any2capins.io.frames import sample_frames

    torch.set_num_threads(1)  # one worker's share, as the stage would run on a 2-core box
    tiny = tiny_clip(tmp / "tiny-clip")
    cfgs = {m: FilterConfig.model_validate({"embedding": {"model": str(p)}})
            for m, p in (("tiny", tiny), ("b32", b32_clip(tmp / "b32-clip")))}
    scorers = {m: sg.QualityScorer(c) for m, c in cfgs.items()}
    for s in scorers.values():
        s.load()
    cfg, parts = cfgs["tiny"], {}
    rows: list[list[Any]] = [["clip", "frames", "motion ms", "bright+sharp ms", "hashes ms",
                              "ocr ms", "emb tiny ms", "emb B/32 ms", "score (tiny) ms",
                              "score (B/32) ms"]]
    for clip in CLIPS:
        s = cfg.sampling
        f = sample_frames(str(clip), count=s.count, max_frames=s.max_frames, max_side=s.max_side)
        t = clip_costs(f, scorers, repeat)
        for k, v in t.items():
            parts.setdefault(k, []).append(v)
        rows.append([clip.name, len(f.indices), *(f"{v * 1000:.1f}" for v in t.values())])
        print(" ".join(str(c) for c in rows[-1]), flush=True)
    return {k: float(np.mean(v)) for k, v in parts.items()}, rows


def clip_costs(f: Any, scorers: dict[str, Any], repeat: int) -> dict[str, float]:
    """Best-of-`repeat` seconds of each signal and of score() on one clip's frames."""
    from any2capins.curation import signals as sg

    cfg = scorers["tiny"].cfg
    g = sg.grey(f.frames)
    _, black = sg.brightness_scores(g, cfg.brightness.black_level)
    return {
        "motion": best(lambda: sg.motion_score(g, f.timestamps, cfg.motion.flow_side), repeat),
        "bright_sharp": best(lambda: (sg.brightness_scores(sg.grey(f.frames), 0.06),
                                      sg.sharpness_score(g, black, cfg.sharpness.side)), repeat),
        "hashes": best(lambda: sg.frame_hashes(f.frames, g, cfg.dedup.hash_size,
                                               cfg.dedup.min_contrast), repeat),
        "ocr": best(lambda: scorers["tiny"]._text(f.frames), repeat),
        "emb_tiny": best(lambda: scorers["tiny"]._embedding(f.frames), repeat),
        "emb_b32": best(lambda: scorers["b32"]._embedding(f.frames), repeat),
        "score_tiny": best(lambda: scorers["tiny"].score(f.frames, f.timestamps), repeat),
        "score_b32": best(lambda: scorers["b32"].score(f.frames, f.timestamps), repeat),
    }


def extract_cost(tmp: Path) -> float:
    """Wall seconds per clip of `ingest` + `extract` (demo profile, in-process) on the
    bundled clips; ingest's share is small (probe only) and is excluded."""
    work = tmp / "extract"
    shutil.rmtree(work, ignore_errors=True)
    (work / "clips").mkdir(parents=True)
    for clip in CLIPS:
        shutil.copy(clip, work / "clips" / clip.name)
    common = ["--config", str(ROOT / "pipelines" / "demo.yaml"),
              "--set", "runtime.executor=local", "--set", "runtime.progress=false"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = lambda *a: subprocess.run([CLI, *a], cwd=work, env=env, check=True,  # noqa: E731
                                    capture_output=True, text=True)
    run("models", "tiny", ".tiny-models")
    run("ingest", "clips", "--out", "run", *common)
    t0 = time.perf_counter()
    run("extract", "--run", "run", *common)
    return (time.perf_counter() - t0) / len(CLIPS)


def _forward_seconds(model: Any, pixels: Any) -> float:
    import torch

    with torch.inference_mode():
        return best(lambda: model(pixel_values=pixels), 2)


def extract_floor(tmp: Path) -> tuple[float, float]:
    """(depth, pose detector) seconds per clip at the production defaults' architectures
    (random weights from bench/extract.py: Depth Anything V2 Small = DINOv2 ViT-S/14 at 518 px;
    RT-DETR with a ResNet-18 backbone at 640 px, lighter than the default R50) on the frames
    their default sampling plans (depth 2 fps <= 32, pose 4 fps <= 48): one forward pass per
    clip timed (best of 2, 1 thread) x the planned frame count. A floor of the production
    extract's cost per clip: pose keypoints, reference crops (SAM2) and camera come on top."""
    from extract import bench_models
    from transformers import (
        AutoImageProcessor,
        AutoModelForDepthEstimation,
        AutoModelForObjectDetection,
    )

    from any2capins.config.depth import DepthConfig
    from any2capins.config.pose import PoseConfig
    from any2capins.io.frames import sample_frames

    folders = bench_models(tmp / "bench-models", quick=False)
    depth = AutoModelForDepthEstimation.from_pretrained(folders["depth"]).eval()
    depth_proc = AutoImageProcessor.from_pretrained(folders["depth"])
    det = AutoModelForObjectDetection.from_pretrained(folders["detector"]).eval()
    det_proc = AutoImageProcessor.from_pretrained(folders["detector"])
    dcfg, pcfg = DepthConfig(), PoseConfig()
    side = pcfg.detector.input_size or 640
    per_clip: list[tuple[float, float]] = []
    for clip in CLIPS:
        plans = [sample_frames(str(clip), fps=s.fps, count=s.count, max_frames=s.max_frames,
                               max_side=s.max_side) for s in (dcfg.sampling, pcfg.sampling)]
        h, w = plans[0].frames.shape[1:3]
        scale = dcfg.input_size / max(h, w)
        size = {"height": round(h * scale / 14) * 14, "width": round(w * scale / 14) * 14}
        d_in = depth_proc(images=[plans[0].frames[0]], return_tensors="pt", size=size,
                          keep_aspect_ratio=False, do_pad=False)["pixel_values"]
        p_in = det_proc(images=[plans[1].frames[0]], return_tensors="pt",
                        size={"height": side, "width": side})["pixel_values"]
        d_s, p_s = _forward_seconds(depth, d_in), _forward_seconds(det, p_in)
        per_clip.append((d_s * len(plans[0].indices), p_s * len(plans[1].indices)))
        print(f"extract floor {clip.name}: depth {len(plans[0].indices)} x {d_s:.2f} s, "
              f"detector {len(plans[1].indices)} x {p_s:.2f} s", flush=True)
    return (float(np.mean([d for d, _ in per_clip])), float(np.mean([p for _, p in per_clip])))

def _flip(h: int, n: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), n):
        h ^= 1 << bit
    return h


def hash_run(n: int, seed: int = 0) -> tuple[list[Any], dict[str, str]]:
    from any2capins.curation.dedup import DedupEntry

    rng = random.Random(seed)
    entries = [DedupEntry(f"c{i:07d}", 10.0, 640, 360,
                          tuple(f"{rng.getrandbits(64):016x}" for _ in range(12)))
               for i in range(n)]
    planted = {}
    for i in rng.sample(range(n), n // 100):
        orig = entries[i]
        start = rng.randint(0, 3)
        frames = [_flip(int(h, 16), rng.randint(0, 10), rng) for h in orig.hashes[start:start + 9]]
        frames += [rng.getrandbits(64) for _ in range(3)]
        copy = DedupEntry(f"d{i:07d}", 7.0, 320, 180, tuple(f"{h:016x}" for h in frames))
        entries.append(copy)
        planted[copy.clip_id] = orig.clip_id
    return entries, planted


def embedding_run(n: int, dim: int = 512, seed: int = 0) -> tuple[list[Any], dict[str, str]]:
    from any2capins.curation.dedup import DedupEntry

    rng = np.random.default_rng(seed)
    common = rng.standard_normal(dim).astype(np.float32)
    common /= np.linalg.norm(common)
    emb = rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    emb += common  # a shared direction: unrelated clips at cosine ~0.5, as CLIP's are
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    entries = [DedupEntry(f"c{i:07d}", 10.0, 640, 360, (), emb[i]) for i in range(n)]
    planted = {}
    for i in rng.choice(n, n // 100, replace=False).tolist():
        target = rng.uniform(0.95, 0.99)
        noise = rng.standard_normal(dim).astype(np.float32)
        noise -= (noise @ emb[i]) * emb[i]
        noise /= np.linalg.norm(noise)
        v = target * emb[i] + np.sqrt(1 - target**2) * noise  # cosine = target exactly
        entries.append(DedupEntry(f"d{i:07d}", 7.0, 320, 180, (), v.astype(np.float32)))
        planted[f"d{i:07d}"] = f"c{i:07d}"
    return entries, planted


def dedup_scale(sizes: list[int]) -> tuple[dict[str, float], list[list[Any]]]:
    from any2capins.config.filter import DedupConfig
    from any2capins.curation.dedup import search

    figures: dict[str, float] = {}
    rows: list[list[Any]] = [["kind", "clips", "planted", "recall", "wrong", "candidates",
                              "candidates / all pairs", "seconds"]]
    for kind, build, cfg in (("hashes", hash_run, DedupConfig(embedding_cosine=None)),
                             ("embeddings", embedding_run, DedupConfig())):
        for n in sizes:
            entries, planted = build(n)
            result = search(entries, cfg)
            found = result.duplicate_of
            recall = sum(found.get(k) == v for k, v in planted.items()) / len(planted)
            wrong = sum(1 for k, v in found.items() if planted.get(k) != v)
            cand = result.hash_candidates + result.embedding_candidates
            share = cand / (len(entries) * (len(entries) - 1) / 2)
            rows.append([kind, len(entries), len(planted), f"{recall:.4f}", wrong, cand,
                         f"{share:.2e}", f"{result.seconds:.1f}"])
            print(" ".join(str(c) for c in rows[-1]), flush=True)
            tag = f"{kind}_{n // 1000}k"
            figures |= {f"{tag}_seconds": result.seconds, f"{tag}_recall": round(recall, 4),
                        f"{tag}_wrong": wrong, f"{tag}_candidates": cand}
            del entries
    return figures, rows


def main() -> None:
    from results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--no-extract", action="store_true", help="skip the extract run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="a2c-bench-curation-") as tmp:
        parts, sig_rows = signal_costs(Path(tmp), args.repeat)
        extract_s = None if args.no_extract else extract_cost(Path(tmp))
        depth_s, detector_s = extract_floor(Path(tmp))
    figures: dict[str, Any] = {"clips": len(CLIPS)}
    figures |= {f"{k}_ms_per_clip": round(v * 1000, 1) for k, v in parts.items()}
    if extract_s is not None:
        figures |= {"extract_s_per_clip": round(extract_s, 2),
                    "share_of_extract_tiny": round(parts["score_tiny"] / extract_s, 4),
                    "share_of_extract_b32": round(parts["score_b32"] / extract_s, 4)}
        print(f"extract {extract_s:.2f} s/clip; signals {parts['score_tiny'] * 1000:.0f} ms "
              f"(tiny CLIP) = {parts['score_tiny'] / extract_s:.1%}, "
              f"{parts['score_b32'] * 1000:.0f} ms (B/32) = {parts['score_b32'] / extract_s:.1%}")
    floor_s = depth_s + detector_s
    figures |= {"floor_depth_s_per_clip": round(depth_s, 2),
                "floor_detector_s_per_clip": round(detector_s, 2),
                "share_of_production_floor_b32": round(parts["score_b32"] / floor_s, 4)}
    print(f"production floor (depth + pose detector) {floor_s:.1f} s/clip; signals (B/32) "
          f"= {parts['score_b32'] / floor_s:.1%} of it")
    dd_figures, dd_rows = dedup_scale([int(s) for s in args.sizes.split(",")])
    figures |= dd_figures
    write_results("curation", figures, table=[*sig_rows, [""] * len(sig_rows[0]), *dd_rows],
                  notes=__doc__.split("\n\n", 2)[2].rsplit("Results:", 1)[0].strip(),
                  command=".venv/bin/python bench/curation.py")


if __name__ == "__main__":
    main()
