"""Camera stage accuracy on synthetic renders with known trajectories, degenerate and bad
inputs, and the RealEstate10K export. SfM runs once per trajectory (session fixture)."""

from __future__ import annotations

import numpy as np
import pytest
from camera_renders import render_clip, render_handheld

from any2capins.conditions.camera import geometry as geo
from any2capins.conditions.camera.estimate import Estimate, estimate_camera
from any2capins.conditions.camera.export import (
    parse_header,
    parse_realestate10k,
    realestate10k_text,
)
from any2capins.conditions.camera.stage import area_resize, to_record
from any2capins.config.camera import CameraConfig
from any2capins.models.clips import ClipRecord

CFG = CameraConfig()


@pytest.fixture(scope="session")
def solved() -> dict[str, tuple[object, Estimate]]:
    out = {}
    for kind in ("translate", "pan", "static", "dolly"):
        render = render_clip(kind)
        out[kind] = (render, estimate_camera(list(render.frames), render.timestamps, CFG))
    return out


def _relative_rotation_errors(est: Estimate, render) -> list[float]:
    """Per-frame angle (deg) between estimated and true rotation relative to frame 0."""
    e0, g0 = est.poses[0][:, :3], render.cam_from_world[0][:, :3]
    return [geo.rotation_angle_deg((p[:, :3] @ e0.T) @ (g[:, :3] @ g0.T).T)
            for p, g in zip(est.poses, render.cam_from_world, strict=True)]


def _labels(est: Estimate) -> list[str]:
    return [s.label for s in est.segments]


def test_translating_clip_meets_accuracy(solved):
    render, est = solved["translate"]
    assert est.status == "ok", est.reason
    assert est.num_registered == len(render.frames)
    assert np.mean(_relative_rotation_errors(est, render)) <= 0.5
    centres = np.array([geo.centre(p) for p in est.poses])
    truth = render.centres
    path = np.linalg.norm(np.diff(truth, axis=0), axis=1).sum()
    aligned = geo.similarity_align(centres, truth)
    assert np.linalg.norm(aligned - truth, axis=1).mean() <= 0.02 * path
    assert abs(est.K[0, 0] - render.K[0, 0]) / render.K[0, 0] < 0.05
    assert est.reprojection_error is not None and est.reprojection_error < 1.5
    # normalisation: first frame is the world frame
    np.testing.assert_allclose(est.poses[0], np.column_stack([np.eye(3), np.zeros(3)]),
                               atol=1e-6)
    assert _labels(est) == ["truck right"]


def test_pure_pan_is_rotation_only_with_right_angle(solved):
    render, est = solved["pan"]
    assert est.status == "rotation_only", est.reason
    assert est.planar_share is not None and est.planar_share >= CFG.planar_share
    rel = est.poses[-1][:, :3] @ est.poses[0][:, :3].T  # cam_last_from_cam_first
    v = np.degrees(geo.rotvec(rel.T))  # last camera's orientation seen from the first
    assert v[1] > 0, "pan direction must be right (+yaw)"
    assert abs(np.linalg.norm(v) - 20.0) <= 2.0
    assert max(_relative_rotation_errors(est, render)) <= 1.0
    assert all(np.allclose(p[:, 3], 0) for p in est.poses)
    assert _labels(est) == ["pan right"]
    assert est.description.startswith("The camera pans") and "right" in est.description


def test_static_clip_is_static(solved):
    _, est = solved["static"]
    assert est.status == "static"
    assert all(np.allclose(p, np.column_stack([np.eye(3), np.zeros(3)])) for p in est.poses)
    assert _labels(est) == ["static"]
    assert est.description == "The camera remains static."
    # identity poses are assumed, not measured: the record says so
    assert est.registered == [False] * len(est.poses) and est.num_registered == 0
    assert (est.measured, est.focal_source) == ("none", "prior")


def test_dolly_in_is_labelled_dolly_in(solved):
    render, est = solved["dolly"]
    assert est.status == "ok", est.reason
    assert _labels(est) == ["dolly in"]
    forward = geo.centre(est.poses[-1]) - geo.centre(est.poses[0])
    assert forward[2] > 0 and abs(forward[2]) > 3 * np.linalg.norm(forward[:2])
    assert np.mean(_relative_rotation_errors(est, render)) <= 0.5


def test_too_short_clip_fails_with_reason():
    render = render_clip("translate", n=3)
    est = estimate_camera(list(render.frames), render.timestamps, CFG)
    assert est.status == "failed" and est.reason.startswith("too_short")
    assert est.poses == []


def test_frames_of_different_sizes_fail_with_reason():
    render = render_clip("static", n=5)
    frames = list(render.frames)
    frames[2] = frames[2][:200, :300]
    est = estimate_camera(frames, render.timestamps, CFG)
    assert est.status == "failed" and est.reason.startswith("frame_sizes")


