"""SAM2 masks of the reference subjects, their cut-outs, and the COCO RLE helpers.

`Sam2Segmenter(config, device, dtype).load()` once per worker, then per clip
`segment(frames, boxes, key_frames)`: `frames` uint8 [T, H, W, 3] (the stage's decoded frames),
`boxes` {track_id: {t: [x1, y1, x2, y2] in those frames' pixels}}; it returns
{track_id: Segmentation}, one bool mask per frame.

How SAM2 runs (transformers `Sam2VideoModel`): frames are visited in time order, every subject
on a frame before the next frame, so the image encoder (most of the cost) runs once per frame
and pass whatever the number of subjects (the sessions share one feature cache of one frame).
- `prompt_frames: tracked`: every frame where the subject has a box gets that box as prompt.
  Each such frame is an initial conditioning frame for SAM2 (it uses no memory), so neither the
  memory encoder nor memory attention runs: one session, reset after every (frame, subject).
- `prompt_frames: best`: the key frame (the subject's best crop) gets the box; one session per
  subject propagates it forward from the key frame, then backward from it, with SAM2's memory.

What every result satisfies (enforced here, whatever the weights): a frame with a box has a
non-empty mask inside the box grown by `clip_margin` of its size (SAM2's mask cut to that
region; when SAM2's object score is below `score_threshold` or nothing is left inside the
region, the box rectangle stands in, source 'box'); a frame without a box has no mask
(source 'none').

transformers' SAM2 processors need torchvision, which this project cannot install next to its
CPU torch (PyPI's torchvision is a CUDA build that breaks transformers' image processors), so
inputs are prepared here the way those processors do: frames resized to the model's square
input (`config.image_size`, 1024 for the published models) and normalised with ImageNet
mean/std, boxes scaled to that square, mask logits resized to the frame and cut at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from any2capins.conditions.common import check_device, load_pretrained, torch_dtype
from any2capins.config.refs import RefsConfig, Sam2Config
from any2capins.models.conditions import RefMasks

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BOX_LABELS = (2, 3)  # SAM's point labels of a box's top-left and bottom-right corners

Box = Sequence[float]


@dataclass
class Segmentation:
    """One subject over the T frames: `masks` bool [T, H, W], `scores` float32 [T] (SAM2's
    object score, 0 where SAM2 did not run), `sources` [T] ('prompt', 'propagated', 'box' or
    'none', see models.conditions.RefMasks)."""

    masks: np.ndarray
    scores: np.ndarray
    sources: list[str]

    def areas(self) -> list[int]:
        return [int(m.sum()) for m in self.masks]


# -- masks: regions, RLE, cut-outs ----------------------------------------------------------

def box_region(box: Box, margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    """Integer region (x1, y1, x2, y2) of `box` grown by `margin` of its size each side,
    clipped to the w x h frame; at least one pixel wide and high."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    rx1 = min(max(0, math.floor(x1 - mx)), w - 1)
    ry1 = min(max(0, math.floor(y1 - my)), h - 1)
    return (rx1, ry1, max(rx1 + 1, min(w, math.ceil(x2 + mx))),
            max(ry1 + 1, min(h, math.ceil(y2 + my))))


def box_mask(box: Box, h: int, w: int) -> np.ndarray:
    """bool [h, w]: the box rectangle (the stand-in when SAM2 gives no mask)."""
    x1, y1, x2, y2 = box_region(box, 0.0, w, h)
    out = np.zeros((h, w), bool)
    out[y1:y2, x1:x2] = True
    return out


def settle(raw: np.ndarray, score: float, box: Box, margin: float,
           threshold: float) -> tuple[np.ndarray, bool]:
    """The stored mask of a frame with a box, from SAM2's mask `raw` (bool, frame size; all
    False where SAM2 did not run) and its object score: SAM2's mask cut to the grown box, and
    True; or the box rectangle, and False, when the score is below `threshold` or nothing of
    the mask is left inside the region."""
    h, w = raw.shape
    if score >= threshold:
        x1, y1, x2, y2 = box_region(box, margin, w, h)
        out = np.zeros((h, w), bool)
        out[y1:y2, x1:x2] = raw[y1:y2, x1:x2]
        if out.any():
            return out, True
    return box_mask(box, h, w), False


def encode_rle(mask: np.ndarray) -> str:
    """COCO compressed RLE counts of a bool/uint8 [H, W] mask (pycocotools), as ASCII text;
    the size is stored next to it by the caller."""
    from pycocotools import mask as coco

    rle = coco.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return rle["counts"].decode("ascii")


def decode_rle(counts: str, height: int, width: int) -> np.ndarray:
    """bool [height, width] from COCO compressed RLE counts (the inverse of encode_rle)."""
    from pycocotools import mask as coco

    return coco.decode({"size": [height, width], "counts": counts.encode("ascii")}).astype(bool)


