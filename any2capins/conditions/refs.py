"""The reference-crop stage: subjects detected and tracked, the best crop of each track.

Per clip: frames sampled with `refs.sampling` (with the same sampling and detector settings as
pose, the detections of one pass serve both stages); subjects detected (classes from
`refs.labels`, all by default) and tracked per class (`tracking.track`). For every observation
of a track a crop quality is computed from size, sharpness (variance of the Laplacian),
detection score and whether the box touches the frame border; the best observation becomes the
track's crop, with `refs.margin` around the box. Tracks are ranked people first, then by
quality weighted by how often they were seen; the best `refs.max_subjects` are also stitched
side by side into one image, as the paper feeds multi-identity references.

With `refs.segment: sam2` (conditions/segment.py), the kept tracks are segmented with SAM2,
prompted with their boxes, before the crops are chosen: every subject gets a mask per frame,
a frame whose mask is only the box stand-in halves that observation's quality, and each crop
carries its mask and a cut-out (the subject on refs.cutout_color); the stitched image is made
of the cut-outs.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from any2capins.conditions.common import (
    ModelStageMixin,
    check_device,
    display_scale,
    torch_dtype,
)
from any2capins.conditions.detect import (
    Detector,
    clip_detections,
    detection_key,
    select,
    shared_detector,
)
from any2capins.conditions.segment import (
    Sam2Segmenter,
    Segmentation,
    crop_fields,
    load_segmenter,
    ref_masks,
)
from any2capins.conditions.tracking import FrameDetections, Track, track
from any2capins.config.refs import RefsConfig
from any2capins.errors import DecodeError
from any2capins.io.frames import FrameRequest, SampledFrames
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import RefCrop, RefsRecord
from any2capins.models.modelrefs import is_tiny
from any2capins.models.tables import folder
from any2capins.runtime.frames import frames_failure
from any2capins.runtime.inputs import Inputs
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


# A crop whose mask is only the box stand-in (SAM2 found nothing there) is worth half.
STAND_IN_PENALTY = 0.5


@dataclass
class _Obs:
    """One observation of a track: its crop quality, frame, detection and crop region."""

    quality: float
    t: int
    d: int
    sharp: float
    edge: bool
    region: tuple[int, int, int, int]


@dataclass
class _Candidate:
    crop: RefCrop
    image: np.ndarray
    rank: tuple[bool, float]


class RefsStage(ModelStageMixin, Stage[ClipRecord, RefsRecord]):
    name = "refs"
    input_model = ClipRecord
    output_model = RefsRecord
    input_dir = folder("clips")
    output_dir = folder("conditions.refs")

    def __init__(self, config: RefsConfig) -> None:
        super().__init__(config.resources)
        self.config = config
        self.detector: Detector | None = None
        self.segmenter: Sam2Segmenter | None = None

    def setup(self) -> None:
        cfg = self.config
        device = check_device(cfg.device, "refs.device")
        dtype = torch_dtype(cfg.dtype, cfg.device, "refs.dtype")
        self.detector = shared_detector(cfg.detector, device, dtype, "refs.detector.model")
        self.keep = None if cfg.labels is None else self.detector.label_ids(cfg.labels,
                                                                            "refs.labels")
        self.note_load(f"refs:{cfg.detector.model}")
        self.segmenter = load_segmenter(cfg)  # None with refs.segment none

    def frames(self) -> FrameRequest:
        return self.config.sampling.request()

    def fingerprint(self) -> dict[str, Any]:
        """The settings; without SAM2's when nothing is segmented (`segment: none` rows do
        not depend on them, and the section's arrival must not redo such shards)."""
        out = super().fingerprint()
        if self.config.segment == "none":
            out["config"] = {k: v for k, v in out["config"].items()
                             if k not in ("segment", "sam2", "cutout_color")}
        return out

    def share_key(self) -> tuple[str, ...]:
        """Equal to pose's when the detector settings and frames are equal: one worker, one
        detector and one detection pass per clip serve both."""
        cfg = self.config
        return detection_key(cfg.detector, cfg.device, cfg.dtype, self.frames())

    def process_batch(self, batch: Sequence[ClipRecord],
                      inputs: Inputs) -> list[RefsRecord | Failure]:
        return [self._one(clip, inputs) for clip in batch]

    def _one(self, clip: ClipRecord, inputs: Inputs) -> RefsRecord | Failure:
        t0 = time.perf_counter()
        try:
            sampled, info = inputs.frames(clip.clip_id), inputs.decode_info(clip.clip_id)
        except DecodeError as exc:
            return frames_failure(exc)
        frames = sampled.frames
        found = clip_detections(inputs, self.detector, clip.clip_id, frames, self.share_key())
        limit = self.config.detector.max_detections
        dets = [self._small_out(select(d, self.keep, limit), frames.shape[2], frames.shape[1])
                for d in found]
        tc = self.config.tracker
        tracks = track(dets, iou_threshold=tc.iou_threshold, max_missed=tc.max_missed,
                       min_length=tc.min_length)
        obs = {tr.track_id: self._observations(tr, dets, frames) for tr in tracks}
        seg = self._segment(tracks, obs, dets, frames)
        cands = [self._best(tr, obs[tr.track_id], dets, sampled, seg.get(tr.track_id))
                 for tr in tracks]
        cands.sort(key=lambda c: c.rank)
        chosen = cands[: self.config.max_subjects]
        stitched = (encode_jpeg(stitch([c.image for c in chosen], self.config.stitch_height),
                                self.config.jpeg_quality) if chosen else None)
        return RefsRecord(
            clip_id=clip.clip_id, uri=clip.uri, model=self.config.detector.model,
            tiny_model=self._tiny(), frame_indices=sampled.indices,
            timestamps=sampled.timestamps, seconds=round(time.perf_counter() - t0, 4),
            width=sampled.source_size[0], height=sampled.source_size[1],
            crops=[c.crop for c in cands], stitched_jpeg=stitched,
            stitched_track_ids=[c.crop.track_id for c in chosen],
            **self._mask_columns(cands, seg, frames.shape[1:3]), **info,
        )

    def _small_out(self, det: FrameDetections, w: int, h: int) -> FrameDetections:
        """Drop boxes smaller than `min_box_frac` of the frame."""
        b = det.boxes
        keep = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) >= self.config.min_box_frac * w * h
        return FrameDetections(b[keep], det.scores[keep], det.labels[keep])

    def _observations(self, tr: Track, dets: Sequence[FrameDetections],
                      frames: np.ndarray) -> list[_Obs]:
        """Every observation of `tr` with its crop quality (see crop_quality)."""
        h, w = frames.shape[1:3]
        out = []
        for t, d in zip(tr.frames, tr.detections, strict=True):
            box = dets[t].boxes[d]
            region = crop_region(box, self.config.margin, w, h)
            x1, y1, x2, y2 = region
            sharp = sharpness(frames[t, y1:y2, x1:x2])
            edge = touches_edge(box, w, h)
            q = crop_quality(float(dets[t].scores[d]), area_of(box) / (w * h), sharp, edge)
            out.append(_Obs(q, t, d, sharp, edge, region))
        return out

    def _rank(self, tr: Track, quality: float, n_frames: int) -> tuple[bool, float]:
        """People first, then quality weighted by the square root of the share seen."""
        label = self.detector.id2label.get(tr.label, str(tr.label))
        seen = len(tr.frames) / max(n_frames, 1)
        return (label != self.config.person_label, -quality * math.sqrt(seen))

    def _segment(self, tracks: Sequence[Track], obs: dict[int, list[_Obs]],
                 dets: Sequence[FrameDetections], frames: np.ndarray) -> dict[int, Segmentation]:
        """SAM2 masks of the kept tracks, best ranked first (at most refs.sam2.max_subjects),
        prompted with their boxes; a track's key frame is its best crop's. {} without SAM2."""
        if self.segmenter is None or not tracks:
            return {}
        best = {tid: max(o, key=lambda x: x.quality) for tid, o in obs.items()}
        ranked = sorted(tracks, key=lambda tr: self._rank(tr, best[tr.track_id].quality,
                                                          len(frames)))
        kept = ranked[: self.config.sam2.max_subjects]
        boxes = {tr.track_id: {o.t: dets[o.t].boxes[o.d] for o in obs[tr.track_id]}
                 for tr in kept}
        return self.segmenter.segment(frames, boxes, {tr.track_id: best[tr.track_id].t
                                                      for tr in kept})

    def _best(self, tr: Track, obs: Sequence[_Obs], dets: Sequence[FrameDetections],
              sampled: SampledFrames, seg: Segmentation | None) -> _Candidate:
        """The track's crop: its best observation (a box stand-in mask counts half)."""
        def quality(o: _Obs) -> float:
            stand_in = seg is not None and seg.sources[o.t] == "box"
            return o.quality * (STAND_IN_PENALTY if stand_in else 1.0)

        o = max(obs, key=quality)
        q, t, d, (x1, y1, x2, y2) = quality(o), o.t, o.d, o.region
        frames = sampled.frames
        h, w = frames.shape[1:3]
        image = np.ascontiguousarray(frames[t, y1:y2, x1:x2])
        box_jpeg, masks = encode_jpeg(image, self.config.jpeg_quality), {}
        if seg is not None:  # the candidate's image becomes the cut-out (stitched image)
            image, masks = crop_fields(image, seg, t, o.region, color=self.config.cutout_color,
                                       jpeg=lambda a: encode_jpeg(a, self.config.jpeg_quality))
        sx, sy = display_scale(sampled)
        box = dets[t].boxes[d]
        label = self.detector.id2label.get(tr.label, str(tr.label))
        crop = RefCrop(
            track_id=tr.track_id, label=label, frame_index=sampled.indices[t],
            timestamp=sampled.timestamps[t],
            box=[round(float(box[0]) * sx, 2), round(float(box[1]) * sy, 2),
                 round(float(box[2]) * sx, 2), round(float(box[3]) * sy, 2)],
            crop_box=[x1 * sx, y1 * sy, x2 * sx, y2 * sy], score=float(dets[t].scores[d]),
            sharpness=round(o.sharp, 3), area_frac=round(area_of(box) / (w * h), 5),
            edge_cut=o.edge, quality=round(q, 5), frames_seen=len(tr.frames),
            jpeg=box_jpeg, crop_width=image.shape[1], crop_height=image.shape[0], **masks,
        )
        return _Candidate(crop, image, self._rank(tr, q, len(frames)))

    def _tiny(self) -> bool:
        cfg = self.config
        return is_tiny(cfg.detector.model) or (self.segmenter is not None
                                               and is_tiny(cfg.sam2.model))

    def _mask_columns(self, cands: Sequence[_Candidate], seg: dict[int, Segmentation],
                      hw: tuple[int, int]) -> dict:
        """The RefsRecord mask columns: per segmented subject in crops order."""
        if self.segmenter is None:
            return {"segment": "none"}
        return {"segment": "sam2", "segment_model": self.config.sam2.model,
                "mask_width": hw[1], "mask_height": hw[0],
                "masks": [ref_masks(c.crop.track_id, seg[c.crop.track_id]) for c in cands
                          if c.crop.track_id in seg]}
