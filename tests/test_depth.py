"""Depth stage: encoding round trip, stored shapes/dtypes/ranges, errors, start-up failures."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conditions_helpers import batch_inputs, make_run, tiny_overrides
from PIL import Image

from any2capins.conditions.depth import DepthStage, model_input_size, store_size
from any2capins.config import load_config
from any2capins.errors import ConfigError
from any2capins.io.depth_png import decode_depth_png, encode_depth_png
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import DepthRecord
from any2capins.runtime import ShardTask, run_stage


@pytest.mark.parametrize("seed", range(5))
def test_png16_round_trip_within_quantisation_step(seed: int):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-6, 3)
    depth = (rng.normal(size=(37, 53)) * scale + rng.uniform(-5, 5)).astype(np.float32)
    data, lo, hi = encode_depth_png(depth)
    img = Image.open(io.BytesIO(data))
    assert img.size == (53, 37) and img.mode.startswith("I;16")
    restored = decode_depth_png(data, lo, hi)
    step = (hi - lo) / 65535
    assert restored.dtype == np.float32 and restored.shape == depth.shape
    assert lo == pytest.approx(float(depth.min())) and hi == pytest.approx(float(depth.max()))
    err = np.abs(restored.astype(np.float64) - depth.astype(np.float64))
    assert err.max() <= step / 2 + 4 * np.finfo(np.float32).eps * max(abs(lo), abs(hi))


def test_constant_map_restores_exactly():
    data, lo, hi = encode_depth_png(np.full((4, 6), 2.5, np.float32))
    assert np.all(decode_depth_png(data, lo, hi) == 2.5)


def test_sizes():
    assert model_input_size(1920, 1080, 518) == (518, 294)
    w, h = model_input_size(240, 320, 140)
    assert w % 14 == 0 and h % 14 == 0 and h == 140
    assert store_size(960, 540, 256) == (256, 144)
    assert store_size(100, 50, None) == (100, 50) == store_size(100, 50, 256)


def test_depth_stage_outputs(tmp_path):
    run = make_run(tmp_path)
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=local"])
    summary = run_stage(DepthStage(cfg.depth), [ShardTask(0, "clips")], str(run), cfg.runtime)
    store = ShardStore(str(run))
    clips = store.read_shard("clips", 0, ClipRecord)
    recs = store.read_shard("conditions/depth", 0, DepthRecord)
    errors = store.read_errors("depth")
    assert summary.items == len(clips) == len(recs) + len(errors)
    assert [e.clip_id for e in errors] == ["badbadbadbadbad0"]
    assert errors[0].error_class == "DecodeError"
    stage = DepthStage(cfg.depth)
    stage.setup()
    for rec, clip in zip(recs, clips, strict=False):
        assert rec.clip_id == clip.clip_id and rec.tiny_model
        t = len(rec.frame_indices)
        assert t >= 2 and rec.frame_indices == sorted(rec.frame_indices)
        assert rec.frame_indices[0] >= 0 and rec.frame_indices[-1] < clip.num_frames
        assert len(rec.timestamps) == len(rec.depth_png) == len(rec.scale_min) == t
        assert max(rec.width, rec.height) == 64
        assert abs(rec.width / rec.height - clip.width / clip.height) < 0.05
        maps = [decode_depth_png(d, lo, hi)
                for d, lo, hi in zip(rec.depth_png, rec.scale_min, rec.scale_max, strict=True)]
        assert all(m.shape == (rec.height, rec.width) and np.isfinite(m).all() for m in maps)
        assert rec.stats.min == pytest.approx(min(rec.scale_min), abs=1e-12)
        assert rec.stats.max == pytest.approx(max(rec.scale_max), abs=1e-12)
        assert rec.stats.p05 <= rec.stats.mean <= rec.stats.p95 or rec.stats.std == 0
        # what is stored is the model's prediction, to within the quantisation step
        direct = stage.predict(batch_inputs(stage, [clip], run).frames(clip.clip_id).frames)
        for m, d, lo, hi in zip(maps, direct, rec.scale_min, rec.scale_max, strict=True):
            assert np.abs(m - d).max() <= (hi - lo) / 65535 + 1e-6 * max(abs(hi), 1e-30)


def test_bad_model_folder_and_missing_gpu_are_startup_errors(tmp_path):
    cfg = load_config([], [f"depth.model={tmp_path / 'nope'}"])
    with pytest.raises(ConfigError, match=r"depth\.model"):
        DepthStage(cfg.depth).setup()
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    cfg = load_config([], [*tiny_overrides(), "depth.device=cuda"])
    with pytest.raises(ConfigError, match=r"depth\.device=cuda"):
        DepthStage(cfg.depth).setup()