def test_textureless_frames_fail_with_reason():
    frames = [np.full((120, 160, 3), 90 + k, np.uint8) for k in range(6)]
    est = estimate_camera(frames, [k / 6 for k in range(6)], CFG)
    assert est.status == "failed" and est.reason.startswith("textureless")


def test_unrelated_frames_fail_without_matches():
    frames = [render_clip("static", n=1, seed=10 + k).frames[0] for k in range(5)]
    est = estimate_camera(frames, [k / 5 for k in range(5)], CFG)
    assert est.status == "failed"
    assert est.reason.startswith(("no_matches", "sfm"))


def _clip(w: int = 320, h: int = 240) -> ClipRecord:
    return ClipRecord(
        clip_id="c" * 16, uri="/data/clip.mp4", size_bytes=1, content_sha256="0" * 64,
        container="mp4", codec="h264", duration_s=2.0, fps=6.0, num_frames=12, width=w,
        height=h, has_audio=False, probe_backend="decord")


def test_record_rescales_intrinsics_and_exports_realestate10k(solved):
    render, est = solved["translate"]
    n = len(render.frames)
    rec = to_record(_clip(640, 480), indices=list(range(n)), times=render.timestamps,
                    source_size=(640, 480), est=est, seconds=1.0)
    assert rec.num_registered == n and len(rec.frames) == n
    assert (rec.measured, rec.focal_source) == ("full", "sfm")
    assert all(f.registered and f.measured == "pose" for f in rec.frames)
    assert rec.frames[0].fx == pytest.approx(2 * est.K[0, 0])
    assert rec.frames[0].cx == pytest.approx(2 * est.K[0, 2])
    rows = parse_realestate10k(realestate10k_text(rec))
    assert len(rows) == n
    ts, intr, ext = rows[3]
    assert ts == round(render.timestamps[3] * 1e6)
    assert intr == pytest.approx([est.K[0, 0] / 320, est.K[1, 1] / 240, est.K[0, 2] / 320,
                                  est.K[1, 2] / 240], rel=1e-6)
    np.testing.assert_allclose(np.reshape(ext, (3, 4)), est.poses[3], atol=1e-6)
    assert realestate10k_text(rec).splitlines()[0].startswith(rec.uri + " ")
    assert parse_header(realestate10k_text(rec)) == {
        "status": "ok", "measured": "full", "focal": "sfm", "unmeasured_frames": "0"}


def test_failed_record_has_no_frames_and_exports_header_only():
    render = render_clip("static", n=2)
    est = estimate_camera(list(render.frames), render.timestamps, CFG)
    rec = to_record(_clip(), indices=[0, 1], times=render.timestamps, source_size=(320, 240),
                    est=est, seconds=0.1)
    assert rec.status == "failed" and rec.frames == [] and rec.num_sampled == 2
    assert parse_realestate10k(realestate10k_text(rec)) == []


def test_fixed_shot_with_a_moving_subject_is_static():
    """A textured 'subject' (a third of the frame) crosses a fixed shot: the background does
    not move, so the clip is static, not a pan (with the median instead of the 30% quantile
    of the displacements this clip goes to SfM)."""
    render = render_clip("static", n=8)
    subject = render_clip("static", n=1, seed=7).frames[0][:160, :160]
    frames = []
    for k, frame in enumerate(render.frames):
        f = frame.copy()
        x = 10 + 25 * k
        w = min(160, 320 - x)
        f[40:200, x:x + w] = subject[:, :w]
        frames.append(f)
    est = estimate_camera(frames, render.timestamps, CFG)
    assert est.status == "static", est.reason
    assert _labels(est) == ["static"]


def test_sfm_failure_falls_back_to_homographies_only_for_small_motion(monkeypatch):
    """When mapping builds no model, a clip with small image motion gets homography rotations
    (status rotation_only, the reason says why); a clip with large motion stays failed."""
    from any2capins.conditions.camera import estimate as est_mod

    monkeypatch.setattr(est_mod, "map_frames", lambda *a, **k: None)
    render = render_clip("translate", n=6)  # parallax: goes to mapping (patched to fail)
    small = estimate_camera(list(render.frames), render.timestamps,
                            CFG.model_copy(update={"fallback_motion": 1.0}))
    assert small.status == "rotation_only"
    assert small.reason.startswith("sfm: COLMAP built no model, and the background motion")
    assert "planar" not in small.reason  # the trigger is the small motion, not planarity
    assert small.measured == "rotation" and small.frame_measured == ["rotation"] * 6
    assert len(small.poses) == 6 and all(np.allclose(p[:, 3], 0) for p in small.poses)
    # the image moves left as under a right pan: that is what homographies can say
    assert _labels(small) == ["pan right"]
    large = estimate_camera(list(render.frames), render.timestamps,
                            CFG.model_copy(update={"fallback_motion": 0.01}))
    assert large.status == "failed" and large.reason == "sfm: COLMAP built no model"


