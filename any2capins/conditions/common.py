"""Helpers shared by the condition stages: device/dtype checks, model loading with errors that
name the setting, the tiny-model marker, display scaling of decoded frames."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from any2capins.errors import ConfigError
from any2capins.io.frames import SampledFrames


def check_device(device: str, setting: str) -> str:
    """The torch device for `device` ('cpu', 'cuda', 'cuda:N'), checked where the model runs
    (a Ray worker's setup, not the driver): CUDA without a usable GPU here is a ConfigError
    naming this host and what Ray gave the worker."""
    import socket

    import torch

    if not device.startswith("cuda"):
        return device
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f"on {socket.gethostname()}" + (
        f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else "")
    if not torch.cuda.is_available():
        raise ConfigError(f"{setting}={device} but no CUDA GPU is usable {where}; give the "
                          "stage GPUs (resources.num_gpus) on GPU nodes, or set it to 'cpu'")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"{setting}={device} but only {torch.cuda.device_count()} GPU(s) are "
                          f"visible {where}")
    return device


def torch_dtype(name: str, device: str, setting: str) -> Any:
    """The torch dtype for `name`; float16 and bfloat16 are used as asked on CUDA; float16 is
    refused on CPU (most CPU kernels lack it), bfloat16 runs there (slowly on old CPUs)."""
    import torch

    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    if not device.startswith("cuda") and dtype is torch.float16:
        raise ConfigError(f"{setting}=float16 is not supported on CPU; use float32 or bfloat16")
    return dtype


def check_model_path(model: str | None, setting: str) -> None:
    """A setting that names a path (./x, /x, ~/x, a/b/c; not a URL) must exist: ConfigError
    "depth.model: folder ./x does not exist" rather than the hub client's complaint about the
    characters of a repo id. Hub ids (org/name) and URLs pass unchecked."""
    if not model or "://" in model:
        return
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_local and not Path(model).expanduser().exists():
        raise ConfigError(f"{setting}: folder {model} does not exist")


def check_model_paths(section: Any, prefix: str) -> None:
    """check_model_path for every `model`, `config` and `checkpoint` string of a stage's
    settings (nested sections included), before any worker starts."""
    for name in type(section).model_fields:
        value = getattr(section, name)
        if hasattr(type(value), "model_fields"):
            check_model_paths(value, f"{prefix}.{name}")
        elif name in ("model", "config", "checkpoint") and isinstance(value, str):
            check_model_path(value, f"{prefix}.{name}")


def load_pretrained(loader: Any, model: str, setting: str, **kwargs: Any) -> Any:
    """`loader.from_pretrained(model)`, turning any failure into a ConfigError naming `setting`."""
    check_model_path(model, setting)
    try:
        return loader.from_pretrained(model, **kwargs)
    except Exception as exc:  # noqa: BLE001 - hub, file and format errors all mean "fix the setting"
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
        msg = f"{setting}={model!r}: cannot load: {type(exc).__name__}: {first}"
        raise ConfigError(msg) from None


class ModelStageMixin:
    """Load accounting for model stages. `load_log`, when set (tests, benchmarks), is a local
    file that gets one line per model load with the process id, so one can check that a model
    loads once per worker rather than once per clip."""

    load_log: str | None = None

    def note_load(self, what: str) -> None:
        if self.load_log:
            with Path(self.load_log).open("a", encoding="utf-8") as f:
                f.write(f"{os.getpid()} {what} {time.time():.3f}\n")


def display_scale(frames: SampledFrames) -> tuple[float, float]:
    """(sx, sy) mapping decoded-frame pixels to full-resolution display pixels."""
    h, w = frames.frames.shape[1:3]
    return frames.source_size[0] / max(w, 1), frames.source_size[1] / max(h, 1)
