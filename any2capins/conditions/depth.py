"""The depth stage: Depth Anything through transformers, stored as 16-bit PNGs with a scale.

Per clip: frames sampled with `depth.sampling`, resized to `depth.input_size` (longest side,
multiple of 14, aspect kept), predicted in batches of `depth.frame_batch`, resized to at most
`depth.store_max_side`, then each frame quantised over its own [min, max] to uint16 and
PNG-encoded. Restoring is `min + q / 65535 * (max - min)` (see `decode_depth_png`), exact to
within half a quantisation step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from any2capins.conditions.common import (
    ModelStageMixin,
    check_device,
    load_pretrained,
    torch_dtype,
)
from any2capins.config.depth import DepthConfig
from any2capins.errors import DecodeError
from any2capins.io.depth_png import encode_depth_png
from any2capins.io.frames import FrameRequest
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import DepthRecord, DepthStats
from any2capins.models.modelrefs import is_tiny
from any2capins.models.tables import folder
from any2capins.runtime.frames import frames_failure
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, Stage

log = logging.getLogger(__name__)
def model_input_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(w, h) of the model input: longest side `longest`, aspect kept, multiples of 14."""
    scale = longest / max(width, height)
    return (max(14, round(width * scale / 14) * 14), max(14, round(height * scale / 14) * 14))


def store_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def depth_stats(maps: Sequence[np.ndarray]) -> DepthStats:
    allv = np.concatenate([m.ravel() for m in maps]) if maps else np.zeros(1, np.float32)
    p05, p95 = np.percentile(allv, [5, 95])
    return DepthStats(min=float(allv.min()), max=float(allv.max()), mean=float(allv.mean()),
                      std=float(allv.std()), p05=float(p05), p95=float(p95))


class DepthStage(ModelStageMixin, Stage[ClipRecord, DepthRecord]):
    name = "depth"
    input_model = ClipRecord
    output_model = DepthRecord
    input_dir = folder("clips")
    output_dir = folder("conditions.depth")

    def __init__(self, config: DepthConfig) -> None:
        super().__init__(config.resources)
        self.config = config
        self.model = None
        self.processor = None

    def setup(self) -> None:
        """Load the processor and model once; bad ids, folders or devices fail here."""
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        cfg = self.config
        self.device = check_device(cfg.device, "depth.device")
        self.dtype = torch_dtype(cfg.dtype, cfg.device, "depth.dtype")
        self.processor = load_pretrained(AutoImageProcessor, cfg.model, "depth.model")
        model = load_pretrained(AutoModelForDepthEstimation, cfg.model, "depth.model")
        self.model = model.to(self.device, dtype=self.dtype).eval()
        # one forward pass at load time: the first call of a fresh process pays for allocator
        # growth and kernel set-up (~1 s for ViT-S on CPU), which belongs to start-up, not to
        # the first clip
        side = cfg.input_size
        self.predict(np.zeros((1, side * 3 // 4, side, 3), np.uint8))
        self.note_load(f"depth:{cfg.model}")

    def frames(self) -> FrameRequest:
        return self.config.sampling.request()

    def process_batch(self, batch: Sequence[ClipRecord],
                      inputs: Inputs) -> list[DepthRecord | Failure]:
        return [self._one(clip, inputs) for clip in batch]

    def _one(self, clip: ClipRecord, inputs: Inputs) -> DepthRecord | Failure:
        t0 = time.perf_counter()
        try:
            sampled, info = inputs.frames(clip.clip_id), inputs.decode_info(clip.clip_id)
        except DecodeError as exc:
            return frames_failure(exc)
        if not sampled.indices:
            return Failure("DecodeError", "no frames could be sampled from the clip")
        maps = self.predict(sampled.frames)
        encoded = [encode_depth_png(m) for m in maps]
        h, w = maps[0].shape
        return DepthRecord(
            clip_id=clip.clip_id, uri=clip.uri, model=self.config.model,
            tiny_model=is_tiny(self.config.model), frame_indices=sampled.indices,
            timestamps=sampled.timestamps, seconds=round(time.perf_counter() - t0, 4),
            width=w, height=h, depth_png=[e[0] for e in encoded],
            scale_min=[e[1] for e in encoded], scale_max=[e[2] for e in encoded],
            stats=depth_stats(maps), **info,
        )

    def predict(self, frames: np.ndarray) -> list[np.ndarray]:
        """Float32 depth maps [h, w] (stored size) for uint8 RGB frames [T, H, W, 3]."""
        import torch

        _, fh, fw, _ = frames.shape
        iw, ih = model_input_size(fw, fh, self.config.input_size)
        sw, sh = store_size(fw, fh, self.config.store_max_side)
        out: list[np.ndarray] = []
        for start in range(0, len(frames), self.config.frame_batch):
            chunk = list(frames[start : start + self.config.frame_batch])
            inputs = self.processor(images=chunk, return_tensors="pt", do_pad=False,
                                    size={"height": ih, "width": iw}, keep_aspect_ratio=False)
            pixels = inputs["pixel_values"].to(self.device, dtype=self.dtype)
            with torch.inference_mode():
                pred = self.model(pixel_values=pixels).predicted_depth
            pred = torch.nn.functional.interpolate(
                pred.float().unsqueeze(1), size=(sh, sw), mode="bilinear", align_corners=False)
            out.extend(p[0].cpu().numpy().astype(np.float32) for p in pred)
        return out
