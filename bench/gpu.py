"""GPU benchmark: measured figures for the 337K-clip plan (docs/cluster.md) whenever a CUDA
machine is lent.

    .venv/bin/python bench/gpu.py [--clips 4] [--clip-seconds 10] [--repeat 20]
    PYTHONPATH=. python3 bench/gpu.py --copy-to "$OUT"   # an image with torch + transformers only

Needs nothing but a CUDA machine: no hub, no data (models are built from their configs with
random weights: the compute is the real models', the outputs mean nothing). Without a CUDA GPU
it says so and exits 0, recording nothing. Three parts, within --budget-s (default 450 s):

1. models: each default model at production size, forward pass only, ms per frame (per box
   for DWPose) in float32, float16 and bfloat16, median of --repeat after warm-up (CUDA
   synchronised), at the input size and batch of pipelines/extract-gpu.yaml:
     depth     Depth Anything V2 Small (DINOv2 ViT-S + DPT), 518x294 (a 16:9 frame), batch 16
     detector  RT-DETR r50vd (ResNet-50-vd, 300 queries, 80 classes), 640x640, batch 4
     dwpose    DWPose-l = RTMPose-l (CSPNeXt-l + RTMCC, 384x288, 133 keypoints), 32 boxes:
               torch on the GPU, and its ONNX export on onnxruntime's CUDA provider when
               onnxruntime-gpu is installed (the `dwpose` backend's route; said when absent)
     sam2      SAM2.1-hiera-tiny image encoder (bench/segment.py's config), 1024x1024, batch 1
     clip      CLIP ViT-B/32 image tower (curation's embedding), 224x224, batch 4
2. extract (needs the pipeline extra: Ray, PyAV, pycolmap; skipped with a note otherwise):
   --clips synthetic 1280x720 clips of --clip-seconds s (a panned texture, two moving
   figures), one clip per shard, through ONE `any2capins extract` with pipelines/extract.yaml
   + extract-gpu.yaml on the embedded Ray cluster with GPU workers (depth, pose and refs
   sharing the GPUs, camera on CPUs), the models of part 1 saved to a temp folder (--set).
   Curation is off (a random CLIP makes every clip a near-duplicate of every other); the
   detectors keep 2 boxes per frame (a random detector would otherwise report 20 people);
   without onnxruntime-gpu pose is left out (DWPose on cuda needs it).
   Figures: wall, clips per hour, seconds per clip of each stage (completion records).
3. GPU utilisation and memory, sampled every 200 ms (nvidia-smi, else NVML) during part 2.
Then the plan's GPU cost per clip from part 1's float16 figures and the frame counts of
pipelines/extract.yaml (10 s clips): depth 20 frames, pose 40 frames x (detector + 2 boxes),
refs 8 frames x (detector + SAM2). Results: bench/results/gpu.json (bench/results.py).
`--smoke` runs the same code on the CPU with tiny models and records nothing (tests).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
DTYPES = ("float32", "float16", "bfloat16")
# the plan's frames per 10 s clip (pipelines/extract.yaml) and people per frame
PLAN = {"depth_frames": 20, "pose_frames": 40, "boxes": 2, "refs_frames": 8}
DEPTH_HW = (294, 518)  # 518 px longest side of a 16:9 frame, multiples of 14


# -- DWPose-l (RTMPose-l) in plain torch -------------------------------------------------------
# mmpose's rtmpose-l_8xb32-270e_coco-wholebody-384x288.py (the network DWPose-l's weights load
# into): CSPNeXt P5 (deepen 1, widen 1, channel attention) and an RTMCC head. Written out
# here so that a CUDA machine without mmpose builds it; tests/test_bench_gpu.py checks it
# against mmpose's own model, parameter shape by parameter shape.


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> Any:
    from torch import nn

    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.SiLU())


def rtmpose(widen: float = 1.0, deepen: float = 1.0, keypoints: int = 133,
            input_hw: tuple[int, int] = (384, 288), hidden: int = 256, s: int = 128) -> Any:
    """RTMPose (CSPNeXt + RTMCC head) mapping [N, 3, H, W] to (simcc_x, simcc_y); the
    defaults are RTMPose-l whole-body at 384x288 (DWPose-l)."""
    import torch
    from torch import nn

    class Block(nn.Module):  # CSPNeXtBlock: 3x3 conv, depthwise-separable 5x5, identity
        def __init__(self, c: int, add: bool) -> None:
            super().__init__()
            self.conv1 = _conv(c, c, 3)
            self.conv2 = nn.Sequential(_conv(c, c, 5, groups=c), _conv(c, c, 1))
            self.add = add

        def forward(self, x: Any) -> Any:
            y = self.conv2(self.conv1(x))
            return x + y if self.add else y

    class CSPLayer(nn.Module):
        def __init__(self, c: int, blocks: int, add: bool) -> None:
            super().__init__()
            mid = c // 2
            # registered in mmdet's order, so that state dicts line up (tests)
            self.main_conv, self.short_conv = _conv(c, mid, 1), _conv(c, mid, 1)
            self.final_conv = _conv(2 * mid, c, 1)
            self.blocks = nn.Sequential(*(Block(mid, add) for _ in range(blocks)))
            self.attention = nn.Conv2d(2 * mid, 2 * mid, 1)  # channel attention's fc

        def forward(self, x: Any) -> Any:
            y = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), 1)
            y = y * nn.functional.hardsigmoid(self.attention(y.mean((2, 3), keepdim=True)))
            return self.final_conv(y)

    class SPP(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv1, self.conv2 = _conv(c, c // 2, 1), _conv(c // 2 * 4, c, 1)
            self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))

        def forward(self, x: Any) -> Any:
            x = self.conv1(x)
            return self.conv2(torch.cat([x, *(p(x) for p in self.pools)], 1))

    class ScaleNorm(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.scale, self.g = dim ** -0.5, nn.Parameter(torch.ones(1))

        def forward(self, x: Any) -> Any:
            norm = torch.linalg.norm(x, dim=-1, keepdim=True) * self.scale
            return x / norm.clamp(min=1e-5) * self.g

    class GAU(nn.Module):  # RTMCCBlock, self-attention, no relative bias, no rope
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.e = dim * 2
            self.o = nn.Linear(self.e, dim, bias=False)
            self.uv = nn.Linear(dim, 2 * self.e + s, bias=False)
            self.gamma, self.beta = nn.Parameter(torch.rand(2, s)), nn.Parameter(torch.rand(2, s))
            self.ln = ScaleNorm(dim)
            self.res_scale = nn.Module()  # mmpose's Scale: one learnt factor per channel
            self.res_scale.scale = nn.Parameter(torch.ones(dim))

        def forward(self, x: Any) -> Any:
            u, v, base = torch.split(nn.functional.silu(self.uv(self.ln(x))),
                                     [self.e, self.e, s], dim=2)
            q, k = torch.unbind(base.unsqueeze(2) * self.gamma + self.beta, dim=2)
            kernel = torch.square(nn.functional.relu(q @ k.transpose(1, 2) / s ** 0.5))
            return x * self.res_scale.scale + self.o(u * (kernel @ v))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = lambda c: int(c * widen)  # noqa: E731 - mmdet's channel rule
            self.stem = nn.Sequential(_conv(3, w(64) // 2, 3, 2), _conv(w(64) // 2, w(64) // 2, 3),
                                      _conv(w(64) // 2, w(64), 3))
            stages = []
            for cin, cout, n, add, spp in ((64, 128, 3, True, False), (128, 256, 6, True, False),
                                           (256, 512, 6, True, False), (512, 1024, 3, False, True)):
                parts = [_conv(w(cin), w(cout), 3, 2), *([SPP(w(cout))] if spp else [])]
                stages.append(nn.Sequential(*parts, CSPLayer(w(cout), max(round(n * deepen), 1),
                                                             add)))
            self.stages = nn.Sequential(*stages)
            tokens = (input_hw[0] // 32) * (input_hw[1] // 32)
            self.final_layer = nn.Conv2d(w(1024), keypoints, 7, 1, 3)
            self.mlp = nn.Sequential(ScaleNorm(tokens), nn.Linear(tokens, hidden, bias=False))
            self.gau = GAU(hidden)
            self.cls_x = nn.Linear(hidden, input_hw[1] * 2, bias=False)
            self.cls_y = nn.Linear(hidden, input_hw[0] * 2, bias=False)

        def forward(self, x: Any) -> tuple[Any, Any]:
            feats = self.final_layer(self.stages(self.stem(x))).flatten(2)
            feats = self.gau(self.mlp(feats))
            return self.cls_x(feats), self.cls_y(feats)

    return Net().eval()


# -- the other default models, from their configs ---------------------------------------------


def _labels() -> dict[int, str]:
    try:
        from any2capins.conditions.models_tiny import COCO_CLASSES
    except ImportError:  # an image without the project's dependencies: names do not matter
        COCO_CLASSES = ["person", *(f"class_{i}" for i in range(1, 80))]  # noqa: N806
    return dict(enumerate(COCO_CLASSES))


def build_models(tiny: bool = False) -> dict[str, Any]:
    """{name: torch module} of every default model, random weights; `tiny`: the same
    builders at test size (CPU tests of this script)."""
    import torch
    from segment import hiera_tiny_config  # bench/segment.py: SAM2.1-hiera-tiny's config
    from transformers import (
        CLIPConfig,
        CLIPModel,
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrResNetConfig,
        Sam2VideoModel,
    )

    torch.manual_seed(0)
    labels = _labels()
    if tiny:
        from any2capins.conditions.models_tiny import tiny_sam2

        bb = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                          intermediate_size=64, image_size=518, patch_size=14,
                          reshape_hidden_states=False,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
        depth = DepthAnythingConfig(backbone_config=bb, fusion_hidden_size=16,
                                    head_hidden_size=8, neck_hidden_sizes=[8, 16, 16, 32],
                                    reassemble_hidden_size=32)
        det = RTDetrConfig(
            backbone_config=RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32],
                                               depths=[1, 1, 1, 1], layer_type="basic",
                                               out_features=["stage2", "stage3", "stage4"]),
            num_feature_levels=3, anchor_image_size=None, encoder_hidden_dim=16,
            encoder_in_channels=[16, 24, 32], encoder_ffn_dim=32,
            d_model=16, decoder_ffn_dim=32, num_queries=20, decoder_layers=1, encoder_layers=1,
            decoder_attention_heads=2, encoder_attention_heads=2, num_denoising=0,
            decoder_n_points=2, decoder_in_channels=[16, 16, 16], id2label=labels,
            label2id={v: k for k, v in labels.items()})
        tmp = Path(tempfile.mkdtemp(prefix="a2c-gpu-sam2-"))
        sam2 = Sam2VideoModel.from_pretrained(str(tiny_sam2(tmp)))
        shutil.rmtree(tmp, ignore_errors=True)
        clip = CLIPConfig(text_config={"hidden_size": 16, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "intermediate_size": 32},
                          vision_config={"hidden_size": 32, "num_hidden_layers": 2,
                                         "num_attention_heads": 2, "intermediate_size": 64},
                          projection_dim=32)
        pose = rtmpose(widen=0.0625, deepen=0.167, input_hw=(64, 64), hidden=32, s=16)
    else:
        bb = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                          intermediate_size=1536, image_size=518, patch_size=14,
                          reshape_hidden_states=False,
                          out_features=["stage3", "stage6", "stage9", "stage12"])
        depth = DepthAnythingConfig(backbone_config=bb, fusion_hidden_size=64,
                                    neck_hidden_sizes=[48, 96, 192, 384],
                                    reassemble_hidden_size=384)
        det = RTDetrConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
        sam2 = Sam2VideoModel(hiera_tiny_config())
        clip = CLIPConfig()  # the defaults are ViT-B/32
        pose = rtmpose()
    detector = RTDetrForObjectDetection(det)
    with torch.no_grad():  # as bench/extract.py: the random detector reports people
        for name, module in detector.named_modules():
            if name.endswith(("enc_score_head", *(f"class_embed.{i}" for i in range(6)))):
                module.bias[0] += 6.0
    return {"depth": DepthAnythingForDepthEstimation(depth).eval(), "detector": detector.eval(),
            "dwpose": pose, "sam2": sam2.eval(), "clip": CLIPModel(clip).eval()}


def inputs(name: str, tiny: bool) -> tuple[tuple[int, ...], int, Callable[[Any, Any], Any]]:
    """(input shape, items it holds, forward) of model `name`; items = frames or boxes."""
    if name == "depth":
        shape = (16, 3, *DEPTH_HW)
        return shape, 16, lambda m, x: m(pixel_values=x)
    if name == "detector":
        return (4, 3, 640, 640), 4, lambda m, x: m(pixel_values=x)
    if name == "dwpose":
        return ((32, 3, 64, 64) if tiny else (32, 3, 384, 288)), 32, lambda m, x: m(x)
    if name == "sam2":
        side = 128 if tiny else 1024
        return (1, 3, side, side), 1, lambda m, x: m.get_image_features(x)
    side = 224
    return (4, 3, side, side), 4, lambda m, x: m.get_image_features(pixel_values=x)


def time_models(models: dict[str, Any], device: str, dtypes: tuple[str, ...], repeat: int,
                tiny: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    """{'<model>_<dtype>_ms': ms per item} and {key: why} for what could not run."""
    import torch

    figures: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, model in models.items():
        shape, items, forward = inputs(name, tiny)
        for dtype in dtypes:
            key = f"{name}_{dtype}_ms"
            try:
                m = copy.deepcopy(model).to(device, dtype=getattr(torch, dtype))
                x = torch.randn(shape, device=device, dtype=getattr(torch, dtype))
                with torch.inference_mode():
                    figures[key] = round(median_ms(lambda m=m, x=x, f=forward: f(m, x),
                                                   repeat, device) / items, 3)
                del m, x
            except Exception as exc:  # an op without a half kernel: said, not fatal
                problems[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        figures[f"{name}_params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    return figures, problems


def median_ms(fn: Callable[[], Any], repeat: int, device: str) -> float:
    import torch

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(3):  # warm-up: kernels chosen, allocator grown
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def onnx_dwpose(model: Any, folder: Path, repeat: int, tiny: bool) -> tuple[Path, dict, str]:
    """Export DWPose to `folder`/dw-ll_ucoco_384.onnx (the released file name) and time it on
    onnxruntime's CUDA provider; ({figure}, note) say what ran."""
    from any2capins.conditions.dwpose import export_simcc_onnx

    hw = (64, 64) if tiny else (384, 288)
    path = export_simcc_onnx(copy.deepcopy(model).float().cpu(), hw,
                             folder / "dw-ll_ucoco_384.onnx")
    try:
        import onnxruntime as ort
    except ImportError:
        return path, {}, "onnxruntime is not installed: DWPose ONNX not timed"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return path, {}, (f"onnxruntime {ort.__version__} has no CUDA provider (install "
                          "onnxruntime-gpu): DWPose ONNX not timed on the GPU")
    session = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((32, 3, *hw)).astype(np.float32)
    ms = median_ms(lambda: session.run(None, {"input": x}), repeat, "cpu")  # run() blocks
    return path, {"dwpose_ort_cuda_float32_ms": round(ms / 32, 3)}, ""


