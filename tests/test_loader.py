"""The trainer-facing loader: Plücker rays against an independent computation, tensors against
the stored records (depth round trip, pose, camera), frames, DataLoader workers, dropout,
collate, the Hugging Face recipe, and s3:// through the moto server."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from loader_builders import Known, T, build_known_run, known_w2c

from any2capins.data import ConditionDropout, InstanceDataset, collate_instances
from any2capins.data.geometry import plucker_embedding, relative_c2w, to_homogeneous
from any2capins.io.depth_png import decode_depth_png
from any2capins.io.frames import sample_frames
from any2capins.io.shards import ShardStore
from any2capins.models.conditions import DepthRecord
from any2capins.models.instances import InstanceRecord


@pytest.fixture(scope="module")
def known_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Known]:
    tmp = tmp_path_factory.mktemp("loader")
    known = build_known_run(tmp / "run", tmp)
    return str(tmp / "run"), known


def by_set(ds: InstanceDataset, name: str) -> list[dict]:
    return [ds[i] for i in range(len(ds)) if ds[i]["condition_set"] == name]


# -- Plücker geometry -----------------------------------------------------------------------
def reference_plucker(k: np.ndarray, w2c: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixel by pixel, the textbook way: unproject the pixel centre with K^-1, carry it into
    the first camera's frame with the inverse pose, take the line through the centre."""
    w2c0 = np.vstack([w2c[0], [0, 0, 0, 1]])
    out = np.zeros((len(w2c), 6, h, w))
    for t in range(len(w2c)):
        r, tr = w2c[t][:, :3], w2c[t][:, 3]
        centre_world = -r.T @ tr
        origin = (w2c0 @ np.append(centre_world, 1.0))[:3]
        for v in range(h):
            for u in range(w):
                ray_cam = np.linalg.solve(k[t], [u + 0.5, v + 0.5, 1.0])
                point_world = r.T @ (2.0 * ray_cam - tr)  # a point at depth 2 on the ray
                point = (w2c0 @ np.append(point_world, 1.0))[:3]
                d = (point - origin) / np.linalg.norm(point - origin)
                out[t, :, v, u] = [*np.cross(origin, d), *d]
    return out


def test_plucker_matches_independent_computation() -> None:
    h, w = 6, 8
    k = np.array([[[7.0, 0, 4.2], [0, 6.5, 2.9], [0, 0, 1]]] * T)
    w2c = np.stack([known_w2c(i) for i in range(T)])
    # a world frame that is not the first camera: the embedding must not depend on it
    g = to_homogeneous(np.hstack([np.eye(3)[[1, 2, 0]], [[1.0], [2.0], [-0.5]]])[None])[0]
    w2c_moved = np.stack([to_homogeneous(m[None])[0] @ np.linalg.inv(g) for m in w2c])[:, :3]
    ours = plucker_embedding(k, relative_c2w(to_homogeneous(w2c_moved)), h, w)
    ref = reference_plucker(k, w2c, h, w)
    assert ours.shape == (T, 6, h, w) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    moment, d = ours[:, :3].astype(np.float64), ours[:, 3:].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose((moment * d).sum(axis=1), 0.0, atol=1e-6)  # o x d is ⟂ d
    np.testing.assert_allclose(moment[0], 0.0, atol=1e-7)  # frame 0: o = 0
    # frame 0 directions are K^-1 (pixel centre) normalised, and the centre pixel looks down z
    assert abs(d[0, 0, 2, 3] - (3.5 - 4.2) / 7.0 / np.linalg.norm([(3.5 - 4.2) / 7, (2.5 - 2.9)
                                                                   / 6.5, 1])) < 1e-6
    assert np.abs(moment[1:]).max() > 0.05  # the later frames moved


def test_relative_pose_is_camera_ctrl_convention() -> None:
    w2c = to_homogeneous(np.stack([known_w2c(i) for i in range(T)]))
    rel = relative_c2w(w2c)
    np.testing.assert_allclose(rel[0], np.eye(4), atol=1e-12)
    for i in range(T):  # CameraCtrl: abs2rel = w2c[0]; rel_c2w[i] = abs2rel @ c2w[i]
        np.testing.assert_allclose(rel[i], w2c[0] @ np.linalg.inv(w2c[i]), atol=1e-12)


