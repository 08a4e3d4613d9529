"""The camera stage end to end: video files -> clips/ shard -> conditions/camera/ shard, on the
local executor and on Ray, with a too-short clip (status) and an undecodable one (error row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from camera_renders import render_clip, write_video
from conditions_helpers import write_clips

from any2capins.cli import main as cli_main
from any2capins.conditions.camera.export import (
    parse_header,
    parse_realestate10k,
    realestate10k_text,
)
from any2capins.conditions.camera.geometry import rotvec
from any2capins.conditions.camera.stage import CameraStage
from any2capins.conditions.registry import build_stage
from any2capins.config import load_config
from any2capins.config.ingest import IngestConfig
from any2capins.ingest.stage import ProbeStage
from any2capins.io.shards import ShardStore
from any2capins.models.camera import CameraRecord
from any2capins.models.clips import ClipRecord, SourceRecord
from any2capins.runtime import ShardTask, run_stage


def _probe(path: Path, index: int) -> ClipRecord:
    """Each synthetic file as one clip: these renders are 6 fps, where a textured pan can read
    as a cut to the shot detector, and shots are not what this test is about."""
    (rows,) = ProbeStage(IngestConfig(shots={"detect": False})).process_batch(
        [SourceRecord(uri=str(path), index=index)])
    if not isinstance(rows[0], ClipRecord):
        raise RuntimeError(f"probe failed for {path}: {rows[0]}")
    return rows[0]


def _run_folder(tmp: Path, kind: str) -> tuple[Path, list[str]]:
    src = tmp / "src"
    src.mkdir()
    clips = [_probe(Path(write_video(render_clip(kind, n=12), str(src / f"{kind}.avi"))), 0),
             _probe(Path(write_video(render_clip("static", n=2), str(src / "short.avi"))), 1)]
    broken = src / "broken.avi"
    broken.write_bytes(b"not a video\n" * 40)
    clips.append(clips[0].model_copy(update={"clip_id": "b" * 16, "uri": str(broken)}))
    run = tmp / "run"
    write_clips(run, [clips])
    return run, [c.clip_id for c in clips]


def _check(run: Path, ids: list[str], kind_status: str, label: str) -> list[CameraRecord]:
    store = ShardStore(str(run))
    recs = store.read_shard("conditions/camera", 0, CameraRecord)
    errors = store.read_errors("camera")
    assert [r.clip_id for r in recs] == ids[:2]
    assert [(e.clip_id, e.error_class) for e in errors] == [(ids[2], "DecodeError")]
    main, short = recs
    assert main.status == kind_status, main.reason
    assert [s.label for s in main.segments] == [label]
    assert main.num_sampled == len(main.frames) == 8
    assert (main.width, main.height) == (320, 240) and max(main.sfm_width, main.sfm_height) == 256
    assert short.status == "failed" and short.reason.startswith("too_short")
    rows = parse_realestate10k(realestate10k_text(main))
    assert len(rows) == 8 and rows[0][0] < rows[-1][0]
    return recs


def test_camera_stage_local_executor(tmp_path):
    run, ids = _run_folder(tmp_path, "pan")
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false",
                           "camera.count=8", "camera.max_side=256"])
    summary = run_stage(build_stage("camera", cfg), [ShardTask(0, "clips")], str(run),
                        cfg.runtime)
    assert (summary.items, summary.errors) == (3, 1)
    main = _check(run, ids, "rotation_only", "pan right")[0]
    assert main.frames[0].fx == pytest.approx(300, rel=0.05)  # full-resolution pixels
    total = np.degrees(np.linalg.norm(rotvec(np.reshape(main.frames[-1].cam_from_world,
                                                        (3, 4))[:, :3])))
    assert abs(total - 20.0) <= 2.0
    # RealEstate10K text files: only measured (ok) clips by default; the pan's rotations
    # (zero translation) with --include-unmeasured, the failed (too short) clip with
    # --include-failed; the first line says what each file holds
    out = tmp_path / "txt"
    assert cli_main(["camera-txt", "--run", str(run), "--out", str(out)]) == 0
    assert not out.exists() or list(out.iterdir()) == []
    assert cli_main(["camera-txt", "--run", str(run), "--out", str(out),
                     "--include-unmeasured"]) == 0
    assert sorted(p.stem for p in out.iterdir()) == [ids[0]]
    text = (out / f"{ids[0]}.txt").read_text()
    assert parse_header(text)["measured"] == "rotation"
    rows = parse_realestate10k(text)
    assert len(rows) == 8 and rows[0][2] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    assert cli_main(["camera-txt", "--run", str(run), "--out", str(out),
                     "--include-failed"]) == 0
    assert (out / f"{ids[1]}.txt").read_text().splitlines() == [
        f"{tmp_path / 'src' / 'short.avi'} status=failed measured=none focal=prior "
        "unmeasured_frames=0"]


@pytest.mark.ray
def test_camera_stage_ray_executor(tmp_path, ray_cluster):
    run, ids = _run_folder(tmp_path, "static")
    cfg = load_config([], ["runtime.executor=ray", "runtime.progress=false",
                           "camera.count=8", "camera.max_side=256",
                           "camera.resources.num_cpus=1"])
    summary = run_stage(CameraStage(cfg.camera), [ShardTask(0, "clips")], str(run),
                        cfg.runtime)
    assert (summary.items, summary.errors) == (3, 1)
    main = _check(run, ids, "static", "static")[0]
    assert all(f.cam_from_world == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0] for f in main.frames)
