"""Depth maps as 16-bit PNGs with their scale: written by the depth stage, read by the loader,
the contact sheet and the review server.

Each frame is quantised over its own [min, max] to uint16 and PNG-encoded. Restoring is
`min + q / 65535 * (max - min)` (`decode_depth_png`), exact to within half a quantisation step.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

LEVELS = 65535


def encode_depth_png(depth: np.ndarray) -> tuple[bytes, float, float]:
    """16-bit grayscale PNG of one float depth map, with the (min, max) that restore it."""
    d = np.nan_to_num(depth.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(d.min()), float(d.max())
    span = hi - lo
    q = np.zeros(d.shape, np.uint16) if span <= 0 else np.round((d - lo) / span * LEVELS)
    buf = io.BytesIO()
    Image.fromarray(q.astype(np.uint16)).save(buf, format="PNG", optimize=False)
    return buf.getvalue(), lo, hi


def decode_depth_png(data: bytes, lo: float, hi: float) -> np.ndarray:
    """Float32 depth map from `encode_depth_png` output."""
    q = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)
    return (lo + q / LEVELS * (hi - lo)).astype(np.float32)