def test_rotation_only_record_says_translation_was_not_measured(solved):
    render, est = solved["pan"]
    n = len(render.frames)
    rec = to_record(_clip(), indices=list(range(n)), times=render.timestamps,
                    source_size=(320, 240), est=est, seconds=1.0)
    assert (rec.status, rec.measured, rec.focal_source) == ("rotation_only", "rotation",
                                                           "homographies")
    assert all(f.measured == "rotation" and f.registered for f in rec.frames)
    head = parse_header(realestate10k_text(rec))
    assert (head["status"], head["measured"]) == ("rotation_only", "rotation")


def test_static_record_has_no_registered_frame(solved):
    render, est = solved["static"]
    n = len(render.frames)
    rec = to_record(_clip(), indices=list(range(n)), times=render.timestamps,
                    source_size=(320, 240), est=est, seconds=1.0)
    assert rec.num_registered == 0 and rec.focal_source == "prior"
    assert not any(f.registered for f in rec.frames)
    assert parse_header(realestate10k_text(rec))["unmeasured_frames"] == str(n)


# the frames a 16-frame request takes from a 150-frame clip: nearest the segment centres
HANDHELD_AT = [int(np.floor((i + 0.5) * 150 / 16 + 0.5)) for i in range(16)]


def _handheld(kind: str, lens: float = 0.0) -> tuple[object, list[np.ndarray]]:
    """A handheld render over real photographic texture, rendered at 640x360 and area-
    downscaled to 320 px as the stage does."""
    render = render_handheld(kind, at=HANDHELD_AT, distortion=lens)
    return render, [area_resize(f, CFG.max_side) for f in render.frames]


@pytest.fixture(scope="session")
def handheld() -> dict[str, tuple[object, list[np.ndarray], Estimate]]:
    out = {}
    for name, kind, lens in (("sidestep", "sidestep", 0.0), ("lens", "sidestep", 0.08)):
        render, frames = _handheld(kind, lens)
        out[name] = (render, frames, estimate_camera(frames, render.timestamps, CFG))
    return out


def _errors(est: Estimate, render) -> tuple[float, float]:
    """(mean rotation error deg, centre error / true path length) over all frames."""
    rot = float(np.mean(_relative_rotation_errors(est, render)))
    centres = np.array([geo.centre(p) for p in est.poses])
    truth = render.centres
    path = np.linalg.norm(np.diff(truth, axis=0), axis=1).sum()
    aligned = geo.similarity_align(centres, truth)
    return rot, float(np.linalg.norm(aligned - truth, axis=1).mean() / path)


def test_handheld_clip_over_photographs_meets_accuracy(handheld):
    """Hand tremor, a walking bob, a near halt, motion blur and noise over real photographic
    texture (tests/camera_renders.py): every frame registered, rotations within 0.25 deg,
    centres within 1% of the path, focal within 6% (measured: 0.06 deg, 0.2%, 2%)."""
    render, _, est = handheld["sidestep"]
    assert est.status == "ok", est.reason
    assert est.num_registered == len(render.frames)
    rot, centre = _errors(est, render)
    assert rot <= 0.25 and centre <= 0.01, (rot, centre)
    assert abs(est.K[0, 0] - render.K[0, 0] / 2) / (render.K[0, 0] / 2) < 0.06


def test_lens_distortion_does_not_bend_the_rotations(handheld):
    """The same clip through a lens with radial distortion (k1 = 0.08): the distortion term
    is refined (at the end), so the focal and rotations stay right. A pinhole fit of these
    frames (camera_model SIMPLE_PINHOLE) measured 0.28 deg and a focal 5% short."""
    render, _, est = handheld["lens"]
    assert est.status == "ok", est.reason
    rot, centre = _errors(est, render)
    assert rot <= 0.2 and centre <= 0.01, (rot, centre)
    assert abs(est.K[0, 0] - render.K[0, 0] / 2) / (render.K[0, 0] / 2) < 0.06


def test_estimate_is_the_same_every_run(handheld):
    """Identical frames give identical poses, focal and words (matching on one thread, fixed
    RANSAC and mapper seeds, the final adjustment on one thread)."""
    render, frames, first = handheld["sidestep"]
    again = estimate_camera(frames, render.timestamps, CFG)
    assert (again.status, again.description) == (first.status, first.description)
    np.testing.assert_array_equal(again.K, first.K)
    for a, b in zip(again.poses, first.poses, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.xfail(strict=True, reason="open: at 320 px COLMAP's homography-versus-epipolar "
                   "test (at its 4 px verification error) finds 99% of the walk's pairs "
                   "planar, so it reads as rotation_only (docs/camera.md)")
def test_forward_walk_is_mapped_not_read_as_a_pan():
    render, frames = _handheld("walk")
    est = estimate_camera(frames, render.timestamps, CFG)
    assert est.status == "ok", est.reason
