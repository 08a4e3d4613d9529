"""Burned-in text: the PP-OCR text *detector* of `rapidocr-onnxruntime` (its ONNX weights ship
inside the wheel, so it runs offline). Only detection runs, never recognition: the signal is the
share of the frame covered by text, not what the text says.

The detector's own default scales frames UP to 736 px on their short side; here inputs are
capped at `text.detector_side` on their long side instead (large burned-in text, the kind
that ruins a training clip, is found at 320 px in ~20-100 ms per frame on one core).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.config.filter import TextFilter
from any2capins.errors import ConfigError

DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"


@cache
def ocr_model_id() -> str:
    """`rapidocr-onnxruntime==<version>:<detector file>`, recorded in every row."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"rapidocr-onnxruntime=={version('rapidocr-onnxruntime')}:{DET_MODEL}"
    except PackageNotFoundError:
        return f"rapidocr-onnxruntime:{DET_MODEL}"


class TextDetector:
    """PP-OCR text detection with the settings of `filter.text`."""

    def __init__(self, cfg: TextFilter) -> None:
        self.cfg = cfg
        self._det: Any = None

    def load(self) -> None:
        """Build the ONNX Runtime session (ConfigError when the package is missing)."""
        try:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector as _Det
        except ImportError as exc:
            raise ConfigError("filter.text.enabled: the text detector needs the "
                              f"'rapidocr-onnxruntime' package ({exc}); install it or set "
                              "filter.text.enabled=false") from None
        model = Path(rapidocr_onnxruntime.__file__).parent / "models" / DET_MODEL
        self._det = _Det({
            "model_path": str(model), "use_cuda": False, "use_dml": False,
            "intra_op_num_threads": self.cfg.threads, "inter_op_num_threads": 1,
            "limit_side_len": self.cfg.detector_side, "limit_type": "max",
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
            "thresh": 0.3, "box_thresh": self.cfg.box_threshold, "max_candidates": 1000,
            "unclip_ratio": 1.6, "use_dilation": True, "score_mode": "fast",
        })

    def boxes(self, frame: np.ndarray) -> list[np.ndarray]:
        """Text boxes of one uint8 RGB frame [H, W, 3]: quadrilaterals [4, 2] in its pixels."""
        if self._det is None:
            self.load()
        bgr = np.ascontiguousarray(frame[..., ::-1])  # PP-OCR was trained on OpenCV's BGR
        found, _ = self._det(bgr)
        return [] if found is None else [np.asarray(b, np.float32) for b in found]

    def coverage(self, frame: np.ndarray) -> tuple[float, int]:
        """(share of the frame's area inside text boxes, number of boxes) of one frame;
        overlapping boxes are counted once."""
        import cv2

        found = self.boxes(frame)
        if not found:
            return 0.0, 0
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(b).astype(np.int32) for b in found], 1)
        return float(mask.mean()), len(found)
