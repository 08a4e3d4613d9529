"""The reference-crop stage: subjects detected and tracked, the best crop of each track.

Per clip: frames sampled with `refs.sampling` (during `extract` with pose and the same detector
settings: pose's frames and the detections shared with pose, see conditions/plan.py); subjects
detected (classes from `refs.labels`,
all by default) and tracked per class (`tracking.track`). For every observation of a track a
crop quality is computed from size, sharpness (variance of the Laplacian), detection score and
whether the box touches the frame border; the best observation becomes the track's crop, with
`refs.margin` around the box. Tracks are ranked people first, then by quality weighted by how
often they were seen; the best `refs.max_subjects` are also stitched side by side into one
image, as the paper feeds multi-identity references.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from any2capins.conditions.common import (
    ModelStageMixin,
    check_device,
    decode_clip,
    display_scale,
    is_tiny,
    stage_frames,
    torch_dtype,
)
from any2capins.conditions.detect import (
    Detector,
    keep_only,
    shared_detections,
    shared_detector,
)
from any2capins.conditions.tracking import FrameDetections, Track, track
from any2capins.config.refs import RefsConfig
from any2capins.errors import DecodeError
from any2capins.io.frames import SampledFrames
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import RefCrop, RefsRecord
from any2capins.runtime.stage import Failure, Stage


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grayscale image (higher = sharper)."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(gray, cv2.CV_64F).var()) if gray.size else 0.0


def crop_region(box: np.ndarray, margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    """Integer crop (x1, y1, x2, y2): the box grown by `margin` of its size, clipped."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, math.floor(x1 - mx)), max(0, math.floor(y1 - my)),
            min(w, math.ceil(x2 + mx)), min(h, math.ceil(y2 + my)))


def crop_quality(score: float, area_frac: float, sharp: float, edge_cut: bool) -> float:
    """Ranking score in [0, 1]: larger, sharper, surer and uncut crops rank higher."""
    size_term = min(1.0, math.sqrt(area_frac / 0.25))  # a quarter of the frame counts as full
    sharp_term = sharp / (sharp + 100.0)  # Laplacian variance ~100 is already fairly sharp
    return score * size_term * sharp_term * (0.5 if edge_cut else 1.0)


