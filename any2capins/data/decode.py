"""Condition rows (Parquet row dicts) -> arrays, at the loader's output size.

Every function takes one row of a condition table as `pyarrow` returns it (a dict of plain
Python values) and returns numpy arrays; the dataset turns them into tensors. `hw` is the
(height, width) of the output, or None for the stored size.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from any2capins.data.geometry import (
    intrinsics_matrix,
    plucker_embedding,
    relative_c2w,
    scale_intrinsics,
    to_homogeneous,
)
from any2capins.io.depth_png import decode_depth_png

Row = dict[str, Any]


def resize_float(m: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one float map [H, W] to (h, w)."""
    if m.shape == hw:
        return m
    img = Image.fromarray(m.astype(np.float32), mode="F")
    return np.asarray(img.resize((hw[1], hw[0]), Image.Resampling.BILINEAR), dtype=np.float32)


def resize_rgb(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Area-style (box filter) resize of uint8 frames [T, H, W, 3] to (h, w)."""
    if frames.shape[1:3] == hw:
        return frames
    out = [np.asarray(Image.fromarray(f).resize((hw[1], hw[0]), Image.Resampling.BOX))
           for f in frames]
    return np.stack(out) if out else np.zeros((0, *hw, 3), np.uint8)


def depth(row: Row, hw: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """`depth` float32 [T, H, W] restored from the PNG levels and per-frame scales."""
    maps = [decode_depth_png(png, lo, hi) for png, lo, hi in
            zip(row["depth_png"], row["scale_min"], row["scale_max"], strict=True)]
    if hw is not None:
        maps = [resize_float(m, hw) for m in maps]
    shape = hw or (row["height"], row["width"])
    arr = np.stack(maps) if maps else np.zeros((0, *shape), np.float32)
    return {"depth": arr, "depth_timestamps": np.asarray(row["timestamps"], np.float64)}


def pose(row: Row, hw: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """`pose` float32 [T, P, K, 3] (x, y in output pixels, score), tracks in track-id order,
    K the row's `keypoint_names` (133 for whole-body DWPose rows, 17 for COCO ones);
    frames where a person is absent are all zeros (score 0). Also `pose_present` [T, P],
    `pose_boxes` [T, P, 4] (xyxy, output pixels) and `pose_track_ids` [P]."""
    tracks = sorted(row["tracks"] or [], key=lambda t: t["track_id"])
    t_len, k_len = len(row["timestamps"]), len(row["keypoint_names"])
    kp = np.zeros((t_len, len(tracks), k_len, 3), np.float32)
    boxes = np.zeros((t_len, len(tracks), 4), np.float32)
    present = np.zeros((t_len, len(tracks)), bool)
    for p, tr in enumerate(tracks):
        on = np.asarray(tr["present"], bool)
        present[:, p] = on
        kp[on, p] = np.asarray(tr["keypoints"], np.float32).reshape(t_len, k_len, 3)[on]
        boxes[on, p] = np.asarray(tr["boxes"], np.float32).reshape(t_len, 4)[on]
    if hw is not None:
        sx, sy = hw[1] / row["width"], hw[0] / row["height"]
        kp[..., 0] *= sx
        kp[..., 1] *= sy
        boxes *= np.array([sx, sy, sx, sy], np.float32)
    return {"pose": kp, "pose_present": present, "pose_boxes": boxes,
            "pose_track_ids": np.array([t["track_id"] for t in tracks], np.int64),
            "pose_timestamps": np.asarray(row["timestamps"], np.float64)}


def frame_measured(frame: Row) -> tuple[bool, bool]:
    """(something measured, full pose measured) for one camera frame.

    Records carry `measured` ('pose', 'rotation' or 'none'); older ones only `registered`
    (a registered frame then had a full SfM pose)."""
    value = frame.get("measured")
    if value is None:
        reg = bool(frame.get("registered", False))
        return reg, reg
    return value != "none", value == "pose"


def camera(row: Row, hw: tuple[int, int]) -> dict[str, np.ndarray] | None:
    """Camera arrays at (h, w); None when the record has no poses (a failed camera).

    `camera_K` [T, 3, 3] (pixels of h x w), `camera_w2c` [T, 4, 4] (as stored: world = first
    registered frame), `camera_plucker` [T, 6, h, w] (relative to frame 0, see geometry),
    `camera_measured` [T] bool (False: interpolated, copied or identity: not measured),
    `camera_pose_measured` [T] bool (rotation and translation measured; False for a
    rotation-only frame, whose zero translation is assumed), `camera_timestamps` [T], and
    `camera_focal_source` ('sfm', 'homographies' or 'prior': a prior focal is a guess)."""
    frames = row["frames"] or []
    if not frames:
        return None
    k_mat = np.stack([intrinsics_matrix(f["fx"], f["fy"], f["cx"], f["cy"]) for f in frames])
    k_mat = scale_intrinsics(k_mat, (row["width"], row["height"]), hw)
    w2c = to_homogeneous(np.array([f["cam_from_world"] for f in frames]).reshape(-1, 3, 4))
    measured = [frame_measured(f) for f in frames]
    return {
        "camera_K": k_mat.astype(np.float32), "camera_w2c": w2c.astype(np.float32),
        "camera_plucker": plucker_embedding(k_mat, relative_c2w(w2c), *hw),
        "camera_measured": np.array([m[0] for m in measured], bool),
        "camera_pose_measured": np.array([m[1] for m in measured], bool),
        "camera_timestamps": np.array([f["timestamp"] for f in frames], np.float64),
        "camera_focal_source": row.get("focal_source"),
    }


def rle_mask(counts: str, height: int, width: int) -> np.ndarray:
    """bool [height, width] from COCO compressed RLE counts (pycocotools)."""
    from pycocotools import mask as coco

    return coco.decode({"size": [height, width], "counts": counts.encode("ascii")}).astype(bool)


def ref_masks(refs: Row | None, images: list[np.ndarray]) -> list[np.ndarray] | None:
    """One bool mask per reference image, of that image's size: the subject's mask inside
    the crop, from the clip's refs row (the images are its first crops, in order). None when
    the row has no masks for them (refs.segment none, rows written before masks existed) or
    no longer matches the images (the refs shard was redone after export)."""
    crops = (refs or {}).get("crops") or []
    if len(crops) < len(images):
        return None
    out = []
    for crop, image in zip(crops, images, strict=False):
        size = (crop["crop_height"], crop["crop_width"])
        if crop.get("mask_rle") is None or image.shape[:2] != size:
            return None
        out.append(rle_mask(crop["mask_rle"], *size))
    return out


def jpeg_rgb(data: bytes) -> np.ndarray:
    """uint8 [H, W, 3] from JPEG (or any PIL-readable) bytes."""
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))  # a writable copy
