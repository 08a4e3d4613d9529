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
    # a model that cannot load stops the stage at start-up, naming the setting
    assert main(["extract", "--run", str(run), "--stages", "depth",
                 *sets(*tiny_overrides(), "runtime.executor=local",
                       f"depth.model={tmp_path / 'missing'}")]) == 1
    assert "depth.model=" in capsys.readouterr().err
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