def test_rotation_only_frames_are_marked(known_run: tuple[str, Known]) -> None:
    from any2capins.data.decode import camera
    from any2capins.models.camera import CameraRecord

    _, known = known_run
    rec = next(iter(known.camera.values()))
    frames = [f.model_copy(update={"measured": "rotation" if f.registered else "none"})
              for f in rec.frames]
    row = CameraRecord.model_validate({**rec.model_dump(), "status": "rotation_only",
                                       "measured": "rotation", "focal_source": "homographies",
                                       "frames": [f.model_dump() for f in frames]}).model_dump()
    out = camera(row, (6, 8))
    assert out["camera_measured"].tolist() == [True, True, False]
    assert out["camera_pose_measured"].tolist() == [False, False, False]
    assert out["camera_focal_source"] == "homographies"
    legacy = {**row, "frames": [{k: v for k, v in f.items() if k != "measured"}
                                for f in row["frames"]]}
    assert camera(legacy, (6, 8))["camera_pose_measured"].tolist() == [True, True, False]


# -- items against the stored records ---------------------------------------------------------
def test_depth_round_trip_against_stored_values(known_run: tuple[str, Known]) -> None:
    run, known = known_run
    ds = InstanceDataset(run)
    stored = {r.clip_id: r for r in ShardStore(run).read_all("conditions/depth", DepthRecord)}
    items = by_set(ds, "depth")
    assert len(items) == len(known.clips)
    for item in items:
        rec, original = stored[item["clip_id"]], known.depth[item["clip_id"]]
        depth = item["depth"]
        assert depth.dtype == torch.float32 and tuple(depth.shape) == (T, 12, 16)
        exact = np.stack([decode_depth_png(p, lo, hi) for p, lo, hi in
                          zip(rec.depth_png, rec.scale_min, rec.scale_max, strict=True)])
        np.testing.assert_array_equal(depth.numpy(), exact)
        step = (np.array(rec.scale_max) - np.array(rec.scale_min)) / 65535
        err = np.abs(depth.numpy() - original).max(axis=(1, 2))
        assert (err <= step / 2 + 1e-5).all()
        assert item["pose"] is None and item["camera_plucker"] is None
        np.testing.assert_allclose(item["depth_timestamps"].numpy(), rec.timestamps)


def test_pose_arrays_against_records(known_run: tuple[str, Known]) -> None:
    run, known = known_run
    for item in by_set(InstanceDataset(run), "pose"):
        rec = known.pose[item["clip_id"]]
        pose = item["pose"].numpy()
        assert pose.dtype == np.float32 and pose.shape == (T, 2, 17, 3)
        assert item["pose_track_ids"].tolist() == [0, 1]
        for track in rec.tracks:
            kp = np.array(track.keypoints, np.float32)
            np.testing.assert_allclose(pose[:, track.track_id], kp)
            assert item["pose_present"][:, track.track_id].tolist() == track.present
        assert not pose[1, 1].any()  # the absent person is zero-scored
        assert pose[1, 0, :, 2].any()


def test_camera_tensors_and_measured_mask(known_run: tuple[str, Known]) -> None:
    run, known = known_run
    items = by_set(InstanceDataset(run), "camera")
    assert items
    for item in items:
        rec = known.camera[item["clip_id"]]
        hw = tuple(item["camera_plucker"].shape[2:])
        assert max(hw) == 256 and item["camera_plucker"].shape[:2] == (T, 6)
        scale = hw[1] / rec.width
        f0 = rec.frames[0]
        np.testing.assert_allclose(item["camera_K"][0].numpy(),
                                   [[f0.fx * scale, 0, f0.cx * scale],
                                    [0, f0.fy * hw[0] / rec.height, f0.cy * hw[0] / rec.height],
                                    [0, 0, 1]], rtol=1e-5)
        np.testing.assert_allclose(item["camera_w2c"][:, :3].numpy(),
                                   np.stack([known_w2c(i) for i in range(T)]), atol=1e-6)
        assert item["camera_measured"].tolist() == [True, True, False]
        assert item["camera_pose_measured"].tolist() == [True, True, False]
        assert item["camera_focal_source"] == "sfm"
        ref = plucker_embedding(item["camera_K"].double().numpy(),
                                relative_c2w(item["camera_w2c"].double().numpy()), *hw)
        np.testing.assert_allclose(item["camera_plucker"].numpy(), ref, atol=1e-6)


