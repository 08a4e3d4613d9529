"""The per-clip image embedding (CLIP or SigLIP through transformers) and the optional
aesthetic head over it.

Embedding: a few sampled frames through `AutoModel.get_image_features`, each L2-normalised,
averaged, normalised again: one unit vector per clip, compared by cosine in near-duplicate
search.

Aesthetic head file (`filter.embedding.aesthetic_head`): a `.safetensors` file holding an MLP
as `layers.N.weight` [out, in] and `layers.N.bias` [out] (N ascending, gaps allowed), the first
layer's `in` equal to the embedding size and the last layer's `out` equal to 1. Optional string
metadata: `activation` between layers ('relu', the default, or 'none': LAION's improved
aesthetic predictor is linear layers only, so its state dict saved with `activation=none`
loads as is) and `input_norm` ('l2', the default: the embedding is unit length, or 'none').
`write_aesthetic_head` writes one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.config.filter import EmbeddingFilter
from any2capins.errors import ConfigError
from any2capins.models.modelrefs import mark_tiny

_LAYER = re.compile(r"^layers\.(\d+)\.(weight|bias)$")


class Embedder:
    """CLIP/SigLIP image embeddings with the settings of `filter.embedding`."""

    def __init__(self, cfg: EmbeddingFilter) -> None:
        self.cfg = cfg
        self.model: Any = None
        self.processor: Any = None
        self.dim = 0

    def load(self) -> None:
        """Load processor and model once; a bad id, folder or device is a ConfigError."""
        import torch
        from transformers import AutoImageProcessor, AutoModel

        cfg = self.cfg
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"filter.embedding.device={cfg.device} but no CUDA GPU is "
                              "usable here; set it to 'cpu' or give the stage a GPU")
        if cfg.dtype == "float16" and not cfg.device.startswith("cuda"):
            raise ConfigError("filter.embedding.dtype=float16 is not supported on CPU")
        self.processor = _load(AutoImageProcessor, cfg.model)
        model = _load(AutoModel, cfg.model)
        if not hasattr(model, "get_image_features"):
            raise ConfigError(f"filter.embedding.model={cfg.model!r}: {type(model).__name__} "
                              "has no image embedding (use a CLIP or SigLIP model)")
        self.model = model.to(cfg.device, dtype=getattr(torch, cfg.dtype)).eval()
        # one pass at load time: allocator set-up belongs to start-up, and it gives the size
        self.dim = len(self.embed(np.zeros((1, 64, 64, 3), np.uint8)))

    def embed(self, frames: np.ndarray) -> list[float]:
        """Unit-length clip embedding from uint8 RGB frames [T, H, W, 3]."""
        import torch

        inputs = self.processor(images=list(frames), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.cfg.device, dtype=self.model.dtype)
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=pixels)
        feats = out if isinstance(out, torch.Tensor) else out.pooler_output
        feats = torch.nn.functional.normalize(feats.float(), dim=-1).mean(dim=0)
        return torch.nn.functional.normalize(feats, dim=0).cpu().tolist()


def _load(loader: Any, model: str) -> Any:
    try:
        return loader.from_pretrained(model)
    except Exception as exc:  # noqa: BLE001 - hub, file and format errors all mean "fix it"
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
        raise ConfigError(f"filter.embedding.model={model!r}: cannot load: "
                          f"{type(exc).__name__}: {first}") from None


class AestheticHead:
    """An MLP over the clip embedding, read from a .safetensors file (format: module doc)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], activation: str = "relu",
                 input_norm: str = "l2") -> None:
        self.layers, self.activation, self.input_norm = layers, activation, input_norm

    @classmethod
    def load(cls, path: str, dim: int) -> AestheticHead:
        """Read and check the head (ConfigError naming the setting when it cannot be used
        over embeddings of size `dim`)."""
        from safetensors import safe_open

        where = f"filter.embedding.aesthetic_head={path!r}"
        try:
            with safe_open(path, framework="np") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
        except Exception as exc:  # noqa: BLE001 - missing file, bad header: fix the setting
            raise ConfigError(f"{where}: cannot read: {exc}") from None
        layers = _layers(tensors, where)
        if layers[0][0].shape[1] != dim or layers[-1][0].shape[0] != 1:
            raise ConfigError(f"{where}: the head maps {layers[0][0].shape[1]} -> "
                              f"{layers[-1][0].shape[0]} values; the embedding has {dim} "
                              "and the head must end in 1")
        activation, norm = meta.get("activation", "relu"), meta.get("input_norm", "l2")
        if activation not in ("relu", "none") or norm not in ("l2", "none"):
            raise ConfigError(f"{where}: metadata activation={activation!r} "
                              f"input_norm={norm!r} (expected relu|none, l2|none)")
        return cls(layers, activation, norm)

    def __call__(self, embedding: Sequence[float]) -> float:
        x = np.asarray(embedding, np.float64)
        if self.input_norm == "l2":
            x = x / max(float(np.linalg.norm(x)), 1e-12)
        for i, (w, b) in enumerate(self.layers):
            x = w.astype(np.float64) @ x + b
            if self.activation == "relu" and i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return float(x[0])


def _layers(tensors: dict[str, np.ndarray], where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    found: dict[int, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        m = _LAYER.match(key)
        if m is None:
            raise ConfigError(f"{where}: unexpected tensor {key!r} (expected layers.N.weight "
                              "and layers.N.bias)")
        found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    layers = []
    for n in sorted(found):
        w, b = found[n].get("weight"), found[n].get("bias")
        if w is None or b is None or w.ndim != 2 or b.shape != (w.shape[0],):
            raise ConfigError(f"{where}: layer {n} needs weight [out, in] and bias [out]")
        if layers and layers[-1][0].shape[0] != w.shape[1]:
            raise ConfigError(f"{where}: layer {n} takes {w.shape[1]} inputs, the layer "
                              f"before gives {layers[-1][0].shape[0]}")
        layers.append((w, b))
    if not layers:
        raise ConfigError(f"{where}: no layers.N.weight tensors in the file")
    return layers


def write_aesthetic_head(path: str | Path, layers: Sequence[tuple[np.ndarray, np.ndarray]],
                         activation: str = "relu", input_norm: str = "l2") -> Path:
    """Write an aesthetic head file: `layers` are (weight [out, in], bias [out]) pairs."""
    from safetensors.numpy import save_file

    tensors = {}
    for n, (w, b) in enumerate(layers):
        tensors[f"layers.{n}.weight"] = np.ascontiguousarray(w, np.float32)
        tensors[f"layers.{n}.bias"] = np.ascontiguousarray(b, np.float32)
    save_file(tensors, str(path), metadata={"activation": activation, "input_norm": input_norm})
    return Path(path)


def tiny_clip(folder: str | Path, seed: int = 0) -> Path:
    """A tiny randomly-initialised CLIP (2-layer ViT on 64 px images, 32-d embedding) saved
    with its image processor, loaded later like any hub model. Its embeddings are
    meaningless: it exists to run the real code offline (tests, the demo)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = Path(folder)
    torch.manual_seed(seed)
    text = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 32, "vocab_size": 64, "max_position_embeddings": 16,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    vision = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "image_size": 64, "patch_size": 16}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
              ).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 64},
                       crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    info = {"kind": "embedding", "seed": seed, "random_weights": True,
            "note": "tiny random CLIP for offline runs; outputs meaningless"}
    mark_tiny(folder, info)
    return folder
