"""SAM2 masks of the reference subjects: RLE, clipping to the boxes, cut-outs, the segmenter on
the tiny random SAM2 (loaded through from_pretrained), the refs stage's masks and cut-outs,
the contact sheet's mask drawing and the loader's `ref_masks`.

With random weights masks mean nothing, so these tests check what the pipeline guarantees
whatever the weights: masks of the right size, inside their subject's box grown by
refs.sam2.clip_margin, non-empty wherever a box was given, absent elsewhere, areas that match
the decoded masks, cut-outs whose background is the neutral colour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conditions_helpers import make_run, tiny_models, tiny_overrides
from PIL import Image
from pycocotools import mask as coco

from any2capins.conditions.segment import (
    Sam2Segmenter,
    box_mask,
    box_region,
    cutout,
    decode_rle,
    draw_mask,
    encode_rle,
    load_segmenter,
    settle,
)
from any2capins.config import load_config
from any2capins.config.refs import NEUTRAL_RGB, RefsConfig, Sam2Config
from any2capins.data.decode import ref_masks, rle_mask
from any2capins.errors import ConfigError

SOURCES = {"prompt", "propagated", "box", "none"}


def blob(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# -- RLE, regions, settling, cut-outs (synthetic masks) --------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (48, 64), (33, 17)])
def test_rle_round_trip_matches_pycocotools(shape):
    rng = np.random.default_rng(sum(shape))
    masks = [np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) > 0.6,
             blob(*shape, shape[0] / 2, shape[1] / 3, min(shape) / 3)]
    for m in masks:
        counts = encode_rle(m)
        assert isinstance(counts, str) and counts.isascii()
        np.testing.assert_array_equal(decode_rle(counts, *shape), m)
        np.testing.assert_array_equal(rle_mask(counts, *shape), m)  # the loader's decoder
        rle = {"size": list(shape), "counts": counts.encode("ascii")}
        np.testing.assert_array_equal(coco.decode(rle).astype(bool), m)
        assert int(coco.area(rle)) == int(m.sum())


def test_box_region_grows_and_clips():
    assert box_region([10, 20, 30, 60], 0.1, 100, 100) == (8, 16, 32, 64)
    assert box_region([0, 0, 50, 100], 0.2, 60, 100) == (0, 0, 60, 100)
    assert box_region([5.5, 5.5, 5.6, 5.6], 0.0, 10, 10) == (5, 5, 6, 6)  # at least 1 pixel
    m = box_mask([2.2, 3.7, 6.1, 5.0], 10, 12)
    assert m.sum() == 5 * 2 and m[3:5, 2:7].all()


def test_settle_clips_to_grown_box_and_never_leaves_a_box_empty():
    h, w, box = 60, 80, [20, 10, 40, 50]
    everywhere = np.ones((h, w), bool)
    mask, ours = settle(everywhere, 0.9, box, 0.1, 0.5)
    x1, y1, x2, y2 = box_region(box, 0.1, w, h)
    assert ours and mask[y1:y2, x1:x2].all() and mask.sum() == (x2 - x1) * (y2 - y1)
    outside = np.zeros((h, w), bool)
    outside[:, 60:] = True  # all of it right of the grown box: nothing left inside
    mask, ours = settle(outside, 0.9, box, 0.1, 0.5)
    assert not ours and np.array_equal(mask, box_mask(box, h, w))
    mask, ours = settle(everywhere, 0.4, box, 0.1, 0.5)  # SAM2 says: not visible
    assert not ours and np.array_equal(mask, box_mask(box, h, w))
    mask, ours = settle(blob(h, w, 30, 30, 5), 0.5, box, 0.0, 0.5)
    assert ours and np.array_equal(mask, blob(h, w, 30, 30, 5))


def test_cutout_and_mask_drawing():
    rng = np.random.default_rng(1)
    img = (rng.random((30, 20, 3)) * 255).astype(np.uint8)
    m = blob(30, 20, 15, 10, 6)
    cut = cutout(img, m, NEUTRAL_RGB)
    assert (cut[~m] == NEUTRAL_RGB).all() and np.array_equal(cut[m], img[m])
    drawn = draw_mask(img, m, colour=(0, 200, 255))
    assert np.array_equal(drawn[~m], img[~m])  # outside the mask nothing changes
    assert (drawn[15, 4] == (0, 200, 255)).all()  # the outline (left edge of the disc)
    assert not np.array_equal(drawn[15, 10], img[15, 10])  # the inside is tinted
    with pytest.raises(ValueError, match="does not match"):
        cutout(img, m[:-1], NEUTRAL_RGB)


# -- the segmenter on the tiny random SAM2 ---------------------------------------------------

def frames_and_boxes(t_len: int = 5, h: int = 72, w: int = 96):
    rng = np.random.default_rng(7)
    frames = (rng.random((t_len, h, w, 3)) * 255).astype(np.uint8)
    boxes = {4: {0: [5.0, 8.0, 35.0, 60.0], 1: [7.0, 8.0, 37.0, 61.0], 3: [10.0, 9.0, 40.0, 62.0]},
             9: {1: [60.0, 10.0, 90.0, 40.0], 2: [61.5, 12.0, 91.0, 41.0],
                 4: [58.0, 11.0, 88.0, 43.0]}}
    return frames, boxes


def segmenter(**over) -> Sam2Segmenter:
    import torch

    seg = Sam2Segmenter(Sam2Config(model=tiny_models()["sam2"], **over), "cpu", torch.float32)
    seg.load()
    return seg


def check_invariants(out, boxes, t_len, h, w, margin):
    assert set(out) == set(boxes)
    for tid, seg in out.items():
        assert seg.masks.shape == (t_len, h, w) and seg.masks.dtype == bool
        assert len(seg.sources) == t_len and set(seg.sources) <= SOURCES
        assert seg.areas() == [int(m.sum()) for m in seg.masks]
        assert ((seg.scores >= 0) & (seg.scores <= 1)).all()
        for t in range(t_len):
            if t not in boxes[tid]:
                assert seg.sources[t] == "none" and not seg.masks[t].any()
                continue
            x1, y1, x2, y2 = box_region(boxes[tid][t], margin, w, h)
            inside = seg.masks[t, y1:y2, x1:x2].sum()
            assert inside > 0 and inside == seg.masks[t].sum(), (tid, t)  # non-empty, inside
            if seg.sources[t] == "box":
                assert np.array_equal(seg.masks[t], box_mask(boxes[tid][t], h, w))


@pytest.mark.parametrize("mode", ["tracked", "best"])
def test_segmenter_masks_lie_in_their_boxes(mode):
    frames, boxes = frames_and_boxes()
    t_len, h, w = frames.shape[:3]
    seg = segmenter(prompt_frames=mode)
    assert seg.size == 128  # the tiny model's square input, read from its config
    out = seg.segment(frames, boxes, key_frames={4: 1, 9: 2})
    check_invariants(out, boxes, t_len, h, w, 0.1)
    if mode == "tracked":  # every box is a prompt; SAM2 runs nowhere else
        for tid, s in out.items():
            assert all(s.sources[t] in ("prompt", "box") for t in boxes[tid])
            assert all(s.scores[t] == 0 for t in range(t_len) if t not in boxes[tid])
        assert any(src == "prompt" for s in out.values() for src in s.sources)
    else:  # one prompt at the key frame, propagated over every frame
        assert out[4].sources[1] in ("prompt", "box") and out[9].sources[2] in ("prompt", "box")
        assert all(s.scores.min() > 0 for s in out.values())
        assert any(src == "propagated" for s in out.values() for src in s.sources)
    assert seg.segment(frames, {}) == {}
    empty = seg.segment(frames, {5: {}})[5]  # a subject without a box gets no mask
    assert empty.sources == ["none"] * t_len and not empty.masks.any()


def test_clipping_is_what_keeps_masks_in_the_boxes():
    """The same prompts with a wide margin give masks that leave the box (random weights spill
    everywhere), a zero margin keeps each inside its box exactly."""
    frames, boxes = frames_and_boxes()
    t_len, h, w = frames.shape[:3]
    wide = segmenter(clip_margin=1.0).segment(frames, boxes)
    tight = segmenter(clip_margin=0.0).segment(frames, boxes)
    check_invariants(tight, boxes, t_len, h, w, 0.0)
    spill = [wide[tid].masks[t].sum() > box_mask(b, h, w).sum()
             for tid, per in boxes.items() for t, b in per.items()]
    assert any(spill)


def test_score_threshold_puts_the_box_in_place():
    frames, boxes = frames_and_boxes()
    out = segmenter(score_threshold=1.0).segment(frames, boxes)
    for tid, s in out.items():
        for t, box in boxes[tid].items():
            assert s.sources[t] == "box" and 0 < s.scores[t] < 1
            assert np.array_equal(s.masks[t], box_mask(box, *frames.shape[1:3]))


def test_load_errors_name_the_setting(tmp_path):
    assert load_segmenter(RefsConfig(segment="none")) is None
    with pytest.raises(ConfigError, match=r"refs\.sam2\.model"):
        load_segmenter(RefsConfig(sam2=Sam2Config(model=str(tmp_path / "nope"))))
    with pytest.raises(ConfigError, match=r"refs\.sam2\.dtype"):
        load_segmenter(RefsConfig(sam2=Sam2Config(model=tiny_models()["sam2"],
                                                  dtype="float16")))
    with pytest.raises(RuntimeError, match="load"):
        Sam2Segmenter(Sam2Config(), "cpu", None).segment(*frames_and_boxes())


# -- the refs stage, the contact sheet, the loader ------------------------------------------

def jpeg(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def refs_rows(tmp_path, *extra):
    from any2capins.conditions.refs import RefsStage
    from any2capins.io.shards import ShardStore
    from any2capins.models.conditions import RefsRecord
    from any2capins.runtime import ShardTask, run_stage

    run = make_run(tmp_path, bad=False)
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=local", "refs.max_subjects=2",
                           *extra])
    run_stage(RefsStage(cfg.refs), [ShardTask(0, "clips")], str(run), cfg.runtime)
    return cfg, ShardStore(str(run)).read_shard("conditions/refs", 0, RefsRecord)


@pytest.fixture(scope="module")
def sam2_rows(tmp_path_factory):
    return refs_rows(tmp_path_factory.mktemp("refs-sam2"))


def test_refs_stage_masks_and_cutouts(sam2_rows):
    cfg, recs = sam2_rows
    assert recs and any(r.crops for r in recs)
    for rec in recs:
        assert rec.segment == "sam2" and rec.tiny_model
        assert rec.segment_model == tiny_models()["sam2"]
        assert [m.track_id for m in rec.masks] == [c.track_id for c in rec.crops]
        t_len, mh, mw = len(rec.frame_indices), rec.mask_height, rec.mask_width
        assert max(mh, mw) == 320  # the decoded frames (refs.sampling.max_side)
        sx, sy = mw / rec.width, mh / rec.height
        for crop, masks in zip(rec.crops, rec.masks, strict=True):
            assert len(masks.rle) == len(masks.areas) == len(masks.sources) == t_len
            frame_masks = []
            for rle, area, src in zip(masks.rle, masks.areas, masks.sources, strict=True):
                assert (rle is None) == (src == "none")
                m = decode_rle(rle, mh, mw) if rle else np.zeros((mh, mw), bool)
                assert int(m.sum()) == area and (area > 0) == (src != "none")
                frame_masks.append(m)
            # the crop's mask: its size, its area, the frame mask inside the crop region
            cm = decode_rle(crop.mask_rle, crop.crop_height, crop.crop_width)
            assert cm.sum() == crop.mask_area > 0 and crop.mask_source in ("prompt", "box")
            t = rec.frame_indices.index(crop.frame_index)
            x1, y1 = round(crop.crop_box[0] * sx), round(crop.crop_box[1] * sy)
            region = frame_masks[t][y1:y1 + crop.crop_height, x1:x1 + crop.crop_width]
            np.testing.assert_array_equal(cm, region)
            # the frame mask lies in the crop's box grown by clip_margin
            bx = [crop.box[0] * sx, crop.box[1] * sy, crop.box[2] * sx, crop.box[3] * sy]
            gx1, gy1, gx2, gy2 = box_region(bx, cfg.refs.sam2.clip_margin + 0.01, mw, mh)
            assert frame_masks[t][gy1:gy2, gx1:gx2].sum() == frame_masks[t].sum()
            # the cut-out: the box crop inside the mask, the neutral colour outside
            box_img, cut = jpeg(crop.jpeg), jpeg(crop.cutout_jpeg)
            assert cut.shape == box_img.shape == (crop.crop_height, crop.crop_width, 3)
            if (~cm).any():
                background = cut[~cm].mean(axis=0)
                np.testing.assert_allclose(background, NEUTRAL_RGB, atol=12)
        if rec.crops:  # the stitched image is made of the cut-outs
            from any2capins.conditions.refs import stitch

            parts = [jpeg(c.cutout_jpeg).astype(np.uint8) for c in rec.crops[:2]]
            want = stitch(parts, cfg.refs.stitch_height).astype(int)
            got = jpeg(rec.stitched_jpeg)
            assert got.shape == want.shape and np.abs(got - want).mean() < 8


def test_refs_stage_without_segmentation(tmp_path):
    _, recs = refs_rows(tmp_path, "refs.segment=none")
    assert any(r.crops for r in recs)
    for rec in recs:
        assert rec.segment == "none" and rec.masks == [] and rec.segment_model is None
        assert (rec.mask_width, rec.mask_height) == (0, 0)
        assert all(c.mask_rle is None and c.cutout_jpeg is None and c.mask_area is None
                   for c in rec.crops)


def test_sheet_draws_the_crop_masks(sam2_rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from any2capins.conditions.sheet import _refs_panel

    _, recs = sam2_rows
    rec = next(r for r in recs if r.crops)
    bare = rec.model_copy(update={"crops": [c.model_copy(update={"mask_rle": None})
                                            for c in rec.crops]})
    drawn = []
    for r in (rec, bare):
        fig, ax = plt.subplots()
        _refs_panel(ax, r, 60)
        drawn.append(ax.get_images()[0].get_array())
        plt.close(fig)
    assert drawn[0].shape == drawn[1].shape and not np.array_equal(drawn[0], drawn[1])


def test_loader_ref_masks_one_per_reference_image():
    rng = np.random.default_rng(3)
    images = [np.zeros((20, 12, 3), np.uint8), np.zeros((9, 30, 3), np.uint8)]
    masks = [rng.random((20, 12)) > 0.5, blob(9, 30, 4, 15, 4)]
    crops = [{"crop_height": m.shape[0], "crop_width": m.shape[1], "mask_rle": encode_rle(m)}
             for m in masks]
    got = ref_masks({"crops": [*crops, crops[0]]}, images)  # more crops than images: fine
    assert [g.shape for g in got] == [i.shape[:2] for i in images]
    assert all(np.array_equal(g, m) for g, m in zip(got, masks, strict=True))
    assert ref_masks({"crops": [{**crops[0], "mask_rle": None}, crops[1]]}, images) is None
    assert ref_masks({"crops": crops[:1]}, images) is None  # the refs row no longer matches
    assert ref_masks({"crops": crops[::-1]}, images) is None
    assert ref_masks(None, images) is None


def test_instance_dataset_returns_ref_masks(tmp_path):
    """Through the real loader: identity instances get one mask per reference image, of its
    size, read from the clip's refs row; rows without masks give None."""
    from datetime import UTC, datetime

    import torch
    from loader_builders import build_known_run

    from any2capins.data import InstanceDataset
    from any2capins.io.shards import ShardStore
    from any2capins.models.common import ShardDone
    from any2capins.models.conditions import RefsRecord

    run = tmp_path / "run"
    build_known_run(run, tmp_path)
    items = [it for it in InstanceDataset(run) if "identity" in it["conditions"]]
    assert items and all(it["ref_masks"] is None for it in items)  # box crops only
    store = ShardStore(str(run))
    rows, want = [], {}
    for rec in store.read_shard("conditions/refs", 0, RefsRecord):
        crops = []
        for i, c in enumerate(rec.crops):
            m = blob(c.crop_height, c.crop_width, 6 + 3 * i, 12, 5)
            want[(rec.clip_id, i)] = m
            crops.append(c.model_copy(update={"mask_rle": encode_rle(m), "mask_source": "prompt",
                                              "mask_area": int(m.sum())}))
        rows.append(rec.model_copy(update={"crops": crops, "segment": "sam2"}))
    now = datetime.now(UTC)
    done = ShardDone(stage="refs", shard=0, input_rows=len(rows), ok_items=len(rows),
                     output_rows=len(rows), error_rows=0, started=now, finished=now,
                     seconds=0.0, worker="test")
    store.write_shard(output_dir="conditions/refs", model=RefsRecord, index=0, rows=rows,
                      errors=[], done=done)
    ds = InstanceDataset(run)
    seen = 0
    for it in ds:
        if "identity" not in it["conditions"]:
            assert it["ref_masks"] is None
            continue
        assert len(it["ref_masks"]) == len(it["ref_images"]) > 0
        for i, (mask, image) in enumerate(zip(it["ref_masks"], it["ref_images"], strict=True)):
            assert mask.dtype == torch.bool and tuple(mask.shape) == image.shape[:2]
            np.testing.assert_array_equal(mask.numpy(), want[(it["clip_id"], i)])
            seen += 1
    assert seen
    assert InstanceDataset(run, conditions=["depth"])[0]["ref_masks"] is None
