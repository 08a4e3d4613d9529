"""Reference crops: ranking rules, crop geometry, stitched image, stage outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conditions_helpers import batch_inputs, make_run, tiny_overrides
from PIL import Image

from any2capins.conditions.refs import (
    RefsStage,
    crop_quality,
    crop_region,
    sharpness,
    stitch,
    touches_edge,
)
from any2capins.config import load_config
from any2capins.errors import ConfigError
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import RefsRecord
from any2capins.runtime import ShardTask, run_stage


def test_quality_prefers_bigger_sharper_surer_uncut_crops():
    base = crop_quality(0.9, 0.05, 200.0, False)
    assert crop_quality(0.9, 0.10, 200.0, False) > base
    assert crop_quality(0.9, 0.05, 800.0, False) > base
    assert crop_quality(0.95, 0.05, 200.0, False) > base
    assert crop_quality(0.9, 0.05, 200.0, True) < base
    assert 0 <= crop_quality(1.0, 1.0, 1e9, False) <= 1


def test_sharpness_orders_blur():
    rng = np.random.default_rng(0)
    sharp = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(sharp).resize((8, 8)).resize((64, 64)))
    assert sharpness(sharp) > 10 * sharpness(blurred)
    assert sharpness(np.full((10, 10, 3), 128, np.uint8)) == 0


def test_crop_region_margin_and_clipping():
    assert crop_region(np.array([10, 20, 30, 60]), 0.1, 100, 100) == (8, 16, 32, 64)
    assert crop_region(np.array([0, 0, 50, 100]), 0.2, 60, 100) == (0, 0, 60, 100)
    assert touches_edge(np.array([0, 5, 10, 10]), 100, 100)
    assert not touches_edge(np.array([5, 5, 10, 10]), 100, 100)


def test_stitch_side_by_side():
    a = np.zeros((50, 20, 3), np.uint8)
    b = np.full((100, 100, 3), 255, np.uint8)
    out = stitch([a, b], 64)
    assert out.shape == (64, 26 + 64, 3)
    assert out[:, :26].max() == 0 and out[:, 26:].min() == 255


def test_refs_stage_outputs(tmp_path):
    run = make_run(tmp_path)
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=local", "refs.max_subjects=2"])
    run_stage(RefsStage(cfg.refs), [ShardTask(0, "clips")], str(run), cfg.runtime)
    store = ShardStore(str(run))
    clips = store.read_shard("clips", 0, ClipRecord)
    recs = store.read_shard("conditions/refs", 0, RefsRecord)
    errors = store.read_errors("refs")
    assert len(clips) == len(recs) + len(errors)
    assert [e.error_class for e in errors] == ["DecodeError"]
    assert any(r.crops for r in recs)
    for rec, clip in zip(recs, clips, strict=False):
        assert rec.tiny_model and (rec.width, rec.height) == (clip.width, clip.height)
        assert len({c.track_id for c in rec.crops}) == len(rec.crops)
        people = [c.label == "person" for c in rec.crops]
        assert people == sorted(people, reverse=True)  # people first
        for c in rec.crops:
            img = Image.open(io.BytesIO(c.jpeg))
            assert img.format == "JPEG" and img.size == (c.crop_width, c.crop_height)
            assert c.frame_index in rec.frame_indices
            x1, y1, x2, y2 = c.box
            cx1, cy1, cx2, cy2 = c.crop_box
            assert 0 <= cx1 <= x1 < x2 <= cx2 <= clip.width + 1e-6
            assert 0 <= cy1 <= y1 < y2 <= cy2 <= clip.height + 1e-6
            assert 0 <= c.quality <= 1 and c.frames_seen >= 2 and c.sharpness >= 0
        if rec.crops:
            assert rec.stitched_track_ids == [c.track_id for c in rec.crops[:2]]
            stitched = Image.open(io.BytesIO(rec.stitched_jpeg))
            assert stitched.height == cfg.refs.stitch_height
            widths = [round(c.crop_width * stitched.height / c.crop_height) for c in rec.crops[:2]]
            assert stitched.width == pytest.approx(sum(widths), abs=2)
        else:
            assert rec.stitched_jpeg is None and rec.stitched_track_ids == []


def test_unknown_label_is_a_startup_error():
    cfg = load_config([], [*tiny_overrides(), "refs.labels=[person, unicorn]"])
    with pytest.raises(ConfigError, match="unicorn"):
        RefsStage(cfg.refs).setup()


class ScriptedDetector:
    """Stands in for the model: fixed detections per frame (labels: 0 person, 16 dog)."""

    def __init__(self, per_frame):
        self.per_frame = per_frame
        self.id2label = {0: "person", 16: "dog"}

    def detect_all(self, frames):
        from any2capins.conditions.tracking import FrameDetections

        out = []
        for boxes, scores, labels in self.per_frame[: len(frames)]:
            out.append(FrameDetections(np.array(boxes, np.float32), np.array(scores, np.float32),
                                       np.array(labels, np.int64)))
        return out


def test_ranking_people_first_best_frame_and_edge_penalty(tmp_path):
    run = make_run(tmp_path, bad=False, names=("vp9_bear.webm",))
    clip = ShardStore(str(run)).read_shard("clips", 0, ClipRecord)[0]
    cfg = load_config([], [*tiny_overrides(), "refs.sampling.fps=null", "refs.sampling.count=4",
                           "refs.sampling.max_side=320", "refs.max_subjects=2"])
    big_person = [[0, 50, 60, 150]] * 4
    big_person[2] = [2, 50, 62, 150]  # the one frame where the box does not touch the border
    frames = []
    for t in range(4):
        boxes = [big_person[t], [200, 100, 220, 140], [120, 60, 300, 230]]
        frames.append((boxes, [0.9, 0.6, 0.99], [0, 0, 16]))
    stage = RefsStage(cfg.refs)
    stage.detector, stage.keep = ScriptedDetector(frames), None
    rec = stage.process_batch([clip], batch_inputs(stage, [clip], run))[0]
    assert isinstance(rec, RefsRecord)
    assert [c.label for c in rec.crops] == ["person", "person", "dog"]
    best = rec.crops[0]
    assert not best.edge_cut and best.frame_index == rec.frame_indices[2]
    sx = clip.width / 320
    assert best.box == pytest.approx([2 * sx, 50 * sx, 62 * sx, 150 * sx], abs=0.02)
    assert rec.crops[1].box[0] == pytest.approx(200 * sx, abs=0.02)
    assert rec.stitched_track_ids == [rec.crops[0].track_id, rec.crops[1].track_id]
    assert all(c.frames_seen == 4 for c in rec.crops)
