"""Shards that know their inputs: --force safety, settings and upstream changes, retriable
items retried by a plain rerun, clean interrupts (SIGINT/SIGTERM) of a command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from resume_helpers import FlakyStage, PlusStage, Total
from stage_fixtures import Squared, SquareStage, tasks

from any2capins.config import load_config
from any2capins.config.base import StageResources
from any2capins.io.shards import ShardStore
from any2capins.models.common import utc_now
from any2capins.runtime import ShardTask, run_stage

HERE = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)}


def _local(**extra: object):
    sets = ["runtime.executor=local", "runtime.progress=false",
            *(f"runtime.{k}={v}" for k, v in extra.items())]
    return load_config([], sets).runtime


def _command(run: Path, n: int, per: int, delay: float, executor: str, *extra: str) -> list[str]:
    return [sys.executable, str(HERE / "resume_helpers.py"), str(run), str(n), str(per),
            str(delay), executor, *extra]


def _wait_done(store: ShardStore, stage: str, count: int, proc: subprocess.Popen,
               since: object = None) -> None:
    """Poll until `count` completion records (written after `since`) exist."""
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        recs = store.done_records(stage)
        if len([r for r in recs if since is None or r.finished > since]) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"{stage}: {count} shards not done in time (exit {proc.poll()})")


def test_crash_during_force_leaves_no_old_record_next_to_new_data(tmp_path: Path) -> None:
    """--force removes every completion record before rewriting: after a SIGKILL mid-force,
    each remaining record was written by the force run, so the plain rerun redoes the rest."""
    run = tmp_path / "run"
    subprocess.run(_command(run, 40, 4, 0, "local"), env=ENV, check=True, capture_output=True)
    store = ShardStore(str(run))
    assert len(store.done_records("square")) == 10
    start = utc_now()
    proc = subprocess.Popen(_command(run, 40, 4, 0.05, "local", "--force"), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_done(store, "square", 2, proc, since=start)
    proc.kill()
    proc.wait()
    records = store.done_records("square")
    assert 2 <= len(records) < 10, "the kill must land mid-force"
    assert all(r.started >= start for r in records), "an old record survived the force start"
    out = subprocess.run(_command(run, 40, 4, 0, "local"), env=ENV, check=True,
                         capture_output=True, text=True).stdout
    assert f"{len(records)} skipped" in out
    seen = [r.n for r in store.read_all("squares", Squared)]
    seen += [int(e.uri.split("//")[1]) for e in store.read_errors("square")]
    assert sorted(seen) == list(range(40))


def test_settings_change_redoes_only_with_a_reason(tmp_path: Path) -> None:
    run = str(tmp_path)
    run_stage(SquareStage(StageResources(batch_size=4)), tasks(12, 4), run, _local())
    first = run_stage(PlusStage(StageResources(), add=1), _plus_tasks(3), run, _local())
    assert first.shards_run == 3 and not first.redone
    same = run_stage(PlusStage(StageResources(workers=3), add=1), _plus_tasks(3), run, _local())
    assert (same.shards_run, same.shards_skipped) == (0, 3)  # worker counts are no setting
    other = run_stage(PlusStage(StageResources(), add=2), _plus_tasks(3), run, _local())
    assert other.shards_run == 3
    assert other.redone[0] == "plus shard 0: settings changed since (settings_record.add)"
    rows = ShardStore(run).read_all("plus", Total)
    assert rows and all(r.plus == r.square + 2 for r in rows)


def _plus_tasks(n: int) -> list[ShardTask]:
    return [ShardTask(index=i, input_dir="squares") for i in range(n)]


def test_upstream_change_redoes_exactly_the_changed_shards(tmp_path: Path) -> None:
    run = str(tmp_path)
    square = SquareStage(StageResources(batch_size=4))
    run_stage(square, tasks(12, 4), run, _local())
    run_stage(PlusStage(StageResources()), _plus_tasks(3), run, _local())
    store = ShardStore(run)
    store.remove_done("square", 1)  # shard 1 of the input is redone (a newer input)
    run_stage(square, tasks(12, 4), run, _local())
    again = run_stage(PlusStage(StageResources()), _plus_tasks(3), run, _local())
    assert (again.shards_run, again.shards_skipped) == (1, 2)
    assert again.redone == ["plus shard 1: squares shard 1 changed since"]
    assert "redone: plus shard 1: squares shard 1 changed since" in again.line()
    quiet = run_stage(PlusStage(StageResources()), _plus_tasks(3), run, _local())
    assert (quiet.shards_run, quiet.shards_skipped) == (0, 3)


def test_retriable_items_are_retried_by_a_plain_rerun(tmp_path: Path) -> None:
    down, calls = tmp_path / "down", tmp_path / "calls.txt"
    down.touch()
    run = str(tmp_path / "run")

    def stage() -> FlakyStage:
        return FlakyStage(StageResources(batch_size=4), str(down), str(calls))

    runtime = _local(max_item_retries=0)
    first = run_stage(stage(), tasks(24, 8), run, runtime)
    store = ShardStore(run)
    retriable = {int(e.uri.split("//")[1]) for e in store.read_errors("flaky") if e.retriable}
    assert retriable == {n for n in range(24) if n % 4 == 1 and n % 7 != 3 and n % 11 != 5}
    assert first.errors == len(store.read_errors("flaky"))
    still_down = run_stage(stage(), tasks(24, 8), run, runtime)
    assert still_down.retried == len(retriable) and still_down.retried_ok == 0
    down.unlink()  # the server is back
    calls.write_text("")
    back = run_stage(stage(), tasks(24, 8), run, runtime)
    assert sorted(int(x) for x in calls.read_text().split()) == sorted(retriable)
    assert (back.retried, back.retried_ok, back.items) == (len(retriable),) * 3
    assert f"retried {len(retriable)} items ({len(retriable)} ok now)" in back.line()
    rows = store.read_all("flaky", Squared)
    errors = store.read_errors("flaky")
    assert not any(e.retriable for e in errors)  # the terminal ones are kept as they were
    assert sorted([r.n for r in rows] + [int(e.uri.split("//")[1]) for e in errors]) == \
        list(range(24))
    done = store.done_records("flaky")
    assert all(d.input_rows == d.ok_items + d.error_rows for d in done)
    calls.write_text("")
    idle = run_stage(stage(), tasks(24, 8), run, runtime)
    assert (idle.shards_skipped, idle.retried) == (3, 0) and calls.read_text() == ""


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_interrupt_in_process_is_one_line_and_resumable(
        tmp_path: Path, sig: int, code: int, word: str) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(_command(run, 40, 4, 0.05, "local"), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = ShardStore(str(run))
    _wait_done(store, "square", 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"square: {word}" in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1
    records = store.done_records("square")
    assert 2 <= len(records) < 10, "the signal must land mid-run"
    for rec in records:  # nothing half-done: every record describes a complete shard
        rows = store.read_shard("squares", rec.shard, Squared)
        assert len(rows) == rec.output_rows
    out = subprocess.run(_command(run, 40, 4, 0, "local"), env=ENV, check=True,
                         capture_output=True, text=True).stdout
    assert f"{len(records)} skipped" in out
    assert not list(run.rglob("*.tmp-*"))
    assert len(store.read_all("squares", Squared)) + len(store.read_errors("square")) == 40


@pytest.mark.slow
def test_captions_after_extract_redo_exactly_the_changed_shards(
        tmp_path: Path, example_clips: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: captions written before extract are redone once conditions exist;
    after one condition shard changes, only that captions shard is redone."""
    import shutil

    from conditions_helpers import tiny_overrides

    from any2capins.cli import main

    src, run = tmp_path / "src", tmp_path / "run"
    src.mkdir()
    for name in ("vp9_bear.webm", "vp8_flower_cc0.webm"):
        shutil.copy(example_clips / name, src / name)
    local = ["--set", "runtime.executor=local", "--set", "runtime.progress=false"]
    assert main(["ingest", str(src), "--out", str(run), "--set", "ingest.clips_per_shard=1",
                 *local]) == 0
    captions = ["captions", "--run", str(run), "--backend", "rules", *local]
    depth = ["extract", "--run", str(run), "--stages", "depth", "--set",
             "sheet.during_extract=false", *(a for s in tiny_overrides() for a in ("--set", s)),
             *local]
    assert main(captions) == 0
    assert main(depth) == 0
    capsys.readouterr()
    assert main(captions) == 0
    out = capsys.readouterr().out
    assert "shards 2 run / 0 skipped" in out
    assert "captions shard 0: conditions/depth shard 0 is new since" in out
    ShardStore(str(run)).remove_done("depth", 1)  # depth shard 1 is redone: a newer input
    assert main(depth) == 0
    capsys.readouterr()
    assert main(captions) == 0
    out = capsys.readouterr().out
    assert "shards 1 run / 1 skipped" in out
    assert "captions shard 1: conditions/depth shard 1 changed since" in out
