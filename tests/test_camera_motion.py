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
            elif kind == "walk":  # truck left and pan left, `amount` = truck share
                c = c + world_from_cam @ np.array([-0.02 * amount, 0, 0])
                world_from_cam = world_from_cam @ _rot("y", -0.8 * (1 - amount) - 0.1)
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
    poses, times = _path([("pan", -0.5, 1.5), ("dolly", 0.03, 1.5)])
    segs = segments(poses, times, CFG)
    assert [s.label for s in segs] == ["pan left", "dolly in"]
    assert segs[0].end_s == pytest.approx(segs[1].start_s)
    assert sentence(segs) == "The camera pans slowly left, then dollies steadily in."


@pytest.mark.parametrize(("deg_per_step", "speed"), [(0.4, "slow"), (1.0, "moderate"),
                                                     (3.0, "fast"), (0.15, "slight")])
def test_speed_words(deg_per_step, speed):
    poses, times = _path([("pan", deg_per_step, 2)])
    segs = segments(poses, times, CFG)
    assert segs[0].speed == speed
    assert f"pans {ADVERBS[speed]} right" in sentence(segs)


ADVERBS = {"slight": "slightly", "slow": "slowly", "moderate": "steadily", "fast": "quickly"}


def _jitter_path(seconds: float, deg: float, drift: tuple[float, float] = (0.0, 0.0),
                 seed: int = 0) -> tuple[list[np.ndarray], list[float]]:
    """Handheld: random rotation jitter of `deg` per step around a slow drift (pan, tilt in
    deg/s; + = right, up)."""
    rng = np.random.default_rng(seed)
    poses, times = [], []
    for k in range(round(seconds * FPS) + 1):
        t = k / FPS
        base = _rot("y", drift[0] * t) @ _rot("x", drift[1] * t)
        jitter = geo.from_rotvec(np.radians(rng.normal(0, deg, 3)))
        poses.append(geo.make_pose((base @ jitter).T, rng.normal(0, 0.002, 3)))
        times.append(t)
    return poses, times


def test_handheld_shake_without_net_motion():
    poses, times = _jitter_path(3, 0.6)
    segs = segments(poses, times, CFG)
    assert [s.label for s in segs] == ["handheld shake"]
    assert segs[0].handheld and segs[0].irregularity >= CFG.shake_rate
    assert sentence(segs) == "The handheld camera shakes slightly."


def test_handheld_drift_is_one_slight_phrase_with_its_directions():
    """A slow, wobbly drift right and up (what the bedroom clip does) reads as one phrase, not
    as alternating pans and stops."""
    poses, times = _jitter_path(6.5, 0.12, drift=(0.5, 0.4), seed=3)
    segs = segments(poses, times, CFG)
    text = sentence(segs)
    assert [s.label for s in segs] == ["handheld drift"], text
    assert text == "The handheld camera drifts slightly right and up."
    assert "static" not in text and "then" not in text


def test_shake_before_a_pan_is_not_a_phrase_of_its_own():
    """Handheld, sampled like the stage samples a real clip (16 steps of 0.4 s): 3.2 s still
    and wobbly, then a slow pan right. 'Handheld' already says it shakes: one phrase, the
    pan, spanning the clip."""
    rng = np.random.default_rng(1)
    poses, times, yaw = [], [], 0.0
    for k in range(17):
        yaw += 1.5 * 0.4 if k > 8 else 0.0
        jitter = geo.from_rotvec(np.radians(rng.normal(0, 0.3, 3)))
        poses.append(geo.make_pose((_rot("y", yaw) @ jitter).T, np.zeros(3)))
        times.append(0.4 * k)
    segs = segments(poses, times, CFG)
    assert sentence(segs) == "The handheld camera pans slowly right.", segs
    assert segs[0].start_s == 0 and segs[-1].end_s == pytest.approx(times[-1])


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
    segs = segments(poses, times, CFG)
    assert [s.label for s in segs] == ["pan right"]
    assert sentence(segs) == "The camera pans slowly right."


def test_one_motion_with_changing_mix_is_said_once():
    """The walk-through of the issue: pan left with truck left, the mix shifting along the
    clip, was 'pans left while trucking left, then trucks left while panning left, then pans
    left'. It is one motion: one phrase."""
    poses, times = _path([("walk", 0.6, 2.5), ("walk", 0.45, 2.5), ("walk", 0.35, 2.5)])
    segs = segments(poses, times, CFG)
    text = sentence(segs)
    assert len(segs) == 1, text
    assert text.count("left") == 2 and "while" in text and "then" not in text


def test_three_motions_at_most_three_phrases():
    steps = [("pan", 0.6, 2), ("tilt", -0.6, 2), ("dolly", 0.03, 2), ("pan", -0.6, 2),
             ("truck", 0.02, 1.5)]
    poses, times = _path(steps)
    segs = segments(poses, times, CFG)
    assert 2 <= len(segs) <= CFG.max_phases
    assert sentence(segs).count(", then ") == len(segs) - 1
    assert all(s.end_s - s.start_s >= CFG.min_phase_share * times[-1] - 1e-6 for s in segs)


def test_pan_there_and_back_keeps_both_directions():
    poses, times = _path([("pan", 0.8, 2.5), ("pan", -0.8, 2.5)])
    segs = segments(poses, times, CFG)
    assert sentence(segs) == "The camera pans steadily right, then pans steadily left."


def test_no_motion_is_static_with_zero_rates():
    poses, times = _path([("hold", 0, 4)])
    segs = segments(poses, times, CFG)
    assert sentence(segs) == "The camera remains static."
    assert segs[0].rate == 0 and not segs[0].handheld
