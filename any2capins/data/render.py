"""Pose tracks drawn as skeletons on black frames (the paper feeds pose as keypoint
trajectories drawn onto frames, DWPose/OpenPose-style)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# COCO-17 limbs by keypoint name: works for any keypoint list that uses the COCO names.
COCO_LIMBS: tuple[tuple[str, str], ...] = (
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"), ("left_eye", "right_eye"),
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
)


def _colour(i: int, n: int) -> tuple[int, int, int]:
    """Evenly spaced saturated hues, so each limb keeps one colour across frames."""
    h = i / max(n, 1)
    rgb = np.clip(np.abs(((h * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
    return tuple(int(v) for v in (rgb * 255).round())


def limb_pairs(names: list[str]) -> list[tuple[int, int]]:
    """Index pairs of the COCO limbs whose both ends are in `names`."""
    pos = {n: i for i, n in enumerate(names)}
    return [(pos[a], pos[b]) for a, b in COCO_LIMBS if a in pos and b in pos]


def render_pose(pose: np.ndarray, names: list[str], hw: tuple[int, int],
                min_score: float = 0.3) -> np.ndarray:
    """uint8 [T, h, w, 3] skeletons of `pose` [T, P, K, 3] (x, y in pixels of h x w, score).

    Limbs with both ends scoring >= `min_score` are drawn as lines, such keypoints as dots;
    absent people (score 0) draw nothing."""
    h, w = hw
    limbs = limb_pairs(names)
    width = max(1, round(max(h, w) / 128))
    out = np.zeros((pose.shape[0], h, w, 3), np.uint8)
    for t, people in enumerate(pose):
        img = Image.new("RGB", (w, h))
        draw = ImageDraw.Draw(img)
        for kp in people:
            ok = kp[:, 2] >= min_score
            for li, (a, b) in enumerate(limbs):
                if ok[a] and ok[b]:
                    draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=_colour(li, len(limbs)),
                              width=width)
            for x, y in kp[ok, :2]:
                draw.ellipse([x - width, y - width, x + width, y + width], fill=(255, 255, 255))
        out[t] = np.asarray(img)
    return out