def test_size_rescales_every_spatial_output(known_run: tuple[str, Known]) -> None:
    run, known = known_run
    ds = InstanceDataset(run, size=(24, 32), pose_image=True,
                         condition_sets=["pose", "depth+camera"])
    assert {ds[i]["condition_set"] for i in range(len(ds))} == {"pose", "depth+camera"}
    for i in range(len(ds)):
        item = ds[i]
        clip = known.clips[item["clip_id"]]
        if item["condition_set"] == "depth+camera":
            assert tuple(item["depth"].shape) == (T, 24, 32)
            assert tuple(item["camera_plucker"].shape) == (T, 6, 24, 32)
            assert item["camera_K"][0, 0, 2].item() == pytest.approx(
                (clip.width / 2 + 3) * 32 / clip.width, rel=1e-5)
            continue
        rec = known.pose[item["clip_id"]].tracks[-1]  # track 0 (stored reversed)
        np.testing.assert_allclose(item["pose"][:, 0, :, 0].numpy(),
                                   np.array(rec.keypoints)[..., 0] * 32 / clip.width, rtol=1e-5)
        img = item["pose_image"]
        assert img.dtype == torch.uint8 and tuple(img.shape) == (T, 24, 32, 3)
        assert img.sum() > 0


def test_frames_at_condition_timestamps(known_run: tuple[str, Known]) -> None:
    run, known = known_run
    ds = InstanceDataset(run, frames="depth", condition_sets=["camera"])
    item = ds[0]
    clip = known.clips[item["clip_id"]]
    depth = {r.clip_id: r for r in ShardStore(run).read_all("conditions/depth", DepthRecord)}
    indices = depth[clip.clip_id].frame_indices
    assert len(indices) == T and indices[0] == 0 and indices[-1] == clip.num_frames - 1
    expected = sample_frames(clip.uri, indices=indices, meta=clip)
    assert item["frames_error"] is None
    np.testing.assert_array_equal(item["frames"].numpy(), expected.frames)
    np.testing.assert_allclose(item["frames_timestamps"].numpy(), expected.timestamps)
    small = InstanceDataset(run, frames="depth", size=(20, 30), condition_sets=["camera"])[0]
    assert tuple(small["frames"].shape) == (T, 20, 30, 3)


def test_text_fields_and_identity(known_run: tuple[str, Known]) -> None:
    run, _ = known_run
    rows = {r.instance_id: r for r in ShardStore(run).read_all("instances", InstanceRecord)}
    ds = InstanceDataset(run)
    assert len(ds) == len(rows)
    for i in range(len(ds)):
        item, row = ds[i], rows[ds[i]["instance_id"]]
        assert item["caption"] == row.caption_text and item["short_prompt"] == row.short_prompt
        assert item["sections"]["camera"] == row.camera and item["conditions"] == row.conditions
        if "identity" in row.conditions:
            assert [tuple(r.shape) for r in item["ref_images"]] == [(24, 24, 3)] * 2
            assert item["ref_images"][0].dtype == torch.uint8
            assert tuple(item["ref_stitched"].shape) == (24, 24, 3)
        else:
            assert item["ref_images"] is None


def test_filters_and_bad_inputs(known_run: tuple[str, Known], tmp_path) -> None:
    run, _ = known_run
    train, test = InstanceDataset(run, split="train"), InstanceDataset(run, split="test")
    assert len(train) + len(test) == len(InstanceDataset(f"{run}/instances"))
    assert {train[i]["split"] for i in range(len(train))} <= {"train"}
    with pytest.raises(FileNotFoundError, match="no instance shards"):
        InstanceDataset(tmp_path)
    with pytest.raises(ValueError, match="unknown condition"):
        InstanceDataset(run, conditions=["audio"])
    with pytest.raises(ValueError, match="height, width"):
        InstanceDataset(run, size=(0, 4))
    only_depth = InstanceDataset(run, conditions=["depth"], condition_sets=["depth+camera"])[0]
    assert only_depth["depth"] is not None and only_depth["camera_plucker"] is None