def cutout(image: np.ndarray, mask: np.ndarray, color: Sequence[int]) -> np.ndarray:
    """uint8 [h, w, 3]: `image` where `mask` is set, `color` everywhere else."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    out = np.empty_like(image)
    out[...] = np.asarray(color, np.uint8)
    out[mask] = image[mask]
    return out


def draw_mask(image: np.ndarray, mask: np.ndarray, colour: Sequence[int] = (0, 200, 255),
              alpha: float = 0.35) -> np.ndarray:
    """uint8 [h, w, 3]: `image` tinted with `colour` where `mask` is set, with the mask's
    outline drawn solid (the contact sheet's view of a crop's mask)."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    out = image.astype(np.float32)
    tint = np.asarray(colour, np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * tint
    inner = mask.copy()  # eroded by one pixel (4-neighbourhood); the rest of the mask is edge
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    out[mask & ~inner] = tint
    return out.round().astype(np.uint8)


# -- SAM2 ------------------------------------------------------------------------------------

class _Raw:
    """SAM2's per-frame answers for one subject before settling: masks at frame size."""

    def __init__(self, t_len: int) -> None:
        self.masks: list[np.ndarray | None] = [None] * t_len
        self.scores = np.zeros(t_len, np.float32)
        self.sources: list[str] = ["none"] * t_len


class Sam2Segmenter:
    """SAM2 video segmentation of tracked subjects prompted with their boxes (see module doc).
    `device` and `dtype` are resolved (torch device string, torch dtype)."""

    def __init__(self, config: Sam2Config, device: str, dtype: Any,
                 setting: str = "refs.sam2.model") -> None:
        self.config = config
        self.device = device
        self.dtype = dtype
        self.setting = setting
        self.model: Any = None
        self.size = 0

    def load(self) -> None:
        """Load the model once (ConfigError naming the setting when it cannot be loaded)."""
        from transformers import Sam2VideoModel

        model = load_pretrained(Sam2VideoModel, self.config.model, self.setting)
        self.model = model.to(self.device, dtype=self.dtype).eval()
        size = model.config.image_size
        self.size = int(size[0] if isinstance(size, list | tuple) else size)

    def segment(self, frames: np.ndarray, boxes: Mapping[int, Mapping[int, Box]],
                key_frames: Mapping[int, int] | None = None) -> dict[int, Segmentation]:
        """Masks of every subject of `boxes` on every frame (see the module doc for the
        invariants). `key_frames` {track_id: t} picks the prompted frame of `best` mode
        (default: the subject's largest box)."""
        import torch

        if self.model is None:
            raise RuntimeError("Sam2Segmenter.load() was not called")
        t_len, h, w = frames.shape[:3]
        raw = {tid: _Raw(t_len) for tid in boxes}
        boxed = {tid: per for tid, per in boxes.items() if per}  # a subject with no box: none
        if boxed and t_len:
            with torch.inference_mode():
                video = self._pixels(frames)
                if self.config.prompt_frames == "tracked":
                    self._tracked(video, boxed, raw, (h, w))
                else:
                    keys = {tid: t if (t := (key_frames or {}).get(tid)) in per
                            else _largest(per) for tid, per in boxed.items()}
                    self._propagate(video, boxed, keys, raw, (h, w))
        return {tid: self._settle(raw[tid], boxes[tid], h, w) for tid in boxes}

    def _pixels(self, frames: np.ndarray) -> Any:
        """float [T, 3, S, S] on the model's device: resized, rescaled, ImageNet-normalised."""
        import torch
        from torch.nn import functional

        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        out = []
        for frame in frames:  # one at a time: the full-size float video is never held
            x = torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float()  # a copy
            x = functional.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
            out.append(((x / 255.0 - mean) / std)[0])
        return torch.stack(out).to(self.device, dtype=self.dtype)

    def _session(self, video: Any, hw: tuple[int, int]) -> Any:
        from transformers.models.sam2_video.modeling_sam2_video import (
            Sam2VideoInferenceSession,
        )

        return Sam2VideoInferenceSession(
            video=video, video_height=hw[0], video_width=hw[1], inference_device=self.device,
            inference_state_device=self.device, video_storage_device=self.device,
            dtype=self.dtype, max_vision_features_cache_size=1)

    def _prompt(self, session: Any, t: int, box: Box, hw: tuple[int, int]) -> None:
        """The box as SAM2's two labelled corner points, in the model's input square."""
        import torch

        sx, sy = self.size / hw[1], self.size / hw[0]
        x1, y1, x2, y2 = (float(v) for v in box)
        coords = torch.tensor([[[[x1 * sx, y1 * sy], [x2 * sx, y2 * sy]]]], dtype=torch.float32)
        labels = torch.tensor([[list(BOX_LABELS)]], dtype=torch.int32)
        idx = session.obj_id_to_idx(0)
        session.add_point_inputs(idx, t, {"point_coords": coords, "point_labels": labels})
        session.obj_with_new_inputs = [0]

    def _read(self, out: Any, hw: tuple[int, int]) -> tuple[np.ndarray, float]:
        """(mask at frame size, object score) of a one-subject forward output."""
        import torch
        from torch.nn import functional

        logits = functional.interpolate(out.pred_masks[:1].float(), size=hw, mode="bilinear",
                                        align_corners=False)[0, 0]
        score = float(torch.sigmoid(out.object_score_logits.float().reshape(-1)[0]))
        return (logits > 0).cpu().numpy(), score

    def _tracked(self, video: Any, boxes: Mapping[int, Mapping[int, Box]],
                 raw: dict[int, _Raw], hw: tuple[int, int]) -> None:
        session = self._session(video, hw)
        for t in range(video.shape[0]):
            for tid, per in boxes.items():
                if t not in per:
                    continue
                self._prompt(session, t, per[t], hw)
                out = self.model(session, frame_idx=t, run_mem_encoder=False)
                mask, score = self._read(out, hw)
                raw[tid].masks[t], raw[tid].scores[t], raw[tid].sources[t] = mask, score, "prompt"
                session.reset_tracking_data()  # every prompt stands alone; keeps the cache

    def _propagate(self, video: Any, boxes: Mapping[int, Mapping[int, Box]],
                   keys: Mapping[int, int], raw: dict[int, _Raw], hw: tuple[int, int]) -> None:
        sessions = {tid: self._session(video, hw) for tid in boxes}
        shared = next(iter(sessions.values())).cache
        for s in sessions.values():
            s.cache = shared  # one image encoding per frame and pass for all subjects
        t_len = video.shape[0]
        for t in range(t_len):  # forward pass: key frames prompted, later frames propagated
            for tid, s in sessions.items():
                if t == keys[tid]:
                    self._prompt(s, t, boxes[tid][t], hw)
                if t >= keys[tid]:
                    source = "prompt" if t == keys[tid] else "propagated"
                    self._step(s, t, raw[tid], source, hw)
        for t in range(t_len - 1, -1, -1):  # backward pass: frames before each key frame
            for tid, s in sessions.items():
                if t < keys[tid]:
                    self._step(s, t, raw[tid], "propagated", hw, reverse=True)

    def _step(self, session: Any, t: int, raw: _Raw, source: str, hw: tuple[int, int], *,
              reverse: bool = False) -> None:
        out = self.model(session, frame_idx=t, reverse=reverse)
        raw.masks[t], raw.scores[t] = self._read(out, hw)
        raw.sources[t] = source
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            stored = session.output_dict_per_obj[0][kind].get(t)
            if stored is not None:  # only needed for the memory encoder, which has run
                stored.pop("high_res_masks", None)

    def _settle(self, raw: _Raw, per: Mapping[int, Box], h: int, w: int) -> Segmentation:
        cfg = self.config
        masks = np.zeros((len(raw.masks), h, w), bool)
        sources = ["none"] * len(raw.masks)
        for t, box in per.items():
            mask = raw.masks[t] if raw.masks[t] is not None else np.zeros((h, w), bool)
            masks[t], ok = settle(mask, float(raw.scores[t]), box, cfg.clip_margin,
                                  cfg.score_threshold)
            sources[t] = raw.sources[t] if ok else "box"
        return Segmentation(masks, raw.scores, sources)


def _largest(per: Mapping[int, Box]) -> int:
    return max(per, key=lambda t: (per[t][2] - per[t][0]) * (per[t][3] - per[t][1]))


# -- what the refs stage stores --------------------------------------------------------------

def load_segmenter(cfg: RefsConfig) -> Sam2Segmenter | None:
    """The loaded segmenter of the refs settings (device and dtype default to refs'), or None
    when `refs.segment` is 'none'. ConfigError naming the setting when it cannot load."""
    if cfg.segment == "none":
        return None
    device = check_device(cfg.sam2.device or cfg.device, "refs.sam2.device")
    dtype = torch_dtype(cfg.sam2.dtype or cfg.dtype, device, "refs.sam2.dtype")
    segmenter = Sam2Segmenter(cfg.sam2, device, dtype)
    segmenter.load()
    return segmenter


def ref_masks(track_id: int, seg: Segmentation) -> RefMasks:
    """The stored per-frame masks of one subject (RLE; None and area 0 where it has none)."""
    rle = [encode_rle(m) if src != "none" else None for m, src in zip(seg.masks, seg.sources,
                                                                      strict=True)]
    return RefMasks(track_id=track_id, rle=rle, areas=seg.areas(),
                    scores=[round(float(s), 4) for s in seg.scores], sources=seg.sources)


def crop_fields(image: np.ndarray, seg: Segmentation, t: int,
                region: tuple[int, int, int, int], *, color: Sequence[int],
                jpeg: Callable[[np.ndarray], bytes]) -> tuple[np.ndarray, dict[str, Any]]:
    """(the cut-out image, the RefCrop mask fields) of the crop `image` taken from frame `t`
    at `region` (x1, y1, x2, y2 in frame pixels)."""
    x1, y1, x2, y2 = region
    mask = seg.masks[t, y1:y2, x1:x2]
    cut = cutout(image, mask, color)
    return cut, {"cutout_jpeg": jpeg(cut), "mask_rle": encode_rle(mask),
                 "mask_area": int(mask.sum()), "mask_source": seg.sources[t]}
