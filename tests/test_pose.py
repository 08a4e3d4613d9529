"""Pose stage: detector + tracker + pose backends (vitpose and mmpose), stored layout."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conditions_helpers import make_run, tiny_models, tiny_overrides

from any2capins.conditions.pose import PoseStage, build_track
from any2capins.conditions.tracking import FrameDetections, Track
from any2capins.config import load_config
from any2capins.errors import ConfigError
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import PoseRecord
from any2capins.runtime import ShardTask, run_stage

HAS_MMPOSE = importlib.util.find_spec("mmpose") is not None


def run_pose(run: Path, *extra: str) -> tuple[list[ClipRecord], list[PoseRecord], list]:
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=local", *extra])
    run_stage(PoseStage(cfg.pose), [ShardTask(0, "clips")], str(run), cfg.runtime, force=True)
    store = ShardStore(str(run))
    return (store.read_shard("clips", 0, ClipRecord),
            store.read_shard("conditions/pose", 0, PoseRecord), store.read_errors("pose"))


@pytest.fixture(scope="module")
def vitpose_run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("pose"))
    return run, *run_pose(run)


def check_record(rec: PoseRecord, clip: ClipRecord) -> None:
    t, k = len(rec.frame_indices), len(rec.keypoint_names)
    assert (rec.width, rec.height) == (clip.width, clip.height)
    assert t == len(rec.timestamps) >= 2 and k == 17
    assert [tr.track_id for tr in rec.tracks] == list(range(len(rec.tracks)))
    for tr in rec.tracks:
        kp = np.asarray(tr.keypoints, np.float64)
        boxes = np.asarray(tr.boxes, np.float64)
        present = np.asarray(tr.present)
        assert kp.shape == (t, k, 3) and boxes.shape == (t, 4) and len(tr.box_scores) == t
        assert present.sum() >= 2  # tracker.min_length
        assert tr.coverage == pytest.approx(present.mean(), abs=1e-3)
        assert not kp[~present].any() and not boxes[~present].any()
        b = boxes[present]
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= clip.width + 1e-3).all()
        assert (b[:, 1] >= 0).all() and (b[:, 3] <= clip.height + 1e-3).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert ((kp[present][..., 2] >= 0) & (kp[present][..., 2] <= 1)).all()
        # keypoints lie in the top-down crop around their box (the box padded by 25% and
        # widened to the model's aspect: at most max(w, h) from the box centre). The median is
        # checked: random heatmaps are flat, and the sub-pixel refinement then throws a few
        # keypoints far off
        reach = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        assert np.isfinite(kp).all()
        assert (np.median(np.abs(kp[present][..., 0] - cx[:, None]), axis=1) <= reach).all()
        assert (np.median(np.abs(kp[present][..., 1] - cy[:, None]), axis=1) <= reach).all()
        assert 0 <= tr.quality <= 1
        assert tr.quality == pytest.approx(
            tr.coverage * tr.mean_box_score * tr.mean_keypoint_score, abs=2e-3)


def test_vitpose_outputs(vitpose_run):
    _, clips, recs, errors = vitpose_run
    assert len(clips) == len(recs) + len(errors)
    assert [e.clip_id for e in errors] == ["badbadbadbadbad0"]
    for rec, clip in zip(recs, clips, strict=False):
        assert rec.backend == "vitpose" and rec.tiny_model and rec.clip_id == clip.clip_id
        check_record(rec, clip)
    # the tiny detector is biased towards 'person', so tracks exist to check
    assert sum(len(r.tracks) for r in recs) > 0


def test_clip_without_people_is_zero_tracks_not_an_error(tmp_path):
    clips, recs, errors = run_pose(make_run(tmp_path, bad=False), "pose.detector.threshold=1.0")
    assert len(recs) == len(clips) and not errors
    assert all(r.tracks == [] and len(r.frame_indices) >= 2 for r in recs)


@pytest.mark.skipif(not HAS_MMPOSE, reason="mmpose extra not installed (make install-mmpose)")
def test_mmpose_and_vitpose_share_the_output_schema(vitpose_run, tmp_path):
    run, clips, vit, _ = vitpose_run
    folder = Path(tiny_models()["mmpose"])
    mm_run = make_run(tmp_path)
    _, mm, errors = run_pose(mm_run, "pose.backend=mmpose",
                             f"pose.mmpose.config={folder / 'rtmpose-tiny.py'}",
                             f"pose.mmpose.checkpoint={folder / 'rtmpose-tiny.pth'}")
    assert [e.clip_id for e in errors] == ["badbadbadbadbad0"]
    schema = pq.read_schema(ShardStore(str(run)).data_loc("conditions/pose", 0).path)
    assert pq.read_schema(ShardStore(str(mm_run)).data_loc("conditions/pose", 0).path) == schema
    for a, b, clip in zip(vit, mm, clips, strict=False):
        assert b.backend == "mmpose" and b.tiny_model
        check_record(b, clip)
        assert b.keypoint_names == a.keypoint_names
        # same detector and tracker: same tracks and boxes; only keypoints differ
        assert [tr.boxes for tr in b.tracks] == [tr.boxes for tr in a.tracks]


def test_mmpose_without_config_is_a_startup_error():
    cfg = load_config([], [*tiny_overrides(), "pose.backend=mmpose"])
    with pytest.raises(ConfigError, match=r"pose\.mmpose\.config"):
        PoseStage(cfg.pose).setup()


def test_bad_detector_and_unknown_person_label_name_the_setting(tmp_path):
    cfg = load_config([], [*tiny_overrides(), f"pose.detector.model={tmp_path}"])
    with pytest.raises(ConfigError, match=r"pose\.detector\.model"):
        PoseStage(cfg.pose).setup()
    cfg = load_config([], [*tiny_overrides(), "pose.person_label=human"])
    with pytest.raises(ConfigError, match=r"pose\.person_label"):
        PoseStage(cfg.pose).setup()


def test_build_track_lays_out_and_scales():
    dets = [FrameDetections(np.array([[10, 20, 30, 60]], np.float32), np.array([0.8], np.float32),
                            np.zeros(1, np.int64)) for _ in range(4)]
    tr = Track(0, 0, frames=[0, 1, 3], detections=[0, 0, 0])
    kp = {(t, 0): np.array([[15, 30, 0.5], [25, 50, 1.0]], np.float32) for t in (0, 1, 3)}
    out = build_track(tr, dets, kp, n_frames=4, k=2, scale=(2.0, 3.0))
    assert out.present == [True, True, False, True]
    assert out.boxes[0] == [20, 60, 60, 180] and out.boxes[2] == [0, 0, 0, 0]
    assert out.keypoints[3] == [[30, 90, 0.5], [50, 150, 1.0]]
    assert out.coverage == 0.75 and out.mean_box_score == pytest.approx(0.8)
    assert out.quality == pytest.approx(0.75 * 0.8 * 0.75, abs=1e-3)