# -- batching, workers, dropout ---------------------------------------------------------------
def test_dataloader_two_workers_matches_single_process(known_run: tuple[str, Known]) -> None:
    run, _ = known_run
    ds = InstanceDataset(run, size=(12, 16))
    ds[0]  # the parent opened its handles first: workers must open their own
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2,
                                         collate_fn=collate_instances)
    batches = list(loader)
    ids = [i for b in batches for i in b["instance_id"]]
    assert sorted(ids) == sorted(ds[i]["instance_id"] for i in range(len(ds)))
    first = batches[0]
    for j, idx in enumerate(first["index"].tolist()):
        item = ds[idx]
        if item["depth"] is not None:
            np.testing.assert_array_equal(first["depth"][j].numpy(), item["depth"].numpy())
            assert first["depth_shape"][j].tolist() == [T, 12, 16]
        else:
            assert first["depth_shape"][j].tolist() == [0, 0, 0]


@pytest.mark.slow
def test_real_depth_stage_output_through_two_workers(tmp_path) -> None:
    """The depth stage itself (tiny random Depth Anything) writes the depth shard the
    instances point to; the loader restores exactly what it stored, in worker processes."""
    from conditions_helpers import tiny_models  # built once per test process, shared

    from any2capins.conditions.depth import DepthStage
    from any2capins.config import load_config
    from any2capins.runtime import ShardTask, run_stage

    run = tmp_path / "run"
    build_known_run(run, tmp_path)
    (run / "_done" / "depth" / "shard-00000.json").unlink()  # let the real stage redo it
    cfg = load_config([], [f"depth.model={tiny_models()['depth']}", "depth.input_size=70",
                           "depth.store_max_side=64", "depth.sampling.fps=null",
                           "depth.sampling.count=4", "depth.sampling.max_side=160",
                           "runtime.executor=local", "runtime.progress=false"])
    summary = run_stage(DepthStage(cfg.depth), [ShardTask(0, "clips")], str(run), cfg.runtime)
    assert summary.errors == 0
    stored = {r.clip_id: r for r in ShardStore(str(run)).read_all("conditions/depth",
                                                                  DepthRecord)}
    assert all(r.tiny_model for r in stored.values())
    ds = InstanceDataset(run, condition_sets=["depth"], frames="depth")
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2,
                                         collate_fn=collate_instances)
    seen = 0
    for batch in loader:
        rec = stored[batch["clip_id"][0]]
        expected = np.stack([decode_depth_png(p, lo, hi) for p, lo, hi in
                             zip(rec.depth_png, rec.scale_min, rec.scale_max, strict=True)])
        np.testing.assert_array_equal(batch["depth"][0].numpy(), expected)
        np.testing.assert_allclose(batch["depth_timestamps"][0].numpy(), rec.timestamps)
        # the frames the depth stage saw, decoded again at its positions: same times
        np.testing.assert_allclose(batch["frames_timestamps"][0].numpy(), rec.timestamps,
                                   atol=1e-6)
        seen += 1
    assert seen == len(stored) == 2


def test_shard_shuffle_sampler(known_run: tuple[str, Known], tmp_path) -> None:
    from any2capins.data import ShardShuffleSampler
    from any2capins.data.reader import RowRef

    run, _ = known_run
    ds = InstanceDataset(run)
    ds.index = [RowRef(f"instances/shard-{i % 3:05d}.parquet", i) for i in range(30)]
    sampler = ShardShuffleSampler(ds, seed=1)
    order = list(sampler)
    assert sorted(order) == list(range(30)) and order == list(ShardShuffleSampler(ds, seed=1))
    shards = [ds.index[i].shard for i in order]
    assert sum(a != b for a, b in itertools.pairwise(shards)) == 2  # one run per shard
    assert order[:10] != sorted(order[:10])  # rows shuffled inside the shard
    sampler.set_epoch(1)
    assert list(sampler) != order


