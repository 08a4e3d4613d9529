"""Pose tracks drawn as skeleton images on black frames, in the ControlNet OpenPose/DWPose
style that pose-conditioned trainers (ControlNet, FollowYourPose) take as input.

The skeleton (which keypoints link, in which colours) comes from `any2capins.models.skeleton`,
the one definition the contact sheet uses too. Stroke sizes follow DWPose's annotator at 512
pixels (limb ellipses 4 px half-wide, joints 4 px, face points 3 px, hand lines 2 px) and scale
with the image's longest side, at least 1 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from any2capins.models.skeleton import Dot, Line, Strokes, layout_for, strokes

REFERENCE_SIDE = 512  # the image size DWPose's stroke sizes are meant for


def _limb_polygon(limb: Line, half_width: float) -> list[tuple[float, float]]:
    """The ellipse ControlNet fills for a body limb: along the limb, `half_width` across."""
    mx, my = (limb.x1 + limb.x2) / 2, (limb.y1 + limb.y2) / 2
    half_len = math.hypot(limb.x2 - limb.x1, limb.y2 - limb.y1) / 2
    angle = math.atan2(limb.y2 - limb.y1, limb.x2 - limb.x1)
    ca, sa = math.cos(angle), math.sin(angle)
    pts = []
    for i in range(24):
        phi = 2 * math.pi * i / 24
        u, v = half_len * math.cos(phi), half_width * math.sin(phi)
        pts.append((mx + u * ca - v * sa, my + u * sa + v * ca))
    return pts


def _dot(draw: ImageDraw.ImageDraw, d: Dot, radius: float) -> None:
    draw.ellipse([d.x - radius, d.y - radius, d.x + radius, d.y + radius], fill=d.colour)


def draw_people(people: Sequence[Strokes], hw: tuple[int, int]) -> np.ndarray:
    """uint8 [h, w, 3] of the people's strokes on black: body limbs (dimmed to 60%, as
    ControlNet's draw_bodypose), body joints, then feet and hands, then face points."""
    h, w = hw
    s = max(h, w) / REFERENCE_SIDE
    stick, joint, face = max(1.0, 4 * s), max(1.0, 4 * s), max(1.0, 3 * s)
    line = max(1, round(2 * s))
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    for p in people:
        for limb in p.body_limbs:
            draw.polygon(_limb_polygon(limb, stick), fill=limb.colour)
    img = Image.fromarray((np.asarray(img, np.float32) * 0.6).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for p in people:
        for d in p.body_joints:
            _dot(draw, d, joint)
    for p in people:
        for ln in p.lines:
            draw.line([(ln.x1, ln.y1), (ln.x2, ln.y2)], fill=ln.colour, width=line)
        for d in p.joints:
            _dot(draw, d, joint)
    for p in people:
        for d in p.face:
            _dot(draw, d, face)
    return np.asarray(img)


def render_pose(pose: np.ndarray, names: Sequence[str], hw: tuple[int, int],
                min_score: float = 0.3, layout: str | None = None) -> np.ndarray:
    """uint8 [T, h, w, 3] skeletons of `pose` [T, P, K, 3] (x, y in pixels of h x w, score).

    `names` are the K keypoint names and `layout` the row's `keypoint_layout` (None or
    'custom': resolved from the names). Keypoints scoring below `min_score` and limbs with such
    an end are not drawn; absent people (score 0) draw nothing."""
    lay = layout_for(list(names), layout)
    out = np.zeros((pose.shape[0], *hw, 3), np.uint8)
    for t, frame in enumerate(pose):
        people = [strokes(kp, lay, min_score) for kp in frame if kp[:, 2].max(initial=0) > 0]
        if people:
            out[t] = draw_people(people, hw)
    return out
