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


def test_groups_follow_share_keys_and_the_tables_they_read():
    """Pose and refs share one worker (and one detection pass) only when their detector
    settings and frames are equal; the sheet reads what the others write, so it waits for
    them on each shard."""
    from any2capins.conditions.registry import build_stage
    from any2capins.conditions.sheet_stage import SheetStage
    from any2capins.runtime.ray_backend import RayBackend

    def groups(cfg):
        stages = [build_stage(n, cfg) for n in FOUR] + [SheetStage(cfg.sheet, "run")]
        return RayBackend(cfg.runtime, cfg.decode, None).groups(stages)

    together = groups(load_config([], tiny_overrides()))
    assert [g.names for g in together] == [["depth"], ["pose", "refs"], ["camera"], ["sheet"]]
    assert together[3].after == {0, 1, 2} and not any(g.after for g in together[:3])
    apart = groups(load_config([], [*tiny_overrides(), "refs.sampling.max_side=400"]))
    assert [g.names for g in apart] == [["depth"], ["pose"], ["refs"], ["camera"], ["sheet"]]


def _rows(run: Path, name: str) -> tuple[list, list]:
    """A stage's rows (timings left out: they differ run to run) and its error rows."""
    from any2capins.models.tables import TABLES

    table = TABLES[f"conditions.{name}"]
    store = ShardStore(str(run))
    timing = {"seconds", "decode_seconds"}
    rows = [r.model_dump(exclude=timing) for r in store.read_shard(table.folder, 0,
                                                                   table.record_model())]
    errors = [(e.clip_id, e.error_class, e.message) for e in store.read_errors(name)]
    return rows, errors


def test_any_subset_of_stages_gives_the_rows_of_the_full_pass(tmp_path):
    """A clip with one damaged frame under a strict decode.min_decoded_fraction is an error row
    in every stage whether the stages run alone or together (it used to pass when a stage ran
    alone: the stage-alone path decoded with default settings); a good clip's rows are the
    same either way."""
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    for name in ("h264_damaged_nal.mp4",):
        shutil.copy(FIXTURES / name, src / name)
    shutil.copy(ROOT / "examples/clips/people_selfie_1s.mp4", src / "selfie.mp4")
    clips = [probe_clip(p, i) for i, p in enumerate(sorted(src.iterdir()))]
    every = [f"{n}.sampling.fps=10" for n in ("depth", "pose", "refs")]  # frame 14 included
    strict = [*tiny_overrides(), *every, "runtime.executor=local",
              "decode.min_decoded_fraction=0.999", "camera.count=30", "camera.max_frames=30",
              "camera.max_side=96"]
    full = tmp_path / "full"
    write_clips(full, [clips])
    assert main(["extract", "--run", str(full), *sets(*strict)]) == 0
    for name in FOUR:
        alone = tmp_path / name
        write_clips(alone, [clips])
        assert main(["extract", "--run", str(alone), "--stages", name, *sets(*strict)]) == 0
        rows, errors = _rows(full, name)
        assert _rows(alone, name) == (rows, errors), name
        assert [e[:2] for e in errors] == [(clips[0].clip_id, "DecodeError")], name
        assert len(rows) == 1, name


def test_changing_decode_redoes_the_frame_stages_and_says_why(tmp_path, capsys):
    run = make_run(tmp_path, bad=False, names=("people_selfie_1s.mp4",))
    args = ["extract", "--run", str(run), "--stages", "depth,camera",
            *sets(*tiny_overrides(), "runtime.executor=local", "camera.count=6",
                  "camera.max_side=96")]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "redone" not in capsys.readouterr().out
    assert main([*args, "--set", "decode.seek=false"]) == 0
    out = capsys.readouterr().out
    for name in ("depth", "camera"):
        assert f"redone: {name} shard 0: settings changed since (decode.seek)" in out, out
    assert main([*args, "--set", "decode.seek=false", "--set", "decode.threads=1"]) == 0
    assert "redone" not in capsys.readouterr().out  # decoder threads never change pixels