def _rewrite(run: str, tmp_path, relpath: str, change) -> str:
    import shutil

    import pyarrow.parquet as pq

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    table = pq.read_table(copy / relpath)
    pq.write_table(change(table), copy / relpath)
    return str(copy)


def test_missing_rows_and_unreadable_clips_are_reported(known_run, tmp_path) -> None:
    import pyarrow as pa

    run, _ = known_run
    no_pose = _rewrite(run, tmp_path, "conditions/pose/shard-00000.parquet",
                       lambda t: t.slice(0, 0))
    item = InstanceDataset(no_pose, condition_sets=["pose"])[0]
    assert item["pose"] is None and item["missing_conditions"] == ["pose"]
    gone = _rewrite(run, tmp_path / "b", "instances/shard-00000.parquet", lambda t: t.set_column(
        t.column_names.index("uri"), "uri", pa.array(["/nope/x.mp4"] * t.num_rows)))
    item = InstanceDataset(gone, frames="depth")[0]
    assert item["frames"] is None and "nope" in item["frames_error"]
    assert item["depth"] is not None  # the conditions still load


def test_collate_pads_and_reports_shapes() -> None:
    a = {"index": 0, "pose": torch.ones(2, 1, 3, 3), "depth": None, "ref_images": [],
         "conditions": ["pose"]}
    b = {"index": 1, "pose": torch.ones(3, 2, 3, 3), "depth": torch.ones(2, 4, 4),
         "ref_images": [torch.zeros(5, 5, 3, dtype=torch.uint8)], "conditions": ["depth"]}
    batch = collate_instances([a, b])
    assert tuple(batch["pose"].shape) == (2, 3, 2, 3, 3)
    assert batch["pose_shape"].tolist() == [[2, 1, 3, 3], [3, 2, 3, 3]]
    assert batch["pose"][0, 2].sum() == 0 and batch["pose"][0, :2, 1].sum() == 0
    assert batch["depth_shape"].tolist() == [[0, 0, 0], [2, 4, 4]]
    assert batch["conditions"] == [["pose"], ["depth"]] and len(batch["ref_images"][1]) == 1


def _fake(index: int) -> dict:
    return {"index": index, "conditions": ["depth", "pose", "camera", "identity"],
            "depth": torch.zeros(1), "pose": torch.zeros(1), "camera_plucker": torch.zeros(1),
            "ref_images": [], "short_prompt": "One. Two. Three! Four? Five."}


def test_condition_dropout_is_seeded_and_follows_its_rates() -> None:
    drop = ConditionDropout(p_condition=0.5, p_sentence=0.6, seed=3)
    a, b = drop(_fake(7)), drop(_fake(7))
    assert a["conditions"] == b["conditions"] and a["short_prompt"] == b["short_prompt"]
    runs = [drop(_fake(i)) for i in range(2000)]
    assert {tuple(r["conditions"]) for r in runs[:50]} != {tuple(runs[0]["conditions"])}
    kept = np.mean([len(r["conditions"]) for r in runs]) / 4
    assert 0.45 < kept < 0.6  # 0.5 kept, plus the at-least-one rule (1/16 of the items)
    sentences = np.mean([len(r["short_prompt"].split()) for r in runs]) / 5
    assert 0.38 < sentences < 0.48
    assert all(r["conditions"] and r["short_prompt"] for r in runs)
    for r in runs[:20]:
        assert set(r["conditions"]) | set(r["dropped_conditions"]) == set(_fake(0)["conditions"])
        for cond, key in (("depth", "depth"), ("pose", "pose"), ("camera", "camera_plucker")):
            assert (r[key] is None) == (cond in r["dropped_conditions"])
        assert r["full_short_prompt"] == _fake(0)["short_prompt"]
    other = ConditionDropout(seed=4)
    assert [other(_fake(i))["conditions"] for i in range(20)] != [r["conditions"]
                                                                  for r in runs[:20]]
    drop.set_epoch(1)
    assert [drop(_fake(i))["conditions"] for i in range(20)] != [r["conditions"]
                                                                 for r in runs[:20]]
    with pytest.raises(ValueError, match="p_condition"):
        ConditionDropout(p_condition=1.5)


