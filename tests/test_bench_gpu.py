"""bench/gpu.py on a machine without a GPU (issue 22): what can be checked before a GPU is
lent. The no-GPU exit records nothing; the model builders give the published sizes, and
DWPose-l computes what mmpose's own RTMPose-l computes on the same weights; the same code runs
end to end on the CPU with tiny models (`--smoke`); the extract's settings are valid for the
GPU profile."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from any2capins.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu.py"
RESULTS = ROOT / "bench" / "results" / "gpu.json"


def _gpu_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu = _gpu_module()


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


def test_without_cuda_it_says_so_and_records_nothing():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: the script would measure")
    before = RESULTS.stat().st_mtime_ns if RESULTS.exists() else None
    out = _run()
    assert out.returncode == 0, out.stderr
    assert "no CUDA GPU here" in out.stdout and "nothing recorded" in out.stdout
    assert (RESULTS.stat().st_mtime_ns if RESULTS.exists() else None) == before


def test_arguments():
    out = _run("--help")
    assert out.returncode == 0
    for option in ("--clips", "--clip-seconds", "--repeat", "--budget-s", "--copy-to",
                   "--skip-extract", "--smoke"):
        assert option in out.stdout
    assert _run("--clips", "many").returncode == 2


def test_production_builders_have_the_published_sizes():
    """Millions of parameters of the released models: Depth-Anything-V2-Small 24.8,
    RT-DETR r50vd 42.9 (PekingU's safetensors), DWPose-l 33.6 (mmpose's RTMPose-l),
    SAM2.1-hiera-tiny 38.96, CLIP ViT-B/32 151.28."""
    models = gpu.build_models(tiny=False)
    sizes = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in models.items()}
    published = {"depth": 24.8, "detector": 42.9, "dwpose": 33.6, "sam2": 38.96, "clip": 151.28}
    for name, size in published.items():
        assert abs(sizes[name] - size) / size < 0.01, (name, sizes[name])


def test_dwpose_l_is_mmposes_rtmpose_l():
    if importlib.util.find_spec("mmpose") is None:
        pytest.skip("mmpose (make install-mmpose) builds the reference")
    import torch
    from mmengine.config import Config

    from any2capins.conditions.mmpose_compat import import_mmpose_apis

    cfg_file = (Path(importlib.util.find_spec("mmpose").origin).parent / ".mim" / "configs" /
                "wholebody_2d_keypoint/rtmpose/coco-wholebody/"
                "rtmpose-l_8xb32-270e_coco-wholebody-384x288.py")
    theirs = import_mmpose_apis().init_model(Config.fromfile(str(cfg_file)), None, device="cpu")
    reference = torch.nn.Sequential(theirs.backbone, theirs.head).eval()
    ours = gpu.rtmpose()
    pairs = list(zip(ours.state_dict().items(), reference.state_dict().items(), strict=True))
    assert [tuple(a.shape) for (_, a), _ in pairs] == [tuple(b.shape) for _, (_, b) in pairs]
    ours.load_state_dict({k: b for (k, _), (_, b) in pairs})  # mmpose's random weights
    x = torch.randn(2, 3, 384, 288)
    with torch.inference_mode():
        simcc_x, simcc_y = ours(x)
        ref_x, ref_y = theirs.head(theirs.backbone(x))
    assert simcc_x.shape == (2, 133, 576) and simcc_y.shape == (2, 133, 768)
    torch.testing.assert_close(simcc_x, ref_x, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(simcc_y, ref_y, rtol=1e-4, atol=1e-4)


def test_tiny_builders_time_every_model_and_export_dwpose(tmp_path):
    from any2capins.conditions.dwpose import SimCCPoseModel

    models = gpu.build_models(tiny=True)
    figures, problems = gpu.time_models(models, "cpu", ("float32",), repeat=1, tiny=True)
    assert problems == {}
    for name in ("depth", "detector", "dwpose", "sam2", "clip"):
        assert figures[f"{name}_float32_ms"] > 0 and figures[f"{name}_params_m"] > 0
    path, ort, note = gpu.onnx_dwpose(models["dwpose"], tmp_path, repeat=1, tiny=True)
    assert path.name == "dw-ll_ucoco_384.onnx"  # the released file name: pose.dwpose.file
    assert SimCCPoseModel(path, "cpu", 1, "pose.dwpose.model").num_keypoints == 133
    assert ort or "onnxruntime" in note  # timed on CUDA, or said why not


@pytest.mark.slow
def test_smoke_runs_every_part_on_the_cpu():
    """The same code as on a GPU (builders, timing, ONNX export, saved models, synthetic
    clips, ingest, one extract on the embedded Ray cluster, completion-record figures) with
    tiny models on the CPU; nothing recorded."""
    before = RESULTS.stat().st_mtime_ns if RESULTS.exists() else None
    out = _run("--smoke", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    for figure in ('"extract_wall_s"', '"depth_s_per_clip"', '"pose_s_per_clip"',
                   '"refs_s_per_clip"', '"camera_s_per_clip"', '"depth_errors": 0',
                   '"pose_errors": 0', '"refs_errors": 0'):
        assert figure in out.stdout, out.stdout[-3000:]
    assert (RESULTS.stat().st_mtime_ns if RESULTS.exists() else None) == before


def test_extract_settings_fit_one_gpu_and_are_valid():
    paths = {k: f"/models/{k}" for k in ("depth", "detector", "dwpose", "sam2", "clip")}
    sets = gpu.extract_sets(paths, gpus=1, cpus=16, smoke=False)
    cfg = load_config(["pipelines/extract.yaml", "pipelines/extract-gpu.yaml"], sets)
    sections = [cfg.depth, cfg.pose, cfg.refs, cfg.camera]
    assert sum(s.resources.num_gpus * s.resources.workers for s in sections) <= 1
    assert sum(s.resources.num_cpus * s.resources.workers for s in sections) <= 16
    assert cfg.depth.device == cfg.pose.device == cfg.refs.device == "cuda"
    assert not cfg.filter.enabled and cfg.depth.model == "/models/depth"
    assert cfg.pose.detector.max_detections == cfg.refs.detector.max_detections == 2
    assert gpu.extract_stages(ort_cuda=True) == "depth,pose,refs,camera"
    assert "pose" not in gpu.extract_stages(ort_cuda=False)  # dwpose on cuda needs ORT-gpu


def test_plan_and_sample_figures():
    f = {"depth_float16_ms": 2.0, "detector_float16_ms": 5.0, "dwpose_float16_ms": 1.0,
         "sam2_float16_ms": 10.0}
    plan = gpu.plan_figures(f)
    # 20 x 2 + 40 x (5 + 2 x 1) + 8 x (5 + 10) = 40 + 280 + 120 = 440 ms per clip
    assert plan["plan_gpu_s_per_clip"] == 0.44
    assert plan["plan_gpus_24h_full_use"] == round(337_000 * 0.44 / 86_400, 2)
    assert plan["plan_gpus_24h_half_use"] == round(2 * 337_000 * 0.44 / 86_400, 2)
    assert gpu.plan_figures({"depth_float16_ms": 2.0}) == {}
    s = gpu.summarise_samples([(0.0, 100.0), (50.0, 900.0), (100.0, 1000.0)], "nvidia-smi")
    assert s["gpu_util_mean_pct"] == 50.0 and s["gpu_util_max_pct"] == 100.0
    assert s["gpu_busy_s"] == 0.3 and s["gpu_mem_max_mib"] == 1000
    assert gpu.summarise_samples([], "none") == {"gpu_samples": 0, "gpu_sampler": "none"}
