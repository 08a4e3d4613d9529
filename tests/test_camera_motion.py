"""Motion description from known pose sequences (pure numpy, no SfM)."""

from __future__ import annotations

import numpy as np
import pytest

from any2capins.conditions.camera import geometry as geo
from any2capins.conditions.camera.motion import segments, sentence, step_rates
from any2capins.config.camera import MotionConfig

CFG = MotionConfig()
FPS = 10.0


def _rot(axis: str, deg: float) -> np.ndarray:
    """Camera-to-world rotation of a camera turned by `deg` about its own axis."""
    v = {"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1]}[axis]
    return geo.from_rotvec(np.radians(deg) * np.asarray(v, float))


def _path(steps: list[tuple[str, float, float]]) -> tuple[list[np.ndarray], list[float]]:
    """Poses from a list of (motion, amount per step, seconds). Motions are relative to the
    current camera: pan (deg about y, + right), tilt (deg about x, + up), roll,
    truck (+ right), pedestal (+ up), dolly (+ in), in scene-depth units."""
    world_from_cam, c = np.eye(3), np.zeros(3)
    poses = [geo.make_pose(world_from_cam.T, c)]
    for kind, amount, seconds in steps:
        for _ in range(round(seconds * FPS)):
            if kind in ("pan", "tilt", "roll"):
                world_from_cam = world_from_cam @ _rot({"pan": "y", "tilt": "x",
                                                        "roll": "z"}[kind], amount)
            elif kind == "orbit":  # truck right, pan left to keep the subject at depth 1
                c = c + world_from_cam @ np.array([amount, 0, 0])
                world_from_cam = world_from_cam @ _rot("y", -np.degrees(amount))
            elif kind != "hold":
                d = {"truck": [amount, 0, 0], "pedestal": [0, -amount, 0],
                     "dolly": [0, 0, amount]}[kind]
                c = c + world_from_cam @ np.asarray(d, float)
            poses.append(geo.make_pose(world_from_cam.T, c))
    return poses, [k / FPS for k in range(len(poses))]


@pytest.mark.parametrize(("steps", "label"), [
    ([("pan", -0.4, 2)], "pan left"),
    ([("pan", 0.4, 2)], "pan right"),
    ([("tilt", 0.4, 2)], "tilt up"),
    ([("tilt", -0.4, 2)], "tilt down"),
    ([("roll", 1.0, 2)], "roll"),
    ([("dolly", 0.02, 2)], "dolly in"),
    ([("dolly", -0.02, 2)], "dolly out"),
    ([("truck", -0.01, 2)], "truck left"),
    ([("truck", 0.01, 2)], "truck right"),
    ([("pedestal", 0.01, 2)], "pedestal up"),
    ([("pedestal", -0.01, 2)], "pedestal down"),
    ([("orbit", 0.01, 2)], "orbit"),
    ([("hold", 0, 2)], "static"),
])
def test_single_motion_labels(steps, label):
    poses, times = _path(steps)
    segs = segments(poses, times, CFG)
    assert [s.label for s in segs] == [label]
    assert segs[0].start_s == 0 and segs[0].end_s == pytest.approx(times[-1])


def test_rates_have_the_documented_signs_and_units():
    poses, times = _path([("pan", 0.5, 1)])
    rates = step_rates(poses, times)
    np.testing.assert_allclose(rates[:, 0], 5.0, rtol=1e-6)  # 0.5 deg per 0.1 s
    np.testing.assert_allclose(rates[:, 1:], 0, atol=1e-6)


def test_two_motions_give_two_segments_and_a_sentence():
    poses, times = _path([("pan", -0.3, 1.5), ("dolly", 0.03, 1.5)])
    segs = segments(poses, times, CFG)
    assert [s.label for s in segs] == ["pan left", "dolly in"]
    assert segs[0].end_s == pytest.approx(segs[1].start_s)
    assert sentence(segs) == "The camera pans slowly left, then dollies steadily in."


@pytest.mark.parametrize(("deg_per_step", "speed"), [(0.2, "slow"), (1.0, "moderate"),
                                                     (3.0, "fast")])
def test_speed_words(deg_per_step, speed):
    poses, times = _path([("pan", deg_per_step, 2)])
    assert segments(poses, times, CFG)[0].speed == speed


def test_handheld_shake_without_net_motion():
    rng = np.random.default_rng(0)
    poses, times = [], []
    for k in range(30):
        jitter = geo.from_rotvec(np.radians(rng.normal(0, 0.6, 3)))
        poses.append(geo.make_pose(jitter, rng.normal(0, 0.002, 3)))
        times.append(k / FPS)
    segs = segments(poses, times, CFG)
    assert [s.label for s in segs] == ["handheld shake"]
    assert "handheld" in sentence(segs)


def test_secondary_motion_is_reported():
    world_from_cam, c = np.eye(3), np.zeros(3)
    poses = [geo.make_pose(world_from_cam.T, c)]
    for _ in range(20):  # dolly in while tilting up at ~70% of the dolly's rate
        c = c + world_from_cam @ np.array([0, 0, 0.02])
        world_from_cam = world_from_cam @ _rot("x", 0.4)
        poses.append(geo.make_pose(world_from_cam.T, c))
    segs = segments(poses, [k / FPS for k in range(21)], CFG)
    assert [s.label for s in segs] == ["dolly in"]
    assert segs[0].secondary == ["tilt up"]
    assert sentence(segs) == "The camera dollies slowly in while tilting up."


def test_short_blips_are_merged():
    poses, times = _path([("pan", 0.5, 1.5), ("tilt", 0.8, 0.2), ("pan", 0.5, 1.5)])
    assert [s.label for s in segments(poses, times, CFG)] == ["pan right"]
