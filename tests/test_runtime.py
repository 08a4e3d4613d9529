"""Runtime: failures as data, crash-then-resume, in-process vs Ray equivalence, setup once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stage_fixtures import Squared, SquareStage, tasks

from any2capins.config import load_config
from any2capins.config.base import StageResources
from any2capins.io.shards import ShardStore
from any2capins.runtime import run_stage

HERE = Path(__file__).parent


def _runtime(executor: str):
    return load_config([], [f"runtime.executor={executor}", "runtime.progress=false"]).runtime


def test_failures_and_raising_items_become_error_rows(tmp_path: Path) -> None:
    stage = SquareStage(StageResources(batch_size=4))
    summary = run_stage(stage, tasks(30, 10), str(tmp_path), _runtime("local"))
    store = ShardStore(str(tmp_path))
    rows = store.read_all("squares", Squared)
    errors = store.read_errors("square")
    assert summary.items == 30 == len(rows) + len(errors)
    failing = {n for n in range(30) if n % 7 == 3 or (n % 11 == 5)}
    assert {int(e.uri.split("//")[1]) for e in errors} == failing
    # a raising item fails alone: its batch-mates are still processed
    crash = [e for e in errors if e.error_class == "RuntimeError"]
    assert crash and all("crash while processing" in e.message for e in crash)
    assert {r.n for r in rows} == set(range(30)) - failing


def test_rerun_skips_done_shards_and_force_redoes(tmp_path: Path) -> None:
    stage = SquareStage(StageResources(batch_size=4))
    run_stage(stage, tasks(20, 5), str(tmp_path), _runtime("local"))
    again = run_stage(stage, tasks(20, 5), str(tmp_path), _runtime("local"))
    # "this run" figures count work done now; skipped shards are counted apart
    assert (again.shards_run, again.shards_skipped, again.items) == (0, 4, 0)
    assert again.skipped_items == 20 and "skipped: 20 items" in again.line()
    forced = run_stage(stage, tasks(20, 5), str(tmp_path), _runtime("local"), force=True)
    assert forced.shards_run == 4


def test_crash_then_resume_has_no_duplicates_or_gaps(tmp_path: Path) -> None:
    """SIGKILL a run in the middle, rerun it: every item exactly once, no torn shard."""
    run = tmp_path / "run"
    cmd = [sys.executable, str(HERE / "stage_fixtures.py"), str(run), "60", "4", "0.03"]
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = ShardStore(str(run))
    deadline = time.time() + 60
    while time.time() < deadline and len(store.done_records("square")) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(store.done_records("square"))
    assert 4 <= done_before < 15, "the kill must land mid-run"
    # what a kill during a write leaves behind (never read as a shard, swept by the rerun)
    (run / "squares" / "shard-00099.parquet.tmp-deadbeef").write_bytes(b"torn")
    assert 99 not in store.shard_indices("squares")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert f"{done_before} skipped" in out.stdout
    rows = store.read_all("squares", Squared)
    errors = store.read_errors("square")
    seen = [r.n for r in rows] + [int(e.uri.split("//")[1]) for e in errors]
    assert sorted(seen) == list(range(60))  # no duplicates, no gaps
    assert len(store.done_records("square")) == 15
    assert not list(run.rglob("*.tmp-*"))  # the rerun swept what the kill left
    assert store.shard_indices("squares") == list(range(15))


@pytest.mark.ray
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_same_rows_in_process_and_on_ray(tmp_path: Path, executor: str, request) -> None:
    if executor == "ray":
        request.getfixturevalue("ray_cluster")
    log = tmp_path / "setup.log"
    stage = SquareStage(StageResources(batch_size=3, workers=2, num_cpus=0.5),
                        setup_log=str(log))
    summary = run_stage(stage, tasks(40, 5), str(tmp_path / executor), _runtime(executor))
    assert summary.items == 40 and not summary.shards_failed
    rows = ShardStore(str(tmp_path / executor)).read_all("squares", Squared)
    key = sorted((r.clip_id, r.uri, r.n, r.square) for r in rows)
    reference = sorted(
        (f"c{n:04d}", f"mem://{n}", n, n * n) for n in range(40) if n % 7 != 3 and n % 11 != 5
    )
    assert key == reference
    setups = log.read_text().split()
    # setup runs once per worker, never once per shard or item
    assert len(setups) == (2 if executor == "ray" else 1)
    assert set(setups) == {str(r.pid) for r in rows}


class Many(SquareStage):
    """Fan-out: item n yields n % 3 rows (0, 1 or 2); an item yielding none is still ok."""

    name = "many"
    output_dir = "many"
    fan_out = True

    def process_batch(self, batch, inputs=None):
        out = []
        for item, res in zip(batch, super().process_batch(batch), strict=True):
            out.append(res if not isinstance(res, Squared) else [res] * (item.n % 3))
        return out


def test_fan_out_stage_keeps_the_item_invariant(tmp_path: Path) -> None:
    summary = run_stage(Many(StageResources(batch_size=4)), tasks(30, 10), str(tmp_path),
                        _runtime("local"))
    store = ShardStore(str(tmp_path))
    done = store.done_records("many")
    assert all(d.input_rows == d.ok_items + d.error_rows for d in done)
    rows = store.read_all("many", Squared)
    ok_ns = {n for n in range(30) if n % 7 != 3 and n % 11 != 5}
    assert len(rows) == sum(n % 3 for n in ok_ns) == summary.outputs
    assert summary.ok == len(ok_ns) and summary.items == 30
