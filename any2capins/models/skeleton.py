"""Keypoint layouts and skeletons: the one definition that every pose drawing uses.

Two layouts are known by name (a pose row's `keypoint_layout`):

- `coco17`: the 17 COCO body keypoints, nose first (ViTPose, RTMPose body models).
- `coco_wholebody133`: COCO-WholeBody, as DWPose predicts it: the 17 body keypoints, 6 feet
  points (big toe, small toe, heel; left then right), 68 face points (`face-0`..`face-67`), then
  21 points per hand (root, then 4 per finger from thumb to pinky; left then right).

`strokes()` turns one person's keypoints into what to draw, in the style of ControlNet's
OpenPose/DWPose annotators (the condition images pose-conditioned trainers expect): the body as
OpenPose-18 (COCO-17 plus a neck halfway between the shoulders) with its 17 coloured limbs and
18 coloured joints; each foot's toes linked to its heel; each hand as a 21-point skeleton of 20
limbs coloured around the hue circle with blue joints; face points as white dots. A keypoint is
drawn when its score is at least `min_score` (0.3, DWPose's threshold); a limb when both ends
are. The raster renderer (`any2capins.data.render`) and the contact sheet both draw these strokes.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

RGB = tuple[int, int, int]
CUSTOM = "custom"  # a keypoint list that matches no known layout

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
FEET_NAMES: tuple[str, ...] = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
                               "right_small_toe", "right_heel")
FACE_NAMES: tuple[str, ...] = tuple(f"face-{i}" for i in range(68))
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def hand_names(side: str) -> tuple[str, ...]:
    """The 21 keypoints of one hand ('left' or 'right'): root, then 4 per finger."""
    return (f"{side}_hand_root",
            *(f"{side}_{finger}{j}" for finger in _FINGERS for j in range(1, 5)))


WHOLEBODY133_NAMES: tuple[str, ...] = (*COCO17_NAMES, *FEET_NAMES, *FACE_NAMES,
                                       *hand_names("left"), *hand_names("right"))

# OpenPose-18 body from COCO-17 (ControlNet's convention): position i takes COCO keypoint
# OPENPOSE_FROM_COCO[i]; position 1 (neck) is the shoulders' midpoint (None here).
OPENPOSE_FROM_COCO: tuple[int | None, ...] = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15,
                                              2, 1, 4, 3)
# The 17 limbs ControlNet's draw_bodypose draws (OpenPose-18 indices), in its colour order.
BODY_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
BODY_COLOURS: tuple[RGB, ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
HAND_LIMBS: tuple[tuple[int, int], ...] = tuple(
    pair for f in range(5) for pair in ((0 if j == 0 else 4 * f + j, 4 * f + j + 1)
                                        for j in range(4)))
FOOT_LIMBS: tuple[tuple[int, int], ...] = ((0, 2), (1, 2), (3, 5), (4, 5))  # toes -> heel
HAND_JOINT: RGB = (0, 0, 255)
FACE_POINT: RGB = (255, 255, 255)


def hue_colours(n: int) -> tuple[RGB, ...]:
    """n colours around the hue circle (full saturation and value), as ControlNet's hands."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / n, 1.0, 1.0)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(out)


HAND_COLOURS = hue_colours(len(HAND_LIMBS))
FOOT_COLOURS = hue_colours(len(FOOT_LIMBS))


@dataclass(frozen=True)
class KeypointLayout:
    """Where each body part's keypoints sit in a keypoint list. `body` holds the positions of
    the 17 COCO body keypoints (-1 where a list lacks one); `feet` the 6 feet points, `face` the
    68 face points, `hands` one 21-point tuple per hand (empty when the layout has none)."""

    name: str
    names: tuple[str, ...]
    body: tuple[int, ...]
    feet: tuple[int, ...] = ()
    face: tuple[int, ...] = ()
    hands: tuple[tuple[int, ...], ...] = ()


def _positions(names: Sequence[str], wanted: Sequence[str]) -> tuple[int, ...]:
    pos = {n: i for i, n in enumerate(names)}
    return tuple(pos.get(n, -1) for n in wanted)


def _known(name: str, names: tuple[str, ...]) -> KeypointLayout:
    hands = tuple(_positions(names, hand_names(s)) for s in ("left", "right"))
    return KeypointLayout(name, names, _positions(names, COCO17_NAMES),
                          feet=_positions(names, FEET_NAMES) if FEET_NAMES[0] in names else (),
                          face=_positions(names, FACE_NAMES) if FACE_NAMES[0] in names else (),
                          hands=hands if "left_hand_root" in names else ())


