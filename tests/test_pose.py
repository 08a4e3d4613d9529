"""Pose stage: detector + tracker + pose backends (dwpose, vitpose, mmpose), stored layout; the
dwpose route against mmpose on the same weights; the skeleton module; the whole-body layout end
to end (pose row -> loader's `pose` -> skeleton image)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conditions_helpers import EXAMPLES, make_run, tiny_models, tiny_overrides

from any2capins.conditions.dwpose import export_simcc_onnx
from any2capins.conditions.pose import PoseStage, build_track
from any2capins.conditions.pose_backends import DWPoseBackend
from any2capins.conditions.tracking import FrameDetections, Track
from any2capins.config import load_config
from any2capins.config.pose import PoseConfig
from any2capins.errors import ConfigError
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import PoseRecord, PoseTrack
from any2capins.models.skeleton import (
    BODY_COLOURS,
    COCO17_NAMES,
    HAND_COLOURS,
    HAND_LIMBS,
    LAYOUTS,
    WHOLEBODY133_NAMES,
    layout_for,
    layout_name,
    strokes,
)
from any2capins.runtime import ShardTask, run_stage

HAS_MMPOSE = importlib.util.find_spec("mmpose") is not None
needs_mmpose = pytest.mark.skipif(not HAS_MMPOSE,
                                  reason="mmpose extra not installed (make install-mmpose)")


def run_pose(run: Path, *extra: str) -> tuple[list[ClipRecord], list[PoseRecord], list]:
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=local", *extra])
    run_stage(PoseStage(cfg.pose), [ShardTask(0, "clips")], str(run), cfg.runtime, force=True)
    store = ShardStore(str(run))
    return (store.read_shard("clips", 0, ClipRecord),
            store.read_shard("conditions/pose", 0, PoseRecord), store.read_errors("pose"))


@pytest.fixture(scope="module")
def dwpose_run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("pose"))
    return run, *run_pose(run)


@pytest.fixture(scope="module")
def vitpose_run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("pose"))
    return run, *run_pose(run, "pose.backend=vitpose")


def check_record(rec: PoseRecord, clip: ClipRecord, layout: str) -> None:
    t, k = len(rec.frame_indices), len(rec.keypoint_names)
    assert rec.keypoint_layout == layout and rec.keypoint_names == list(LAYOUTS[layout].names)
    assert (rec.width, rec.height) == (clip.width, clip.height)
    assert t == len(rec.timestamps) >= 2
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


def test_dwpose_is_the_default_and_writes_wholebody_rows(dwpose_run):
    assert PoseConfig().backend == "dwpose"
    _, clips, recs, errors = dwpose_run
    assert len(clips) == len(recs) + len(errors)
    assert [e.clip_id for e in errors] == ["badbadbadbadbad0"]
    for rec, clip in zip(recs, clips, strict=False):
        assert rec.backend == "dwpose" and rec.tiny_model and rec.clip_id == clip.clip_id
        assert rec.model == tiny_models()["dwpose"]
        check_record(rec, clip, "coco_wholebody133")
    # the tiny detector is biased towards 'person', so tracks exist to check
    assert sum(len(r.tracks) for r in recs) > 0


def test_vitpose_outputs(vitpose_run):
    _, clips, recs, errors = vitpose_run
    assert len(clips) == len(recs) + len(errors)
    assert [e.clip_id for e in errors] == ["badbadbadbadbad0"]
    for rec, clip in zip(recs, clips, strict=False):
        assert rec.backend == "vitpose" and rec.tiny_model and rec.clip_id == clip.clip_id
        check_record(rec, clip, "coco17")
    assert sum(len(r.tracks) for r in recs) > 0


def test_backends_share_the_output_schema_and_the_tracks(dwpose_run, vitpose_run):
    dw_dir, _, dw, _ = dwpose_run
    vit_dir, _, vit, _ = vitpose_run
    schema = pq.read_schema(ShardStore(str(vit_dir)).data_loc("conditions/pose", 0).path)
    assert pq.read_schema(ShardStore(str(dw_dir)).data_loc("conditions/pose", 0).path) == schema
    # same detector and tracker: same tracks and boxes; only the keypoints differ
    for a, b in zip(vit, dw, strict=True):
        assert [tr.boxes for tr in b.tracks] == [tr.boxes for tr in a.tracks]
        assert [tr.present for tr in b.tracks] == [tr.present for tr in a.tracks]


def test_clip_without_people_is_zero_tracks_not_an_error(tmp_path):
    clips, recs, errors = run_pose(make_run(tmp_path, bad=False), "pose.detector.threshold=1.0")
    assert len(recs) == len(clips) and not errors
    assert all(r.tracks == [] and len(r.frame_indices) >= 2 for r in recs)


@needs_mmpose
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
        check_record(b, clip, "coco17")
        assert b.keypoint_names == a.keypoint_names
        assert [tr.boxes for tr in b.tracks] == [tr.boxes for tr in a.tracks]


def _frames_and_boxes() -> tuple[np.ndarray, list[np.ndarray]]:
    """Two real frames and boxes of every kind: tall, wide, tiny, partly outside the frame."""
    from any2capins.io.frames import sample_frames

    frames = sample_frames(str(EXAMPLES / "people_selfie_1s.mp4"), count=2, max_side=320).frames
    h, w = frames.shape[1:3]
    boxes = [np.array([[40, 20, 120, 200], [100, 90, 300, 150], [5, 5, 17, 13]], np.float32),
             np.array([[-30, -10, 90, 120], [w - 60, h - 80, w + 40, h + 20]], np.float32)]
    return frames, boxes


def _dwpose(model: Path, **settings: object) -> DWPoseBackend:
    backend = DWPoseBackend(PoseConfig(dwpose={"model": str(model), **settings}), "cpu", None)
    backend.load()
    return backend


@needs_mmpose
def test_dwpose_route_matches_mmpose_on_the_same_weights(tmp_path):
    """The ONNX Runtime route (our crop, normalisation and SimCC decode) gives mmpose's
    `inference_topdown` keypoints for the same RTMPose weights exported to ONNX."""
    import torch

    from any2capins.conditions.mmpose_compat import inference_topdown, init_pose_model

    folder = Path(tiny_models()["mmpose"])
    model = init_pose_model(str(folder / "rtmpose-tiny.py"), str(folder / "rtmpose-tiny.pth"),
                            "cpu")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone, self.head = model.backbone, model.head

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.head(self.backbone(x))

    ours = _dwpose(export_simcc_onnx(Net(), (64, 64), tmp_path / "rtmpose-tiny.onnx"))
    assert ours.keypoint_layout == "coco17"
    names = model.dataset_meta["keypoint_id2name"]
    assert ours.keypoint_names == [names[i] for i in sorted(names)]
    frames, boxes = _frames_and_boxes()
    for frame, b, kp in zip(frames, boxes, ours.estimate(frames, boxes), strict=True):
        theirs = inference_topdown(model, np.ascontiguousarray(frame[..., ::-1]), b)
        xy = np.stack([s.pred_instances.keypoints[0] for s in theirs])
        score = np.stack([s.pred_instances.keypoint_scores[0] for s in theirs])
        assert kp.shape == (len(b), 17, 3)
        np.testing.assert_allclose(kp[..., :2], xy, atol=0.05)
        np.testing.assert_allclose(kp[..., 2], score, atol=1e-4)


def _simcc_module(k: int, hw: tuple[int, int]):
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, k, 8, 8)
            n = (hw[0] // 8) * (hw[1] // 8)
            self.x, self.y = torch.nn.Linear(n, hw[1] * 2), torch.nn.Linear(n, hw[0] * 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f = self.conv(x).flatten(2)
            return self.x(f), self.y(f)

    torch.manual_seed(3)
    return Net().eval()


def test_dwpose_batching_and_fixed_batch_models_agree(tmp_path):
    """Box batches of any size and a model exported with a fixed batch of 1 (as released
    ONNX files may be) give the same keypoints."""
    import torch

    net = _simcc_module(133, (64, 48))
    dynamic = export_simcc_onnx(net, (64, 48), tmp_path / "dynamic.onnx")
    fixed = tmp_path / "fixed" / "dw-ll_ucoco_384.onnx"
    fixed.parent.mkdir()
    torch.onnx.export(net, (torch.zeros(1, 3, 64, 48),), str(fixed), input_names=["input"],
                      output_names=["simcc_x", "simcc_y"], dynamo=False)
    (fixed.parent / "other.onnx").write_bytes(b"")  # a folder is read at `file`
    frames, boxes = _frames_and_boxes()
    runs = [_dwpose(dynamic, box_batch=1), _dwpose(dynamic, box_batch=4),
            _dwpose(fixed.parent)]
    assert runs[2].model.fixed_batch == 1 and runs[0].model.fixed_batch is None
    outs = [r.estimate(frames, boxes) for r in runs]
    for other in outs[1:]:
        for a, b in zip(outs[0], other, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-3)
    assert [o.shape for o in outs[0]] == [(3, 133, 3), (2, 133, 3)]
    empty = runs[1].estimate(frames, [np.zeros((0, 4), np.float32)] * 2)
    assert [e.shape for e in empty] == [(0, 133, 3), (0, 133, 3)]


def test_dwpose_bad_models_name_the_setting(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.onnx").write_text("not a model")
    five = export_simcc_onnx(_simcc_module(5, (64, 48)), (64, 48), tmp_path / "five.onnx")
    cases = {str(tmp_path / "empty"): "0 .onnx files", str(tmp_path / "junk.onnx"): "ONNX",
             str(five): "predicts 5 keypoints", "nobody/no-such-model": "cannot load",
             str(tmp_path / "missing"): "neither"}
    for model, words in cases.items():
        with pytest.raises(ConfigError, match=rf"pose\.dwpose\.model.*{words}"):
            _dwpose(Path(model) if model.startswith("/") else model)  # type: ignore[arg-type]


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


# --- the skeleton module ---------------------------------------------------------------------

def test_wholebody_layout_partitions_133_keypoints():
    wb = LAYOUTS["coco_wholebody133"]
    assert len(wb.names) == len(set(wb.names)) == 133
    parts = [wb.body, wb.feet, wb.face, *wb.hands]
    assert [len(p) for p in parts] == [17, 6, 68, 21, 21]
    assert sorted(i for p in parts for i in p) == list(range(133))
    assert LAYOUTS["coco17"].names == COCO17_NAMES == wb.names[:17]
    assert not LAYOUTS["coco17"].hands and not LAYOUTS["coco17"].face
    # each hand's 20 limbs link its 21 points into one tree
    linked = {0}
    for a, b in HAND_LIMBS:
        assert a in linked and b not in linked
        linked.add(b)
    assert linked == set(range(21))


@needs_mmpose
def test_layout_names_are_mmposes_coco_wholebody():
    from mmengine.config import Config

    cfg = Config.fromfile(str(Path(importlib.util.find_spec("mmpose").origin).parent / ".mim" /
                              "configs" / "_base_" / "datasets" / "coco_wholebody.py"))
    info = cfg.dataset_info["keypoint_info"]
    assert tuple(info[i]["name"] for i in range(len(info))) == WHOLEBODY133_NAMES


def test_layout_resolution_declared_by_names_or_custom():
    assert layout_name(WHOLEBODY133_NAMES) == "coco_wholebody133"
    assert layout_name(COCO17_NAMES) == "coco17"
    assert layout_name(["nose", "neck"]) == "custom"
    # rows written before keypoint_layout existed read as 'custom': resolved by their names
    assert layout_for(list(WHOLEBODY133_NAMES), "custom").name == "coco_wholebody133"
    assert layout_for(list(COCO17_NAMES), None).name == "coco17"
    # a declared layout that does not fit the list is ignored
    assert layout_for(list(COCO17_NAMES), "coco_wholebody133").name == "coco17"
    odd = layout_for(["left_shoulder", "tail", "right_shoulder"])
    assert odd.name == "custom" and odd.body[5:7] == (0, 2) and not odd.hands


def test_strokes_follow_openpose_with_a_neck():
    kp = np.zeros((17, 3))
    kp[5] = (10, 50, 0.9)   # left shoulder
    kp[6] = (30, 50, 0.5)   # right shoulder
    kp[0] = (20, 30, 0.9)   # nose
    st = strokes(kp, LAYOUTS["coco17"])
    joints = {(d.x, d.y): d.colour for d in st.body_joints}
    assert joints[(20.0, 50.0)] == BODY_COLOURS[1]  # neck, between the shoulders
    assert len(st.body_limbs) == 3  # neck-right shoulder, neck-left shoulder, neck-nose
    kp[6, 2] = 0.2  # below 0.3: the right shoulder and the neck disappear
    st = strokes(kp, LAYOUTS["coco17"])
    assert len(st.body_joints) == 2 and st.body_limbs == []
    assert not st.lines and not st.joints and not st.face


# --- whole-body end to end: pose row -> loader -> skeleton image --------------------------------

def wholebody_person(w: int, h: int, shift: float = 0.0, hand_score: float = 0.9) -> np.ndarray:
    """[133, 3] keypoints of a standing person facing the camera, hands spread wide, in a
    w x h frame (all scores 0.9, the hands' `hand_score`)."""
    lay = LAYOUTS["coco_wholebody133"]
    kp = np.zeros((133, 3))
    kp[:, 2] = 0.9
    cx = 0.5 + shift
    body = {0: (0, 0.10), 1: (0.015, 0.08), 2: (-0.015, 0.08), 3: (0.03, 0.09), 4: (-0.03, 0.09),
            5: (0.07, 0.20), 6: (-0.07, 0.20), 7: (0.09, 0.33), 8: (-0.09, 0.33),
            9: (0.10, 0.45), 10: (-0.10, 0.45), 11: (0.05, 0.50), 12: (-0.05, 0.50),
            13: (0.05, 0.70), 14: (-0.05, 0.70), 15: (0.05, 0.88), 16: (-0.05, 0.88)}
    for i, (x, y) in body.items():
        kp[i, :2] = (cx + x) * w, y * h
    for j, (x, y) in enumerate([(0.07, 0.93), (0.09, 0.92), (0.05, 0.90), (-0.07, 0.93),
                                (-0.09, 0.92), (-0.05, 0.90)]):
        kp[lay.feet[j], :2] = (cx + x) * w, y * h
    for j in range(68):
        a = 2 * np.pi * j / 68
        kp[lay.face[j], :2] = (cx + 0.025 * np.cos(a)) * w, (0.09 + 0.035 * np.sin(a)) * h
    for hand, side in zip(lay.hands, (1, -1), strict=True):
        root = np.array([(cx + side * 0.10) * w, 0.45 * h])
        kp[hand[0], :2] = root
        kp[list(hand), 2] = hand_score
        for f in range(5):  # fingers fanned out outwards-down, 25 degrees apart, 4 joints each
            ang = np.deg2rad(25 * f)
            step = np.array([side * np.cos(ang), np.sin(ang)]) * 0.07 * min(w, h)
            for j in range(4):
                kp[hand[1 + 4 * f + j], :2] = root + step * (j + 1)
    return kp


def _pose_rows(known, layout: str, hand_score: float = 0.9) -> list[PoseRecord]:
    rows = []
    for clip_id, rec in known.pose.items():
        clip = known.clips[clip_id]
        t = len(rec.frame_indices)
        kps = [wholebody_person(clip.width, clip.height, 0.03 * i, hand_score) for i in range(t)]
        names = WHOLEBODY133_NAMES if layout != "coco17" else COCO17_NAMES
        kps = [k[:len(names)] for k in kps]
        track = PoseTrack(track_id=0, present=[True] * t, boxes=[[1.0, 1.0, 9.0, 9.0]] * t,
                          box_scores=[0.9] * t, keypoints=[k.tolist() for k in kps],
                          coverage=1.0, mean_box_score=0.9, mean_keypoint_score=0.9, quality=0.8)
        extra = {} if layout == "custom" else {"keypoint_layout": layout}
        rows.append(rec.model_copy(update={"keypoint_names": list(names), "tracks": [track],
                                           "backend": "dwpose", **extra}))
    return rows


def _load_pose_items(run: Path, rows: list[PoseRecord]) -> list[dict]:
    from loader_builders import _write

    from any2capins.data import InstanceDataset

    _write(ShardStore(str(run)), "conditions/pose", "pose", PoseRecord, rows)
    ds = InstanceDataset(run, pose_image=True, condition_sets=["pose"])
    return [ds[i] for i in range(len(ds))]


def _hand_limb_hits(kp: np.ndarray, img: np.ndarray) -> int:
    """How many of the two hands' 40 limbs show their ControlNet colour at their middle."""
    hits = 0
    for hand in LAYOUTS["coco_wholebody133"].hands:
        for (a, b), colour in zip(HAND_LIMBS, HAND_COLOURS, strict=True):
            x, y = np.round((kp[hand[a], :2] + kp[hand[b], :2]) / 2).astype(int)
            patch = img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].reshape(-1, 3)
            hits += bool((patch == colour).all(axis=1).any())
    return hits