def save_models(models: dict[str, Any], folder: Path, onnx: Path) -> dict[str, str]:
    """The models as the pipeline loads them: folders with their image processors."""
    from transformers import CLIPImageProcessor, DPTImageProcessor, RTDetrImageProcessor

    out = {name: folder / name for name in models}
    models["depth"].save_pretrained(out["depth"])
    DPTImageProcessor(keep_aspect_ratio=False, ensure_multiple_of=14,
                      do_pad=False).save_pretrained(out["depth"])
    models["detector"].save_pretrained(out["detector"])
    RTDetrImageProcessor().save_pretrained(out["detector"])
    models["sam2"].save_pretrained(out["sam2"])
    models["clip"].save_pretrained(out["clip"])
    CLIPImageProcessor().save_pretrained(out["clip"])
    out["dwpose"].mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx, out["dwpose"] / onnx.name)
    return {k: str(v) for k, v in out.items()}


# -- part 2: one extract on synthetic clips, with the GPU sampled ------------------------------


def synthetic_clip(path: Path, seconds: float, size: tuple[int, int], fps: int, seed: int) -> Path:
    """A panned multi-scale texture with two moving figures, H.264 (PyAV)."""
    import av
    import cv2

    rng = np.random.default_rng(seed)
    w, h = size
    big = np.zeros((h + h // 2, w * 2, 3), np.float32)
    for cell in (64, 16, 4):  # coarse to fine detail: SIFT finds features, nothing is flat
        small = rng.random((big.shape[0] // cell + 1, big.shape[1] // cell + 1, 3))
        big += cv2.resize(small.astype(np.float32), big.shape[1::-1]) * (cell / 84)
    big = (255 * big / big.max()).astype(np.uint8)
    n = max(int(seconds * fps), 2)
    with av.open(str(path), "w") as c:
        stream = c.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for t in range(n):
            x, y = int(t * w / n), int(t * h / (4 * n))
            frame = np.ascontiguousarray(big[y:y + h, x:x + w])
            for k, colour in enumerate(((200, 60, 60), (60, 60, 200))):
                cx = int(w * (0.25 + 0.5 * k) + 0.1 * w * np.sin(t / fps + k))
                cv2.ellipse(frame, (cx, h // 2), (w // 14, h // 3), 0, 0, 360, colour, -1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path


class GpuSampler:
    """utilization.gpu and memory.used every 200 ms, from nvidia-smi (our own child process,
    stopped by its handle) or, without it, NVML in a thread."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "gpu-samples.csv"
        self.proc: subprocess.Popen | None = None
        self.samples: list[tuple[float, float]] = []
        self.source = "none"
        self._stop = False
        self._thread: Any = None

    def start(self) -> GpuSampler:
        smi = shutil.which("nvidia-smi")
        if smi:
            self.source = "nvidia-smi"
            with self.log.open("w") as out:
                self.proc = subprocess.Popen(
                    [smi, "--query-gpu=utilization.gpu,memory.used",
                     "--format=csv,noheader,nounits", "-lms", "200"], stdout=out,
                    stderr=subprocess.DEVNULL)
        elif importlib.util.find_spec("pynvml"):
            import threading

            self.source = "nvml"
            self._thread = threading.Thread(target=self._nvml, daemon=True)
            self._thread.start()
        return self

    def _nvml(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                   for i in range(pynvml.nvmlDeviceGetCount())]
        while not self._stop:
            for h in handles:
                util = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
                mem = pynvml.nvmlDeviceGetMemoryInfo(h).used / 2**20
                self.samples.append((float(util), float(mem)))
            time.sleep(0.2)

    def stop(self) -> dict[str, Any]:
        self._stop = True
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            for line in self.log.read_text().splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) == 2 and all(p.replace(".", "").isdigit() for p in parts):
                    self.samples.append((float(parts[0]), float(parts[1])))
        if self._thread is not None:
            self._thread.join(timeout=5)
        return summarise_samples(self.samples, self.source)


def summarise_samples(samples: list[tuple[float, float]], source: str) -> dict[str, Any]:
    """Utilisation figures of (util %, memory MiB) samples taken every 200 ms."""
    if not samples:
        return {"gpu_samples": 0, "gpu_sampler": source}
    util = [u for u, _ in samples]
    return {"gpu_samples": len(samples), "gpu_sampler": source,
            "gpu_util_mean_pct": round(statistics.fmean(util), 1),
            "gpu_util_p50_pct": round(statistics.median(util), 1),
            "gpu_util_max_pct": round(max(util), 1),
            "gpu_busy_s": round(sum(util) / 100 * 0.2, 1),
            "gpu_mem_max_mib": round(max(m for _, m in samples))}


def _cli(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`any2capins ARGS` in a subprocess; past `timeout` it gets SIGTERM (the CLI stops its
    Ray workers and exits 143), then SIGKILL if it is still there a minute later."""
    cmd = [sys.executable, "-m", "any2capins.cli", *args]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        err += f"\nstopped: still running after {timeout:.0f} s (--budget-s)"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def extract_sets(paths: dict[str, str], gpus: int, cpus: int, smoke: bool) -> list[str]:
    """--set overrides of the extract run: the saved models, curation off, two boxes per
    frame, and resources that fit this machine (depth, pose and refs on every GPU)."""
    sets = [f"depth.model={paths['depth']}", f"pose.detector.model={paths['detector']}",
            f"refs.detector.model={paths['detector']}", f"pose.dwpose.model={paths['dwpose']}",
            f"refs.sam2.model={paths['sam2']}", f"filter.embedding.model={paths['clip']}",
            "filter.enabled=false", "runtime.progress=false",
            "pose.detector.max_detections=2", "refs.detector.max_detections=2"]
    if smoke:  # CPU, tiny models, 2 cores: the code path, not the figures
        return [*sets, "runtime.num_cpus=2", "depth.input_size=70", "pose.detector.input_size=160",
                "refs.detector.input_size=160", "camera.count=6", "camera.max_side=96",
                *(f"{s}.resources={{workers: 1, num_cpus: 0.5, batch_size: 1, torch_threads: 1}}"
                  for s in ("depth", "pose", "refs", "camera"))]
    share = round(0.99 / 3, 2)  # depth, pose and refs: one worker each per GPU
    used = 0
    for stage, ncpu in (("depth", 4), ("pose", 4), ("refs", 2)):
        sets += [f"{stage}.resources.workers={gpus}", f"{stage}.resources.num_cpus={ncpu}",
                 f"{stage}.resources.num_gpus={share}"]
        used += ncpu * gpus
    # camera (2 CPUs each) on what is left after the sheet worker and a decode slot
    return [*sets, f"camera.resources.workers={max(1, (cpus - used - 2) // 2)}"]


def extract_stages(ort_cuda: bool) -> str:
    """Every condition stage; without onnxruntime's CUDA provider pose cannot run on the GPU
    (dwpose on cuda needs onnxruntime-gpu) and is left out rather than timed on CPU."""
    return "depth,pose,refs,camera" if ort_cuda else "depth,refs,camera"


def run_extract(paths: dict[str, str], args: argparse.Namespace, tmp: Path, ort_cuda: bool,
                deadline: float) -> tuple[dict[str, Any], str]:
    """Part 2: ingest synthetic clips, one extract with the GPU sampled; (figures, note)."""
    missing = [m for m in ("ray", "av", "pycolmap", "pydantic") if not importlib.util.find_spec(m)]
    if missing:
        return {}, f"extract skipped: the pipeline extra is not installed (no {missing})"
    import torch

    src = tmp / "clips"
    src.mkdir()
    size, fps = ((320, 180), 10) if args.smoke else ((1280, 720), 30)
    for i in range(args.clips):
        synthetic_clip(src / f"synthetic_{i}.mp4", args.clip_seconds, size, fps, seed=i)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    run = tmp / "run"
    ingest = _cli(["ingest", str(src), "--out", str(run), "--set", "runtime.executor=local",
                   "--set", "ingest.clips_per_shard=1", "--set", "ingest.shots.detect=false",
                   "--set", "runtime.progress=false"], env, deadline - time.time())
    if ingest.returncode != 0:
        return {}, f"ingest failed: {ingest.stderr.strip()[-300:]}"
    gpus = torch.cuda.device_count() if not args.smoke else 0
    sets = extract_sets(paths, gpus, os.cpu_count() or 2, args.smoke)
    profiles = ["pipelines/extract.yaml"] + ([] if args.smoke else ["pipelines/extract-gpu.yaml"])
    cmd = ["extract", "--run", str(run), "--stages", extract_stages(ort_cuda),
           *(a for p in profiles for a in ("--config", p)),
           *(a for s in sets for a in ("--set", s))]
    sampler = GpuSampler(tmp).start() if not args.smoke else None
    t0 = time.perf_counter()
    out = _cli(cmd, env, deadline - time.time())
    wall = time.perf_counter() - t0
    figures = sampler.stop() if sampler else {}
    if out.returncode != 0:
        return figures, f"extract failed (exit {out.returncode}): {out.stderr.strip()[-400:]}"
    figures.update(stage_figures(run, args.clips, wall))
    if "gpu_busy_s" in figures:
        figures["gpu_busy_s_per_clip"] = round(figures["gpu_busy_s"] / args.clips, 2)
    note = "" if ort_cuda else "pose left out of the extract (onnxruntime without CUDA)"
    return figures, note


def stage_figures(run: Path, clips: int, wall: float) -> dict[str, Any]:
    """Wall, clips per hour and each stage's seconds per clip from its completion records."""
    from any2capins.io.shards import ShardStore

    store = ShardStore(str(run))
    figures: dict[str, Any] = {"clips": clips, "extract_wall_s": round(wall, 1),
                               "clips_per_hour": round(clips / wall * 3600)}
    starts, ends = [], []
    for stage in ("depth", "pose", "refs", "camera", "sheet"):
        done = [d for i in range(clips) if (d := store.done(stage, i)) is not None]
        if done:
            figures[f"{stage}_s_per_clip"] = round(sum(d.seconds for d in done) / len(done), 2)
            figures[f"{stage}_errors"] = sum(d.error_rows for d in done)
            starts += [d.started for d in done]
            ends += [d.finished for d in done]
    if starts:
        figures["processing_wall_s"] = round((max(ends) - min(starts)).total_seconds(), 1)
    return figures


# -- the plan ------------------------------------------------------------------------------------


def plan_figures(f: dict[str, Any], dtype: str = "float16") -> dict[str, Any]:
    """GPU seconds per 10 s clip from per-model figures (extract.yaml's frame counts), and
    the GPUs 337,000 clips need in 24 hours at full and at half use."""
    need = [f"{m}_{dtype}_ms" for m in ("depth", "detector", "dwpose", "sam2")]
    if any(k not in f for k in need):
        return {}
    det, dw = f[f"detector_{dtype}_ms"], f[f"dwpose_{dtype}_ms"]
    ms = (PLAN["depth_frames"] * f[f"depth_{dtype}_ms"]
          + PLAN["pose_frames"] * (det + PLAN["boxes"] * dw)
          + PLAN["refs_frames"] * (det + f[f"sam2_{dtype}_ms"]))
    gpu_s = 337_000 * ms / 1000
    return {"plan_gpu_s_per_clip": round(ms / 1000, 3),
            "plan_gpus_24h_full_use": round(gpu_s / 86_400, 2),
            "plan_gpus_24h_half_use": round(2 * gpu_s / 86_400, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4, help="synthetic clips in the extract")
    ap.add_argument("--clip-seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per model and dtype")
    ap.add_argument("--budget-s", type=float, default=450.0,
                    help="the whole run's limit: the extract starts only with 120 s left and "
                    "is stopped 15 s before it")
    ap.add_argument("--skip-extract", action="store_true", help="part 1 only")
    ap.add_argument("--copy-to", default=None, metavar="DIR",
                    help="also copy the results file here (a lent machine's $OUT)")
    ap.add_argument("--smoke", action="store_true",
                    help="CPU, tiny models, 1 short clip; records nothing (tests)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.clips, args.clip_seconds, args.repeat = 1, 2.0, 2
    start = time.time()
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print(f"bench/gpu.py: no CUDA GPU here (torch {torch.__version__}, CUDA "
              f"{torch.version.cuda}): nothing measured, nothing recorded. Run it on a GPU "
              "machine (docs/cluster.md).")
        return 0
    return run(args, start)


def run(args: argparse.Namespace, start: float) -> int:
    import torch

    device = "cpu" if args.smoke else "cuda"
    dtypes = ("float32",) if args.smoke else DTYPES
    tmp = Path(tempfile.mkdtemp(prefix="a2c-bench-gpu-"))
    try:
        t0 = time.perf_counter()
        models = build_models(tiny=args.smoke)
        build_s = time.perf_counter() - t0
        figures, problems = time_models(models, device, dtypes, args.repeat, tiny=args.smoke)
        onnx, ort_fig, ort_note = onnx_dwpose(models["dwpose"], tmp, args.repeat, args.smoke)
        figures |= ort_fig
        print(json.dumps(figures, indent=1), flush=True)
        notes = [n for n in (ort_note, *(f"{k}: {v}" for k, v in problems.items())) if n]
        ort_cuda = "dwpose_ort_cuda_float32_ms" in figures or args.smoke
        if args.skip_extract or time.time() - start > args.budget_s - 120:
            notes.append("extract skipped (--skip-extract, or under 120 s of --budget-s left)")
        else:
            paths = save_models(models, tmp / "models", onnx)
            del models
            ext, note = run_extract(paths, args, tmp, ort_cuda, start + args.budget_s - 15)
            figures |= ext
            notes += [note] if note else []
        figures |= plan_figures(figures)
        figures["build_s"] = round(build_s, 1)
        figures["total_s"] = round(time.time() - start, 1)
        gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (smoke)"
        print(json.dumps(figures, indent=1))
        for n in notes:
            print("note:", n)
        if not args.smoke:
            record(figures, notes, gpu, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def record(figures: dict[str, Any], notes: list[str], gpu: str, args: argparse.Namespace) -> None:
    import torch
    from results import write_results

    table = [["model", *DTYPES, "unit"]]
    for name, unit in (("depth", "frame 518x294"), ("detector", "frame 640x640"),
                       ("dwpose", "box 384x288"), ("sam2", "frame 1024 (encoder)"),
                       ("clip", "frame 224")):
        table.append([name, *(figures.get(f"{name}_{d}_ms", "-") for d in DTYPES), unit])
    if "dwpose_ort_cuda_float32_ms" in figures:
        table.append(["dwpose, ONNX on onnxruntime CUDA", figures["dwpose_ort_cuda_float32_ms"],
                      "-", "-", "box 384x288"])
    figures["gpu"] = gpu
    figures["torch"] = torch.__version__
    text = (f"On {gpu} (torch {torch.__version__}): ms per item of each default model at "
            "production size with random weights, forward pass only, median of "
            f"{args.repeat} after warm-up, batches of pipelines/extract-gpu.yaml. Then one "
            f"`extract` (extract.yaml + extract-gpu.yaml, embedded Ray, GPU workers) over "
            f"{args.clips} synthetic 1280x720 clips of {args.clip_seconds:g} s, curation off, "
            "2 boxes per frame, GPU sampled every 200 ms; plan_* = GPU seconds per 10 s clip "
            "from the float16 figures and extract.yaml's frame counts. " + " ".join(notes))
    path = write_results("gpu", figures, table=table, notes=text,
                         command=".venv/bin/python bench/gpu.py "
                                 f"--clips {args.clips} --clip-seconds {args.clip_seconds:g}")
    if args.copy_to:
        Path(args.copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(args.copy_to) / path.name)


if __name__ == "__main__":
    sys.exit(main())