LAYOUTS: dict[str, KeypointLayout] = {
    "coco17": _known("coco17", COCO17_NAMES),
    "coco_wholebody133": _known("coco_wholebody133", WHOLEBODY133_NAMES),
}


def layout_name(names: Sequence[str]) -> str:
    """The name of the layout whose keypoint list is exactly `names`, else 'custom'."""
    for layout in LAYOUTS.values():
        if tuple(names) == layout.names:
            return layout.name
    return CUSTOM


def layout_for(names: Sequence[str], declared: str | None = None) -> KeypointLayout:
    """The layout of a keypoint list: the declared one when it is known and has len(names)
    keypoints, else the one whose names match, else a 'custom' layout that finds the COCO body
    keypoints by name (rows written before `keypoint_layout` existed resolve by their names)."""
    known = LAYOUTS.get(declared or "")
    if known is not None and len(known.names) == len(names):
        return known
    by_names = LAYOUTS.get(layout_name(names))
    if by_names is not None:
        return by_names
    return KeypointLayout(CUSTOM, tuple(names), _positions(names, COCO17_NAMES))


class Line(NamedTuple):
    """A limb from (x1, y1) to (x2, y2) in the keypoints' pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    colour: RGB


class Dot(NamedTuple):
    """A joint or face point at (x, y)."""

    x: float
    y: float
    colour: RGB


@dataclass
class Strokes:
    """What to draw for one person. ControlNet draws `body_limbs` as filled ellipses dimmed to
    60%, then `body_joints`, then the thin `lines` of feet and hands with their `joints` (blue),
    then the `face` points (white, smaller)."""

    body_limbs: list[Line] = field(default_factory=list)
    body_joints: list[Dot] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    joints: list[Dot] = field(default_factory=list)
    face: list[Dot] = field(default_factory=list)


def openpose_body(kp: np.ndarray, layout: KeypointLayout) -> np.ndarray:
    """[18, 3] OpenPose-18 body (x, y, score) from [K, 3] keypoints; the neck's score is the
    lower shoulder score (0 when a shoulder is missing), absent keypoints score 0."""
    out = np.zeros((18, 3), np.float64)
    for i, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is not None and layout.body[coco] >= 0:
            out[i] = kp[layout.body[coco]]
    ls, rs = (layout.body[5], layout.body[6])
    if ls >= 0 and rs >= 0:
        out[1, :2] = (kp[ls, :2] + kp[rs, :2]) / 2
        out[1, 2] = min(kp[ls, 2], kp[rs, 2])
    return out


def _part(kp: np.ndarray, ok: np.ndarray, idx: Sequence[int], limbs: Sequence[tuple[int, int]],
          colours: Sequence[RGB]) -> tuple[list[Line], list[Dot]]:
    """Lines and blue joints of a hand or the feet, whose keypoints sit at positions `idx`."""
    if not idx or min(idx) < 0:
        return [], []
    lines = [Line(float(kp[idx[a], 0]), float(kp[idx[a], 1]), float(kp[idx[b], 0]),
                  float(kp[idx[b], 1]), colour)
             for (a, b), colour in zip(limbs, colours, strict=True) if ok[idx[a]] and ok[idx[b]]]
    return lines, [Dot(float(kp[i, 0]), float(kp[i, 1]), HAND_JOINT) for i in idx if ok[i]]


def strokes(kp: np.ndarray, layout: KeypointLayout, min_score: float = 0.3) -> Strokes:
    """The strokes of one person's keypoints `kp` [K, 3] (x, y, score) in `layout`."""
    kp = np.asarray(kp, np.float64)
    out = Strokes()
    body = openpose_body(kp, layout)
    seen = body[:, 2] >= min_score
    for (a, b), colour in zip(BODY_LIMBS, BODY_COLOURS, strict=False):
        if seen[a] and seen[b]:
            out.body_limbs.append(Line(float(body[a, 0]), float(body[a, 1]), float(body[b, 0]),
                                       float(body[b, 1]), colour))
    out.body_joints = [Dot(float(body[i, 0]), float(body[i, 1]), BODY_COLOURS[i])
                       for i in range(18) if seen[i]]
    ok = kp[:, 2] >= min_score
    parts = [(layout.feet, FOOT_LIMBS, FOOT_COLOURS),
             *((hand, HAND_LIMBS, HAND_COLOURS) for hand in layout.hands)]
    for idx, limbs, colours in parts:
        lines, dots = _part(kp, ok, idx, limbs, colours)
        out.lines += lines
        out.joints += dots
    out.face = [Dot(float(kp[i, 0]), float(kp[i, 1]), FACE_POINT) for i in layout.face
                if i >= 0 and ok[i]]
    return out
