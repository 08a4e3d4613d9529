"""`any2capins extract` and `any2capins models tiny`; model loads per Ray actor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conditions_helpers import make_run, probe_clip, tiny_models, tiny_overrides, write_clips

from any2capins.cli import main
from any2capins.conditions.depth import DepthStage
from any2capins.conditions.registry import STAGES, parse_stages
from any2capins.config import load_config
from any2capins.errors import ConfigError
from any2capins.io.shards import ShardStore
from any2capins.models.conditions import DepthRecord
from any2capins.runtime import ShardTask, run_stage

OURS = ("depth", "pose", "refs")
ROOT = Path(__file__).resolve().parents[1]


def sets(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def test_extract_cli_end_to_end_and_resume(tmp_path, capsys):
    run = make_run(tmp_path)
    args = ["extract", "--run", str(run), "--stages", ",".join(OURS),
            *sets(*tiny_overrides(), "runtime.executor=local")]
    assert main(args) == 0  # a bad clip is an error row, not a failed command
    store = ShardStore(str(run))
    for name in OURS:
        done = store.done(name, 0)
        assert done is not None and done.input_rows == 3 and done.error_rows == 1
        assert store.exists(f"conditions/{name}/shard-00000.parquet")
    record = json.loads(next((run / "_runs").glob("*-extract.json")).read_text())
    models = record["summaries"][0]["models"]
    assert set(models) == set(OURS) and all(m["tiny_model"] for m in models.values())
    capsys.readouterr()
    assert main(args) == 0
    assert "1 skipped" in capsys.readouterr().out  # done shards are not redone


def test_extract_refuses_bad_input(tmp_path, capsys):
    run = make_run(tmp_path, bad=False)
    assert main(["extract", "--run", str(run), "--stages", "depth,nope"]) == 2
    assert "unknown stage" in capsys.readouterr().err
    assert main(["extract", "--run", str(tmp_path / "empty")]) == 2
    assert "no clips/ shards" in capsys.readouterr().err
    # a model folder that is not there is a config error; one that cannot load stops the
    # stage at start-up; both name the setting
    assert main(["extract", "--run", str(run), "--stages", "depth",
                 *sets(*tiny_overrides(), "runtime.executor=local",
                       f"depth.model={tmp_path / 'missing'}")]) == 2
    assert "depth.model" in capsys.readouterr().err
    (tmp_path / "empty-model").mkdir()
    assert main(["extract", "--run", str(run), "--stages", "depth",
                 *sets(*tiny_overrides(), "runtime.executor=local",
                       f"depth.model={tmp_path / 'empty-model'}")]) == 1
    assert "depth.model" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert main(["extract", "--run", str(run), "--stages", "depth",
                     *sets(*tiny_overrides(), "depth.device=cuda")]) == 2
        assert "depth.device=cuda" in capsys.readouterr().err


def test_models_tiny_cli_is_idempotent(capsys):
    folders = tiny_models()
    root = Path(folders["depth"]).parent
    assert main(["models", "tiny", str(root)]) == 0
    out = capsys.readouterr().out
    for name, folder in folders.items():
        assert f"{name}" in out and folder in out
        assert (Path(folder) / "any2capins_tiny.json").is_file()


def test_registry():
    assert set(OURS) <= set(STAGES)
    assert parse_stages(None) == list(STAGES)
    assert parse_stages("pose, depth,pose") == ["pose", "depth"]
    with pytest.raises(ConfigError, match="valid"):
        parse_stages("depth,camera2")


@pytest.mark.ray
def test_model_loads_once_per_ray_actor(tmp_path, ray_cluster):
    clip = probe_clip(Path(__file__).resolve().parents[1] / "examples/clips/vp9_bear.webm")
    run = tmp_path / "run"
    write_clips(run, [[clip] for _ in range(4)])  # 4 shards of one clip each
    cfg = load_config([], [*tiny_overrides(), "runtime.executor=ray", "depth.resources.workers=2",
                           "depth.resources.num_cpus=1", "depth.resources.torch_threads=1"])
    stage = DepthStage(cfg.depth)
    stage.load_log = str(tmp_path / "loads.txt")
    summary = run_stage(stage, [ShardTask(i, "clips") for i in range(4)], str(run), cfg.runtime)
    assert summary.shards_run == 4 and summary.errors == 0
    loads = (tmp_path / "loads.txt").read_text().splitlines()
    pids = [line.split()[0] for line in loads]
    assert len(loads) == 2 and len(set(pids)) == 2  # one load per actor, not per clip/shard
    store = ShardStore(str(run))
    workers = {store.done("depth", i).worker.rsplit(":", 1)[1] for i in range(4)}
    assert workers <= set(pids)
    assert sum(len(store.read_shard("conditions/depth", i, DepthRecord)) for i in range(4)) == 4


# -- one decode pass per clip, shared detections, every fixture class end to end -------------

FIXTURES = ROOT / "tests" / "data" / "videos"
BUNDLED = ("people_selfie_1s.mp4", "vp9_bear.webm")
FOUR = ("depth", "pose", "refs", "camera")


def fixture_clips() -> list[Path]:
    """Every decodable fixture clip (tests/data/videos/PROVENANCE.md) plus bundled clips."""
    found = [p for p in sorted(FIXTURES.iterdir())
             if p.suffix in {".mp4", ".avi", ".webm", ".mkv", ".mov"} and "corrupt" not in p.name]
    return found + [ROOT / "examples" / "clips" / n for n in BUNDLED]


def fixture_run(tmp: Path) -> tuple[Path, list]:
    """A run folder with every fixture clip in two shards, plus a clip whose file is not a
    video (metadata of a good clip): it must become an error row in every stage."""
    import shutil

    src = tmp / "src"
    src.mkdir(parents=True)
    clips = []
    for i, path in enumerate(fixture_clips()):
        shutil.copy(path, src / path.name)
        clips.append(probe_clip(src / path.name, i))
    broken = src / "broken.mp4"
    broken.write_bytes(b"not a video at all\n" * 50)
    clips.append(clips[0].model_copy(update={"clip_id": "badbadbadbadbad0", "uri": str(broken)}))
    run = tmp / "run"
    half = len(clips) // 2
    write_clips(run, [clips[:half], clips[half:]])
    return run, clips


def extract_args(run: Path, executor: str) -> list[str]:
    return ["extract", "--run", str(run), *sets(
        *tiny_overrides(), f"runtime.executor={executor}", "camera.count=6",
        "camera.max_side=96", "sheet.during_extract=true", "sheet.thumb_height=48",
        "sheet.frames=4", "depth.resources.torch_threads=1", "pose.resources.torch_threads=1",
        "refs.resources.torch_threads=1")]


def check_extract(run: Path, clips: list, tmp: Path, capsys) -> None:
    """All four conditions for every good clip, an error row per stage for the broken one,
    one decoder open per clip, one detection pass per clip shared by pose and refs, a sheet
    per clip (1- and 6-frame clips included), decode facts in the records."""
    from any2capins.models.camera import CameraRecord
    from any2capins.models.conditions import PoseRecord, RefsRecord

    store = ShardStore(str(run))
    good = [c for c in clips if c.clip_id != "badbadbadbadbad0"]
    models = {"depth": DepthRecord, "pose": PoseRecord, "refs": RefsRecord,
              "camera": CameraRecord}
    for name in FOUR:
        rows = [r for i in (0, 1) for r in store.read_shard(f"conditions/{name}", i,
                                                            models[name])]
        errors = store.read_errors(name)
        assert {r.clip_id for r in rows} == {c.clip_id for c in good}, name
        assert [e.clip_id for e in errors] == ["badbadbadbadbad0"], (name, errors)
        assert errors[0].error_class == "DecodeError"
        for i in (0, 1):
            done = store.done(name, i)
            assert done.input_rows == done.ok_items + done.error_rows
    opens = [line.split(" ", 1)[1] for line in (tmp / "decode.log").read_text().splitlines()]
    assert sorted(opens) == sorted({*opens}), opens  # never twice the same file
    assert {str(Path(c.uri)) for c in good} <= set(opens)  # one decoder open per clip
    detect = (tmp / "detect.log").read_text().splitlines()
    assert sorted(line.split()[1] for line in detect) == sorted(c.clip_id for c in good)
    pose = {r.clip_id: r for i in (0, 1) for r in store.read_shard("conditions/pose", i,
                                                                    PoseRecord)}
    refs = {r.clip_id: r for i in (0, 1) for r in store.read_shard("conditions/refs", i,
                                                                    RefsRecord)}
    shared_boxes = 0
    for cid, rec in refs.items():
        assert rec.frame_indices == pose[cid].frame_indices  # the same frames ...
        for crop in rec.crops:
            if crop.label != "person":
                continue
            t = pose[cid].frame_indices.index(crop.frame_index)
            boxes = [tr.boxes[t] for tr in pose[cid].tracks if tr.present[t]]
            # ... and the same detections: a person crop's box is one of pose's boxes there
            assert any(max(abs(a - b) for a, b in zip(bx, crop.box, strict=True)) < 0.05
                       for bx in boxes), (cid, crop.box, boxes)
            shared_boxes += 1
    assert shared_boxes > 0
    for c in clips:
        assert (run / "sheets" / f"{c.clip_id}.png").stat().st_size > 1000
    damaged = next(c for c in clips if "damaged" in c.uri)
    depth = [r for i in (0, 1) for r in store.read_shard("conditions/depth", i, DepthRecord)]
    rec = next(r for r in depth if r.clip_id == damaged.clip_id)
    assert rec.frames_requested >= len(rec.frame_indices) > 0
    assert rec.decode_warnings  # the damaged NAL unit is said, not hidden
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    for name in (*FOUR, "decode"):
        assert any(line.startswith(name) for line in out.out.splitlines()), out.out


def test_extract_fixture_classes_decode_once_local(tmp_path, capsys, monkeypatch):
    run, clips = fixture_run(tmp_path)
    monkeypatch.setenv("ANY2CAPINS_DECODE_LOG", str(tmp_path / "decode.log"))
    monkeypatch.setenv("ANY2CAPINS_DETECT_LOG", str(tmp_path / "detect.log"))
    assert main(extract_args(run, "local")) == 0
    check_extract(run, clips, tmp_path, capsys)
    # a rerun skips everything: no decode, no traceback, same exit code
    (tmp_path / "decode.log").unlink()
    assert main(extract_args(run, "local")) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "2 skipped" in out.out
    assert not (tmp_path / "decode.log").exists()


@pytest.mark.ray
def test_extract_fixture_classes_decode_once_ray(tmp_path, capsys, monkeypatch, ray_cluster):
    run, clips = fixture_run(tmp_path)
    monkeypatch.setenv("ANY2CAPINS_DECODE_LOG", str(tmp_path / "decode.log"))
    monkeypatch.setenv("ANY2CAPINS_DETECT_LOG", str(tmp_path / "detect.log"))
    assert main(extract_args(run, "ray")) == 0
    check_extract(run, clips, tmp_path, capsys)


def test_frame_plan_requests_and_groups():
    """Pose and refs share one request (the larger max_side) and one worker group only when
    their detector settings match; the sheet adds its own request."""
    from any2capins.conditions.extract import make_groups
    from any2capins.conditions.plan import SHEET, detect_labels, frame_requests

    cfg = load_config([], [*tiny_overrides(), "refs.sampling.max_side=400",
                           "refs.labels=[dog]"])
    names = ["depth", "pose", "refs", "camera"]
    req = frame_requests(cfg, names, sheet=True)
    assert set(req) == {"depth", "pose", "camera", SHEET}
    assert req["pose"].max_side == 400 and req["pose"].fps == cfg.pose.sampling.fps
    assert req["camera"].max_side == 2 * cfg.camera.max_side
    assert detect_labels(cfg, names) == ["person", "dog"]

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    groups = make_groups([Named(n) for n in names], cfg)
    assert [g.names for g in groups] == [["depth"], ["pose", "refs"], ["camera"]]
    apart = load_config([], [*tiny_overrides(), "refs.detector.threshold=0.9"])
    assert set(frame_requests(apart, names, sheet=False)) == {"depth", "pose", "refs", "camera"}
    assert detect_labels(apart, names) is False
    assert len(make_groups([Named(n) for n in names], apart)) == 4