def area_of(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def touches_edge(box: np.ndarray, w: int, h: int, tol: float = 1.0) -> bool:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1 <= tol or y1 <= tol or x2 >= w - tol or y2 >= h - tol


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def stitch(images: Sequence[np.ndarray], height: int) -> np.ndarray:
    """Images resized to `height` (aspect kept) and placed left to right."""
    parts = []
    for img in images:
        w = max(1, round(img.shape[1] * height / img.shape[0]))
        parts.append(np.asarray(Image.fromarray(img).resize((w, height), Image.BILINEAR)))
    return np.concatenate(parts, axis=1)


@dataclass
class _Candidate:
    crop: RefCrop
    image: np.ndarray
    rank: tuple[bool, float]


class RefsStage(ModelStageMixin, Stage[ClipRecord, RefsRecord]):
    name = "refs"
    input_model = ClipRecord
    output_model = RefsRecord
    output_dir = "conditions/refs"

    def __init__(self, config: RefsConfig) -> None:
        super().__init__(config.resources)
        self.config = config
        self.detector: Detector | None = None

    def setup(self) -> None:
        cfg = self.config
        device = check_device(cfg.device, "refs.device")
        dtype = torch_dtype(cfg.dtype, cfg.device, "refs.dtype")
        self.detector = shared_detector(cfg.detector, device, dtype, "refs.detector.model")
        self.keep = None if cfg.labels is None else self.detector.label_ids(cfg.labels,
                                                                            "refs.labels")
        self.note_load(f"refs:{cfg.detector.model}")

    def process_batch(self, batch: Sequence[ClipRecord]) -> list[RefsRecord | Failure]:
        return [self._one(clip) for clip in batch]

    def _one(self, clip: ClipRecord) -> RefsRecord | Failure:
        t0 = time.perf_counter()
        try:
            sampled, info = stage_frames(self, clip, "refs",
                                         lambda: decode_clip(clip, self.config.sampling))
        except DecodeError as exc:
            return Failure("DecodeError", str(exc))
        frames = sampled.frames
        found = shared_detections(self.shard_context, self.detector, clip.clip_id, frames,
                                  self.keep)
        dets = [self._small_out(keep_only(d, self.keep), frames.shape[2], frames.shape[1])
                for d in found]
        tc = self.config.tracker
        tracks = track(dets, iou_threshold=tc.iou_threshold, max_missed=tc.max_missed,
                       min_length=tc.min_length)
        cands = [self._best(tr, dets, sampled) for tr in tracks]
        cands.sort(key=lambda c: c.rank)
        chosen = cands[: self.config.max_subjects]
        stitched = (encode_jpeg(stitch([c.image for c in chosen], self.config.stitch_height),
                                self.config.jpeg_quality) if chosen else None)
        return RefsRecord(
            clip_id=clip.clip_id, uri=clip.uri, model=self.config.detector.model,
            tiny_model=is_tiny(self.config.detector.model), frame_indices=sampled.indices,
            timestamps=sampled.timestamps, seconds=round(time.perf_counter() - t0, 4),
            width=sampled.source_size[0], height=sampled.source_size[1],
            crops=[c.crop for c in cands], stitched_jpeg=stitched,
            stitched_track_ids=[c.crop.track_id for c in chosen], **info,
        )

    def _small_out(self, det: FrameDetections, w: int, h: int) -> FrameDetections:
        """Drop boxes smaller than `min_box_frac` of the frame."""
        b = det.boxes
        keep = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) >= self.config.min_box_frac * w * h
        return FrameDetections(b[keep], det.scores[keep], det.labels[keep])

    def _best(
        self, tr: Track, dets: Sequence[FrameDetections], sampled: SampledFrames
    ) -> _Candidate:
        frames = sampled.frames
        h, w = frames.shape[1:3]
        best: tuple[float, int, int, float, bool, tuple[int, int, int, int]] | None = None
        for t, d in zip(tr.frames, tr.detections, strict=True):
            box = dets[t].boxes[d]
            region = crop_region(box, self.config.margin, w, h)
            x1, y1, x2, y2 = region
            sharp = sharpness(frames[t, y1:y2, x1:x2])
            area = area_of(box) / (w * h)
            edge = touches_edge(box, w, h)
            q = crop_quality(float(dets[t].scores[d]), area, sharp, edge)
            if best is None or q > best[0]:
                best = (q, t, d, sharp, edge, region)
        q, t, d, sharp, edge, (x1, y1, x2, y2) = best
        image = np.ascontiguousarray(frames[t, y1:y2, x1:x2])
        sx, sy = display_scale(sampled)
        box = dets[t].boxes[d]
        label = self.detector.id2label.get(tr.label, str(tr.label))
        crop = RefCrop(
            track_id=tr.track_id, label=label, frame_index=sampled.indices[t],
            timestamp=sampled.timestamps[t],
            box=[round(float(box[0]) * sx, 2), round(float(box[1]) * sy, 2),
                 round(float(box[2]) * sx, 2), round(float(box[3]) * sy, 2)],
            crop_box=[x1 * sx, y1 * sy, x2 * sx, y2 * sy], score=float(dets[t].scores[d]),
            sharpness=round(sharp, 3), area_frac=round(area_of(box) / (w * h), 5),
            edge_cut=edge, quality=round(q, 5), frames_seen=len(tr.frames),
            jpeg=encode_jpeg(image, self.config.jpeg_quality),
            crop_width=image.shape[1], crop_height=image.shape[0],
        )
        seen = len(tr.frames) / max(len(frames), 1)
        rank = (label != self.config.person_label, -q * math.sqrt(seen))
        return _Candidate(crop, image, rank)