def test_wholebody_rows_reach_the_loader_and_its_skeleton_images(tmp_path):
    from loader_builders import build_known_run

    run = tmp_path / "run"
    known = build_known_run(run, tmp_path)
    items = _load_pose_items(run, _pose_rows(known, "coco_wholebody133"))
    assert items
    for item in items:
        rec = _pose_rows(known, "coco_wholebody133")[list(known.pose).index(item["clip_id"])]
        clip = known.clips[item["clip_id"]]
        pose, img = item["pose"].numpy(), item["pose_image"].numpy()
        t = len(rec.frame_indices)
        assert pose.shape == (t, 1, 133, 3)
        np.testing.assert_allclose(pose[:, 0], np.asarray(rec.tracks[0].keypoints), rtol=1e-5)
        assert img.shape == (t, clip.height, clip.width, 3)
        for f in range(t):
            kp = pose[f, 0]
            assert _hand_limb_hits(kp, img[f]) == 40  # every hand limb, in its colour
            for i in LAYOUTS["coco_wholebody133"].face[::7]:  # face points: white dots
                x, y = np.round(kp[i, :2]).astype(int)
                assert (img[f, y, x] == 255).all()
            neck = np.round((kp[5, :2] + kp[6, :2]) / 2).astype(int)
            assert tuple(img[f, neck[1], neck[0]]) == BODY_COLOURS[1]
    # hands below the score threshold, or a COCO-17 row: no hand limbs drawn, the body still is
    for rows in (_pose_rows(known, "coco_wholebody133", hand_score=0.1),
                 _pose_rows(known, "coco17")):
        for item in _load_pose_items(run, rows):
            img, full = item["pose_image"].numpy(), _pose_rows(known, "coco_wholebody133")
            kp = np.asarray(full[list(known.pose).index(item["clip_id"])].tracks[0].keypoints)
            assert item["pose"].shape[2] == len(rows[0].keypoint_names)
            assert all(_hand_limb_hits(kp[f], img[f]) == 0 for f in range(len(img)))
            assert img.reshape(-1, 3).any(axis=1).mean() > 0.001
    # rows from before keypoint_layout existed ('custom') resolve by their names: same images
    old = _load_pose_items(run, _pose_rows(known, "custom"))
    new = _load_pose_items(run, _pose_rows(known, "coco_wholebody133"))
    for a, b in zip(old, new, strict=True):
        np.testing.assert_array_equal(a["pose_image"].numpy(), b["pose_image"].numpy())
