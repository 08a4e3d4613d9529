"""Pose benchmark: DWPose whole-body at production size on CPU, ONNX Runtime against mmpose.

    nice .venv/bin/python bench/pose.py [--boxes 2] [--repeat 5] [--threads 1]

Needs the mmpose extra (`make install-mmpose`), only to build the production architecture:
no hub is reachable, so DWPose-l's network (RTMPose-l: CSPNeXt-l + RTMCC head, 384x288 input,
133 COCO-WholeBody keypoints; mmpose's `rtmpose-l_8xb32-270e_coco-wholebody-384x288.py`, the
config DWPose-l's weights load into) is built with random weights; the compute, not the
weights, is measured. The same weights then run two ways on one 640 px frame of a bundled clip
with `--boxes` person boxes, `--threads` threads each, best of `--repeat`:
  onnxruntime  the `dwpose` backend (conditions/dwpose.py) on the model exported to ONNX, as
               DWPose ships it: per box (box_batch 1) and batched (box_batch 8)
  mmpose       `mmpose.apis.inference_topdown` (torch), flip test off as DWPose runs; and with
               the config's flip test on (the shipped config's default)
Also: load time of each route (model build/session), import time of each package (fresh
process), installed size of each route's packages, and the largest keypoint difference
between the two routes on the same weights (fidelity of the ONNX route).
Results go to bench/results/pose.json (see bench/results.py).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
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
CONFIG = ("wholebody_2d_keypoint/rtmpose/coco-wholebody/"
          "rtmpose-l_8xb32-270e_coco-wholebody-384x288.py")
MMPOSE_ROUTE = ("mmpose", "mmengine", "mmcv-lite", "mmdet", "xtcocotools", "pycocotools",
                "shapely", "addict", "yapf", "termcolor", "munkres", "json_tricks",
                "terminaltables")
ORT_ROUTE = ("onnxruntime", "flatbuffers")


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (allocations, ONNX Runtime's first-run optimisations)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def installed_mb(names: tuple[str, ...]) -> float:
    total = 0
    for name in names:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        dist = importlib.metadata.distribution(name)
        paths = [Path(dist.locate_file(f)) for f in files]
        total += sum(p.stat().st_size for p in paths if p.is_file())
    return round(total / 2**20, 1)


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, timeout=300)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def build_mmpose(flip: bool) -> Any:
    from mmengine.config import Config

    from any2capins.conditions.mmpose_compat import import_mmpose_apis

    root = Path(importlib.util.find_spec("mmpose").origin).parent / ".mim" / "configs"
    cfg = Config.fromfile(str(root / CONFIG))
    cfg.model.test_cfg.flip_test = flip
    return import_mmpose_apis().init_model(cfg, None, device="cpu")


def frame_and_boxes(n: int) -> tuple[np.ndarray, np.ndarray]:
    from any2capins.io.frames import sample_frames

    frame = sample_frames(str(ROOT / "examples" / "clips" / "people_selfie_1s.mp4"), count=1,
                          max_side=640).frames[0]
    h, w = frame.shape[:2]
    boxes = [[w * (0.1 + 0.3 * (i % 3)), h * 0.1, w * (0.35 + 0.3 * (i % 3)), h * 0.95]
             for i in range(n)]
    return frame, np.array(boxes, np.float32)


def onnx_route(model: Any, tmp: Path, threads: int, box_batch: int) -> tuple[Any, float]:
    """The dwpose backend on `model` exported to ONNX; returns (backend, load seconds)."""
    import torch

    from any2capins.conditions.dwpose import export_simcc_onnx
    from any2capins.conditions.pose_backends import DWPoseBackend
    from any2capins.config.pose import PoseConfig

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone, self.head = model.backbone, model.head

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.head(self.backbone(x))

    path = tmp / "dwpose-l-random.onnx"
    if not path.exists():
        export_simcc_onnx(Net(), (384, 288), path)
    cfg = PoseConfig(dwpose={"model": str(path), "box_batch": box_batch},
                     resources={"torch_threads": threads})
    t0 = time.perf_counter()
    backend = DWPoseBackend(cfg, "cpu", None)
    backend.load()
    return backend, time.perf_counter() - t0


def main() -> None:
    from results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", type=int, default=2, help="person boxes in the frame")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="threads per route (torch, ORT)")
    args = ap.parse_args()
    if importlib.util.find_spec("mmpose") is None:
        sys.exit("bench/pose.py needs mmpose to build the architecture: make install-mmpose")
    import torch

    from any2capins.conditions.mmpose_compat import inference_topdown

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frame, boxes = frame_and_boxes(args.boxes)
    bgr = np.ascontiguousarray(frame[..., ::-1])
    t0 = time.perf_counter()
    mm = build_mmpose(flip=False)
    mm_load = time.perf_counter() - t0
    mm_flip = build_mmpose(flip=True)
    mm_flip.load_state_dict(mm.state_dict())
    params = sum(p.numel() for p in mm.parameters()) / 1e6
    with tempfile.TemporaryDirectory(prefix="a2c-bench-pose-") as tmp:
        one, ort_load = onnx_route(mm, Path(tmp), args.threads, 1)
        batched, _ = onnx_route(mm, Path(tmp), args.threads, 8)
        onnx_mb = (Path(tmp) / "dwpose-l-random.onnx").stat().st_size / 2**20
        routes = {
            "onnxruntime, box by box": lambda: one.estimate(frame[None], [boxes]),
            "onnxruntime, boxes batched": lambda: batched.estimate(frame[None], [boxes]),
            "mmpose (torch), flip off": lambda: inference_topdown(mm, bgr, boxes),
            "mmpose (torch), config's flip on": lambda: inference_topdown(mm_flip, bgr, boxes),
        }
        ms = {name: best_ms(fn, args.repeat) for name, fn in routes.items()}
        ours = one.estimate(frame[None], [boxes])[0]
        theirs = inference_topdown(mm, bgr, boxes)
    xy = np.stack([s.pred_instances.keypoints[0] for s in theirs])
    diff = float(np.abs(ours[..., :2] - xy).max())
    ort_ms = ms["onnxruntime, box by box"] / args.boxes
    mm_ms = ms["mmpose (torch), flip off"] / args.boxes
    figures = {
        "params_m": round(params, 1), "onnx_mb": round(onnx_mb, 1), "boxes": args.boxes,
        "threads": args.threads,
        "ort_ms_per_box": round(ort_ms, 1),
        "ort_batched_ms_per_box": round(ms["onnxruntime, boxes batched"] / args.boxes, 1),
        "mmpose_ms_per_box": round(mm_ms, 1),
        "mmpose_flip_ms_per_box": round(ms["mmpose (torch), config's flip on"] / args.boxes, 1),
        "mmpose_over_ort": round(mm_ms / ort_ms, 2),
        "ort_ms_per_frame": round(ms["onnxruntime, box by box"], 1),
        "ort_load_s": round(ort_load, 2), "mmpose_load_s": round(mm_load, 2),
        "ort_import_s": import_seconds("import onnxruntime"),
        "mmpose_import_s": import_seconds(
            "from any2capins.conditions.mmpose_compat import import_mmpose_apis; "
            "import_mmpose_apis()"),
        "ort_route_installed_mb": installed_mb(ORT_ROUTE),
        "mmpose_route_installed_mb": installed_mb(MMPOSE_ROUTE),
        "max_keypoint_diff_px": round(diff, 3),
    }
    table = [["route", f"ms per frame ({args.boxes} boxes)", "ms per box"],
             *([name, f"{v:.0f}", f"{v / args.boxes:.0f}"] for name, v in ms.items())]
    notes = ("DWPose-l's architecture (RTMPose-l, 384x288, 133 keypoints; "
             f"{params:.1f}M parameters) with random weights, one 640 px frame with "
             f"{args.boxes} person boxes, {args.threads} thread(s) per route, best of "
             f"{args.repeat}; crop, inference and decode included, person detection not. "
             "onnxruntime = the dwpose backend on the model exported to ONNX; mmpose = "
             "inference_topdown on the same weights. Installed MB: the packages each route "
             "adds (mmpose route: mmpose, mmengine, mmcv-lite, mmdet and their pinned "
             "dependencies; ONNX Runtime route: onnxruntime, flatbuffers). "
             "max_keypoint_diff_px: largest keypoint difference between the two routes.")
    write_results("pose", figures, table=table, notes=notes)
    for row in table:
        print(" | ".join(str(c) for c in row))
    for k, v in figures.items():
        print(f"{k:28s} {v}")


if __name__ == "__main__":
    main()
