"""Helpers shared by the condition stages: device/dtype checks, model loading with errors that
name the setting, the tiny-model marker, clip decoding through the one frame sampler."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from any2capins.config.sampling import SamplingConfig
from any2capins.errors import ConfigError
from any2capins.io import fs
from any2capins.io.frames import SampledFrames, sample_frames
from any2capins.models.clips import ClipRecord

TINY_MARKER = "any2capins_tiny.json"
CACHE_DIR = str(Path(tempfile.gettempdir()) / "any2capins-cache")


def is_tiny(model: str | None) -> bool:
    """True when `model` is a folder written by `any2capins models tiny` (random weights)."""
    return bool(model) and (Path(str(model)) / TINY_MARKER).is_file()


def check_device(device: str, setting: str) -> str:
    """The torch device for `device`; 'cuda' without a usable GPU is a start-up error."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{setting}=cuda but no CUDA GPU is available here; set it to 'cpu'")
    return device


def torch_dtype(name: str, device: str, setting: str) -> Any:
    import torch

    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    if device == "cpu" and dtype is torch.float16:
        raise ConfigError(f"{setting}=float16 is not supported on CPU; use float32 or bfloat16")
    return dtype


def load_pretrained(loader: Any, model: str, setting: str, **kwargs: Any) -> Any:
    """`loader.from_pretrained(model)`, turning any failure into a ConfigError naming `setting`."""
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


def decode_clip(clip: ClipRecord, sampling: SamplingConfig) -> SampledFrames:
    """Sample frames of `clip` with the stage's sampling settings (DecodeError on failure)."""
    path = fs.local_copy(clip.uri, CACHE_DIR)
    return sample_frames(
        path, fps=sampling.fps, count=None if sampling.fps else sampling.count,
        max_frames=sampling.max_frames, max_side=sampling.max_side, meta=clip,
        backend=sampling.backend, num_threads=sampling.threads,
    )


def display_scale(frames: SampledFrames) -> tuple[float, float]:
    """(sx, sy) mapping decoded-frame pixels to full-resolution display pixels."""
    h, w = frames.frames.shape[1:3]
    return frames.source_size[0] / max(w, 1), frames.source_size[1] / max(h, 1)