def test_dropout_as_dataset_transform(known_run: tuple[str, Known]) -> None:
    run, _ = known_run
    ds = InstanceDataset(run, transform=ConditionDropout(p_condition=1.0, seed=0),
                         condition_sets=["depth+camera"])
    item = ds[0]
    assert len(item["conditions"]) == 1 and len(item["dropped_conditions"]) == 1
    kept = item["conditions"][0]
    assert (item["depth"] is None) == (kept != "depth")


# -- other ways in ------------------------------------------------------------------------------
def test_hf_recipe_gives_the_same_items(known_run: tuple[str, Known]) -> None:
    from any2capins.data.hf import hf_dataset

    run, _ = known_run
    hf = hf_dataset(run, size=(12, 16))
    ds = InstanceDataset(run, size=(12, 16))
    assert len(hf) == len(ds)
    for i in (0, len(ds) - 1):
        row, item = hf[i], ds[i]
        assert row["instance_id"] == item["instance_id"]
        for key in ("depth", "pose", "camera_plucker"):
            if item[key] is None:
                assert row[key] is None
            else:
                np.testing.assert_array_equal(np.asarray(row[key]), item[key].numpy())
    assert len(hf_dataset(run, split="test")) == len(InstanceDataset(run, split="test"))


def _upload(s3, run: str, bucket: str) -> None:
    from pathlib import Path

    for path in Path(run).rglob("*"):
        if path.is_file():
            s3.client.upload_file(str(path), bucket, f"run/{path.relative_to(run)}")


def test_s3_run_loads_like_the_local_one(s3, known_run: tuple[str, Known]) -> None:
    run, _ = known_run
    bucket = s3.bucket("loader")
    _upload(s3, run, bucket)
    remote = InstanceDataset(f"s3://{bucket}/run", size=(12, 16))
    local = InstanceDataset(run, size=(12, 16))
    assert len(remote) == len(local)
    from any2capins.data.hf import hf_dataset

    hf = hf_dataset(f"s3://{bucket}/run/instances", size=(12, 16))
    assert [hf[i]["instance_id"] for i in range(len(hf))] == [
        local[i]["instance_id"] for i in range(len(local))]
    cam = next(i for i in range(len(local)) if "camera" in local[i]["conditions"])
    np.testing.assert_array_equal(np.asarray(hf[cam]["camera_plucker"]),
                                  local[cam]["camera_plucker"].numpy())
    loader = torch.utils.data.DataLoader(remote, batch_size=4, num_workers=2,
                                         collate_fn=collate_instances)
    got = {iid: (b, j) for b in loader for j, iid in enumerate(b["instance_id"])}
    for i in range(len(local)):
        item = local[i]
        batch, j = got[item["instance_id"]]
        for key in ("depth", "camera_plucker"):
            if item[key] is not None:
                n = item[key].shape
                np.testing.assert_array_equal(
                    batch[key][j][tuple(slice(0, s) for s in n)].numpy(), item[key].numpy())


def test_loader_decodes_with_the_runs_decode_settings(tmp_path) -> None:
    """`frames=` decodes with the `decode:` section the run's commands used (run.json), so a
    trainer sees the frames the conditions were computed from; defaults without one."""
    import json

    from any2capins.data.decoder import InstanceDecoder
    from any2capins.data.options import LoaderOptions

    run = tmp_path / "run"
    run.mkdir()
    assert InstanceDecoder(str(run), LoaderOptions()).decode_settings.hdr == "tonemap"
    (run / "run.json").write_text(json.dumps(
        {"config": {"decode": {"hdr": "off", "min_decoded_fraction": 0.9}}}))
    got = InstanceDecoder(str(run), LoaderOptions()).decode_settings
    assert (got.hdr, got.min_decoded_fraction) == ("off", 0.9)
