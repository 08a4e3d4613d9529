"""Pose geometry helpers: focal and rotations from homographies, interpolation, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from any2capins.conditions.camera import geometry as geo

SIZE = (320, 240)


def _k(f: float) -> np.ndarray:
    return np.array([[f, 0, SIZE[0] / 2], [0, f, SIZE[1] / 2], [0, 0, 1.0]])


def _rot(yaw: float, pitch: float = 0.0) -> np.ndarray:
    return geo.from_rotvec(np.radians([pitch, yaw, 0.0]))


@pytest.mark.parametrize("f", [200.0, 300.0, 520.0])
def test_focal_and_rotations_from_pure_rotation_homographies(f):
    rots = [_rot(4.0 * k, 1.0 * k) for k in range(1, 6)]
    hs = [_k(f) @ r @ np.linalg.inv(_k(f)) for r in rots]
    est = geo.focal_from_homographies(hs, SIZE)
    assert est == pytest.approx(f, rel=0.01)
    back = geo.rotations_from_homographies([np.eye(3), *hs], est, SIZE)
    assert geo.rotation_angle_deg(back[0]) == pytest.approx(0, abs=1e-9)
    for b, r in zip(back[1:], rots, strict=True):
        assert geo.rotation_angle_deg(b @ r.T) < 0.05


def test_no_rotation_signal_gives_no_focal():
    assert geo.focal_from_homographies([np.eye(3), np.eye(3)], SIZE) is None
    assert geo.focal_from_homographies([], SIZE) is None


def test_chain_homographies_follows_the_best_pairs():
    h01 = np.array([[1, 0, 5.0], [0, 1, 0], [0, 0, 1]])
    h12 = np.array([[1, 0, 0], [0, 1, 3.0], [0, 0, 1]])
    out = geo.chain_homographies(4, [(0, 1, h01), (1, 2, h12)])
    np.testing.assert_allclose(out[2], h12 @ h01)
    assert out[3] is None


def test_fill_missing_interpolates_rotation_and_centre():
    a = geo.make_pose(np.eye(3), np.zeros(3))
    b = geo.make_pose(_rot(10.0).T, np.array([2.0, 0, 0]))
    filled = geo.fill_missing([a, None, b, None], [0.0, 0.5, 1.0, 1.5])
    assert geo.rotation_angle_deg(filled[1][:, :3]) == pytest.approx(5.0, abs=1e-6)
    np.testing.assert_allclose(geo.centre(filled[1]), [1.0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(filled[3], b)  # after the last known: copied


def test_normalise_makes_the_reference_the_identity_and_scales():
    r = _rot(20.0, 5.0)
    poses = [geo.make_pose(r, np.array([1.0, 2, 3])), geo.make_pose(np.eye(3), np.zeros(3))]
    out = geo.normalise(poses, 0, depth=2.0)
    np.testing.assert_allclose(out[0], np.column_stack([np.eye(3), np.zeros(3)]), atol=1e-12)
    dist = np.linalg.norm(geo.centre(out[1]))
    assert dist == pytest.approx(np.linalg.norm([1.0, 2, 3]) / 2.0)


def test_similarity_align_recovers_a_similarity():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(10, 3))
    r = _rot(30.0, 10.0)
    moved = 2.5 * pts @ r.T + np.array([1.0, -2, 0.5])
    np.testing.assert_allclose(geo.similarity_align(pts, moved), moved, atol=1e-9)
