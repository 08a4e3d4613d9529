"""SAM2 benchmark: CPU cost per frame of SAM2.1-hiera-tiny at production size (1024 input),
random weights, through the refs stage's segmenter, in both prompt modes.

    nice .venv/bin/python bench/segment.py [--frames 4] [--subjects 2] [--threads 2]
                                           [--model FOLDER]

The model is `Sam2VideoModel` built from the published facebook/sam2.1-hiera-tiny config
values, written out by hand below (no hub; weights random: the cost is that of the real model,
the masks mean nothing). Frames: the bundled clip people_selfie_1s.mp4 sampled as refs samples
in pipelines/extract.yaml (longest side 768); boxes: `--subjects` synthetic boxes per frame.
Figures, in seconds per sampled frame (all subjects of the frame):
  encoder       the image encoder alone (Hiera + FPN), once per frame
  tracked       Sam2Segmenter.segment with prompt_frames=tracked (a box prompt per frame)
  best          the same with prompt_frames=best (one prompt, propagated forward and backward)
  tiny          the tracked mode on the tiny random model the demo and the tests use
Agreement with the boxes (meaningful only with real weights, `--model FOLDER`): masks are
taken nearly unclipped (clip_margin 1, no score cut); per mode, the share of boxed frames where
SAM2 gave no mask (the box stood in) and the share of SAM2's mask pixels inside the box grown
by refs.sam2.clip_margin (0.1).
Results go to bench/results/segment.json (see bench/results.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CLIP = ROOT / "examples" / "clips" / "people_selfie_1s.mp4"


def hiera_tiny_config() -> Any:
    """SAM2.1 hiera-tiny (sam2.1_hiera_t.yaml / facebook/sam2.1-hiera-tiny config.json)."""
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    hiera = Sam2HieraDetConfig(
        hidden_size=96, num_attention_heads=1, image_size=[1024, 1024], patch_kernel_size=[7, 7],
        patch_stride=[4, 4], patch_padding=[3, 3], query_stride=[2, 2], num_query_pool_stages=3,
        blocks_per_stage=[1, 2, 7, 2], embed_dim_per_stage=[96, 192, 384, 768],
        num_attention_heads_per_stage=[1, 2, 4, 8], window_size_per_stage=[8, 4, 14, 7],
        global_attention_blocks=[5, 7, 9], window_positional_embedding_background_size=[7, 7],
        mlp_ratio=4.0)
    vision = Sam2VisionConfig(
        backbone_config=hiera, backbone_channel_list=[768, 384, 192, 96],
        backbone_feature_sizes=[[256, 256], [128, 128], [64, 64]], fpn_hidden_size=256,
        fpn_top_down_levels=[2, 3], num_feature_levels=3)
    return Sam2VideoConfig(
        vision_config=vision, image_size=1024, num_maskmem=7,
        prompt_encoder_config={"hidden_size": 256, "image_size": 1024, "patch_size": 16,
                               "mask_input_channels": 16},
        mask_decoder_config={"hidden_size": 256, "mlp_dim": 2048, "num_hidden_layers": 2,
                             "num_attention_heads": 8, "iou_head_depth": 3,
                             "iou_head_hidden_dim": 256},
        sigmoid_scale_for_mem_enc=20.0, sigmoid_bias_for_mem_enc=-10.0,
        max_object_pointers_in_encoder=16, memory_attention_hidden_size=256,
        memory_attention_num_layers=4, memory_attention_num_attention_heads=1,
        memory_attention_feed_forward_hidden_size=2048, memory_attention_rope_feat_sizes=[64, 64],
        memory_encoder_hidden_size=256, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=256, memory_fuser_embed_dim=256,
        memory_fuser_intermediate_dim=1024)


def frames_and_boxes(count: int, subjects: int) -> tuple[np.ndarray, dict[int, dict[int, list]]]:
    from any2capins.io.frames import sample_frames

    frames = sample_frames(str(CLIP), count=count, max_side=768).frames
    t_len, h, w = frames.shape[:3]
    boxes: dict[int, dict[int, list]] = {}
    for s in range(subjects):  # side by side, drifting a little from frame to frame
        x0 = w * (0.1 + 0.8 * s / max(subjects, 1))
        boxes[s] = {t: [x0 + 3 * t, h * 0.2, x0 + w * 0.7 / subjects + 3 * t, h * 0.9]
                    for t in range(t_len)}
    return frames, boxes


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def segmenter(model: str, mode: str, **over: Any) -> Any:
    import torch

    from any2capins.conditions.segment import Sam2Segmenter
    from any2capins.config.refs import Sam2Config

    seg = Sam2Segmenter(Sam2Config(model=model, prompt_frames=mode, **over), "cpu",
                        torch.float32)
    seg.load()
    return seg


def agreement(segs: dict, boxes: dict, w: int, h: int) -> tuple[float, float]:
    """(share of boxed frames where SAM2 gave no mask, so the box stood in; share of SAM2's
    mask pixels inside the box grown by 0.1, over the other frames: -1 when there are none)."""
    from any2capins.conditions.segment import box_region

    inside = total = standins = frames = 0
    for tid, seg in segs.items():
        for t, box in boxes[tid].items():
            frames += 1
            if seg.sources[t] == "box":
                standins += 1
                continue
            x1, y1, x2, y2 = box_region(box, 0.1, w, h)
            inside += int(seg.masks[t, y1:y2, x1:x2].sum())
            total += int(seg.masks[t].sum())
    return standins / max(frames, 1), (inside / total if total else -1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--subjects", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None, help="a real SAM2 folder instead of random weights")
    args = ap.parse_args()
    import torch
    from transformers import Sam2VideoModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frames, boxes = frames_and_boxes(args.frames, args.subjects)
    t_len, h, w = frames.shape[:3]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = str(Path(tmp) / "sam2-hiera-tiny-random")
            Sam2VideoModel(hiera_tiny_config()).save_pretrained(model)
        run(args, model, frames, boxes, (t_len, h, w), tmp)


def run(args: argparse.Namespace, model: str, frames: np.ndarray, boxes: dict,
        shape: tuple[int, int, int], tmp: str) -> None:
    import torch
    from results import write_results

    from any2capins.conditions.models_tiny import tiny_sam2

    t_len, h, w = shape
    figures: dict[str, Any] = {"frames": t_len, "subjects": args.subjects, "frame_w": w,
                               "frame_h": h, "threads": args.threads,
                               "random_weights": args.model is None}
    tracked = segmenter(model, "tracked")
    figures["params_m"] = round(sum(p.numel() for p in tracked.model.parameters()) / 1e6, 2)
    pixels = tracked._pixels(frames[:1])
    with torch.inference_mode():
        tracked.model.get_image_features(pixels, return_dict=True)  # warm-up
        enc, _ = timed(lambda: tracked.model.get_image_features(pixels, return_dict=True))
    figures["encoder_s_per_frame"] = round(enc, 3)
    for mode in ("tracked", "best"):
        seg = tracked if mode == "tracked" else segmenter(model, mode)
        secs, _ = timed(lambda s=seg: s.segment(frames, boxes))
        figures[f"{mode}_s_per_frame"] = round(secs / t_len, 3)
        loose = segmenter(model, mode, clip_margin=1.0, score_threshold=0.0)
        standin, inside = agreement(loose.segment(frames, boxes), boxes, w, h)
        figures[f"{mode}_standin_share"] = round(standin, 4)
        figures[f"{mode}_inside_share"] = round(inside, 4)
        print(f"{mode}: {secs / t_len:.2f} s/frame; box stand-ins {standin:.2f}, inside share "
              f"{inside:.3f}", flush=True)
    figures["best_over_tracked"] = round(figures["best_s_per_frame"] /
                                         figures["tracked_s_per_frame"], 2)
    figures["tracked_over_encoder"] = round(figures["tracked_s_per_frame"] / enc, 2)
    tiny = segmenter(str(tiny_sam2(Path(tmp) / "tiny")), "tracked")
    secs, _ = timed(lambda: tiny.segment(frames, boxes))
    figures["tiny_s_per_frame"] = round(secs / t_len, 4)
    table = [["what", "s per frame", "x encoder"],
             ["image encoder (1024 input)", figures["encoder_s_per_frame"], 1.0],
             [f"tracked, {args.subjects} subjects", figures["tracked_s_per_frame"],
              figures["tracked_over_encoder"]],
             [f"best, {args.subjects} subjects", figures["best_s_per_frame"],
              round(figures["best_s_per_frame"] / enc, 2)],
             ["tiny random model, tracked", figures["tiny_s_per_frame"], "-"]]
    for row in table:
        print(" | ".join(str(c) for c in row))
    weights = "random weights" if args.model is None else f"weights of {args.model}"
    write_results("segment", figures, table=table, notes=(
        f"SAM2.1-hiera-tiny ({figures['params_m']} M parameters, {weights}) at its production "
        f"input size 1024, CPU float32, {args.threads} torch threads, on {t_len} frames of "
        f"{w}x{h} (the refs sampling of pipelines/extract.yaml) with {args.subjects} subjects "
        "boxed on every frame; seconds per sampled frame for all its subjects. 'tracked' (the "
        "default) prompts every box and runs no memory; 'best' prompts one frame per subject "
        "and propagates with SAM2's memory encoder and memory attention. The stand-in and "
        "inside-share figures (boxed frames where SAM2 gave no mask; SAM2's mask pixels inside "
        "the box grown by 0.1, masks nearly unclipped) measure agreement with the boxes only "
        "with real weights; with random weights they are noise (-1: no SAM2 mask at all)."),
        command=".venv/bin/python bench/segment.py "
                f"--frames {args.frames} --subjects {args.subjects} --threads {args.threads}")


if __name__ == "__main__":
    main()
