"""Quality signals of one clip, computed on frames the runtime already decoded (a few, small:
`filter.sampling`), never by decoding again.

    scorer = QualityScorer(cfg.filter); scorer.load()      # once per worker
    signals = scorer.score(frames, timestamps)              # per clip: QualitySignals

Signals (units and default thresholds in docs/curation.md):
- motion: OpenCV DIS optical flow between consecutive frames at `motion.flow_side` px, mean
  magnitude per pair, divided by the frame's longest side and the pair's time gap; the median
  over pairs (robust to one flash or cut) -- catches frozen and near-static clips;
- brightness: mean BT.709 luma (0..1); black_frame_share: share of frames below
  `brightness.black_level`;
- sharpness: variance of the Laplacian of the grey frame at `sharpness.side` px, median over
  the frames that are not near-black;
- text coverage: PP-OCR detection on `text.frames` frames (curation/ocr.py);
- embedding and aesthetic score (curation/embedding.py);
- perceptual hashes: imagehash pHash of every frame with contrast, the input of dedup.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from any2capins.config.filter import FilterConfig
from any2capins.curation.embedding import AestheticHead, Embedder
from any2capins.curation.ocr import TextDetector, ocr_model_id
from any2capins.models.modelrefs import is_tiny
from any2capins.models.quality import QualitySignals

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # BT.709


def grey(frames: np.ndarray) -> np.ndarray:
    """BT.709 luma of uint8 RGB frames [T, H, W, 3] as uint8 [T, H, W]."""
    return np.clip(frames.astype(np.float32) @ _LUMA + 0.5, 0, 255).astype(np.uint8)


def spread(count: int, want: int) -> list[int]:
    """`want` positions among `count` frames at the centres of equal segments (all when fewer)."""
    if count <= want:
        return list(range(count))
    return sorted({int((i + 0.5) * count / want) for i in range(want)})


def _resize_longest(img: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img if size == (w, h) else cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def motion_score(grey_frames: np.ndarray, timestamps: Sequence[float], side: int) -> float | None:
    """Median over consecutive frame pairs of the mean DIS flow magnitude, in frame widths
    (longest side) per second; None with fewer than 2 frames."""
    import cv2

    if len(grey_frames) < 2:
        return None
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    small = [_resize_longest(g, side) for g in grey_frames]
    longest = max(small[0].shape)
    speeds = []
    for a, b, t0, t1 in zip(small, small[1:], timestamps, timestamps[1:], strict=False):
        flow = dis.calc(a, b, None)
        # frames sampled at one instant (a still image, a damaged clip) count as 1/30 s apart
        dt = max(float(t1) - float(t0), 1 / 30)
        speeds.append(float(np.linalg.norm(flow, axis=2).mean()) / longest / dt)
    return float(np.median(speeds))


def brightness_scores(grey_frames: np.ndarray, black_level: float) -> tuple[float, np.ndarray]:
    """(mean luma 0..1 over all frames, per-frame near-black mask)."""
    means = grey_frames.reshape(len(grey_frames), -1).mean(axis=1) / 255.0
    return float(means.mean()), means < black_level


def sharpness_score(grey_frames: np.ndarray, black: np.ndarray, side: int) -> float | None:
    """Median Laplacian variance of the non-black frames at `side` px; None when all black."""
    import cv2

    values = [float(cv2.Laplacian(_resize_longest(g, side), cv2.CV_64F).var())
              for g, is_black in zip(grey_frames, black, strict=True) if not is_black]
    return float(np.median(values)) if values else None


def frame_hashes(frames: np.ndarray, grey_frames: np.ndarray, hash_size: int,
                 min_contrast: float) -> list[str]:
    """pHash (hex) of every frame whose grey standard deviation reaches `min_contrast`."""
    import imagehash
    from PIL import Image

    out = []
    for rgb, g in zip(frames, grey_frames, strict=True):
        if float(g.std()) / 255.0 >= min_contrast:
            out.append(str(imagehash.phash(Image.fromarray(rgb), hash_size=hash_size)))
    return out


class QualityScorer:
    """Computes `QualitySignals` of clips with the settings of the `filter:` section."""

    def __init__(self, cfg: FilterConfig) -> None:
        self.cfg = cfg
        self.text = TextDetector(cfg.text) if cfg.text.enabled else None
        self.embedder = Embedder(cfg.embedding) if cfg.embedding.enabled else None
        self.head: AestheticHead | None = None
        self.loaded = False

    def load(self) -> None:
        """Load the OCR detector, the embedding model and the aesthetic head (each when
        enabled) once; bad settings raise ConfigError here, not per clip."""
        if self.text is not None:
            self.text.load()
        if self.embedder is not None:
            self.embedder.load()
            if self.cfg.embedding.aesthetic_head:
                self.head = AestheticHead.load(self.cfg.embedding.aesthetic_head,
                                               self.embedder.dim)
        self.loaded = True

    def score(self, frames: np.ndarray, timestamps: Sequence[float]) -> QualitySignals:
        """Signals of one clip from its sampled uint8 RGB frames [T, H, W, 3] (T >= 1) and
        their presentation times in seconds."""
        if frames.ndim != 4 or len(frames) == 0 or len(frames) != len(timestamps):
            raise ValueError(f"score() needs frames [T, H, W, 3] with T >= 1 and one "
                             f"timestamp per frame; got {frames.shape} and {len(timestamps)}")
        if not self.loaded:
            self.load()
        t0 = time.perf_counter()
        cfg = self.cfg
        g = grey(frames)
        brightness, black = brightness_scores(g, cfg.brightness.black_level)
        coverage, boxes = self._text(frames)
        embedding = self._embedding(frames)
        return QualitySignals(
            motion=motion_score(g, timestamps, cfg.motion.flow_side),
            brightness=brightness, black_frame_share=float(black.mean()),
            sharpness=sharpness_score(g, black, cfg.sharpness.side),
            text_coverage=coverage, text_boxes=boxes,
            aesthetic=self.head(embedding) if self.head and embedding else None,
            frame_hashes=frame_hashes(frames, g, cfg.dedup.hash_size, cfg.dedup.min_contrast),
            embedding=embedding,
            ocr_model=ocr_model_id() if self.text else None,
            embedding_model=cfg.embedding.model if self.embedder else None,
            aesthetic_head=cfg.embedding.aesthetic_head if self.head else None,
            tiny_model=bool(self.embedder) and is_tiny(cfg.embedding.model),
            seconds=round(time.perf_counter() - t0, 4),
        )

    def _text(self, frames: np.ndarray) -> tuple[float | None, int | None]:
        if self.text is None:
            return None, None
        found = [self.text.coverage(frames[i]) for i in spread(len(frames), self.cfg.text.frames)]
        return float(np.mean([c for c, _ in found])), int(sum(n for _, n in found))

    def _embedding(self, frames: np.ndarray) -> list[float] | None:
        if self.embedder is None:
            return None
        return self.embedder.embed(frames[spread(len(frames), self.cfg.embedding.frames)])
