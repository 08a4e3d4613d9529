"""One command runner: every command on a run folder is argument parsing plus `run_job(job)`.

A `Job` names the command, its config, the passes it runs (stages over the shards of an input
table, see runtime/runner.py `run_pass`), the checks that must pass before anything is written
(bad settings or inputs: one line, exit 2, nothing created) and the steps after the passes
(reports, cards). `run_job` does the rest the same way for every command: the run record
(`run.json`, `_runs/`, the log file), progress, one summary line per stage with where its
output went, the decode line, and the exit code (0 ok, 1 when a shard failed or a step said so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from any2capins.errors import InputError, StageError
from any2capins.io.shards import ShardStore
from any2capins.models.common import utc_now
from any2capins.runtime.frames import DecodeStats
from any2capins.runtime.runner import PassResult, run_pass
from any2capins.runtime.stage import Gate, ShardTask, Stage


@dataclass
class Pass:
    """Stages that run together over every shard of `input_dir` (one decode per clip for
    those that read frames), or over `tasks()`. `local`: run in this process whatever the
    executor (cheap pure Python steps); `force`: redo every shard (None: the command's
    --force)."""

    stages: list[Stage]
    input_dir: str | None
    local: bool = False
    # the tasks when they do not come from input_dir's shards (ingest: the source listing),
    # made when the pass starts
    tasks: Callable[[], list[ShardTask]] | None = None
    gate: Gate | None = None  # items another table's verdict leaves out (curation)
    after: Callable[[JobState], None] | None = None  # right after this pass (before the next)
    force: bool | None = None
    show_outputs: bool = True


@dataclass
class JobState:
    """What the steps after the passes see and add to: the run record, the pass results, the
    lines to print, and a failure to report (exit 1)."""

    ctx: Any  # runlog.RunContext
    store: ShardStore
    started: datetime = field(default_factory=utc_now)
    results: list[PassResult] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    failure: str | None = None
    failed: bool = False


@dataclass
class Job:
    command: str
    run_dir: str
    config: Any  # config.PipelineConfig
    passes: list[Pass]
    force: bool = False
    hint: str = ""  # the command that makes the first pass's input, for the error line
    checks: Sequence[Callable[[], None]] = ()
    after: Sequence[Callable[[JobState], None]] = ()
    before: Sequence[Callable[[JobState], None]] = ()


def shard_sizes(store: ShardStore, input_dir: str) -> dict[int, int]:
    """Rows per shard of `input_dir` (from the Parquet footers), for progress bars."""
    import pyarrow.parquet as pq

    sizes = {}
    for i in store.shard_indices(input_dir):
        loc = store.data_loc(input_dir, i)
        sizes[i] = pq.read_metadata(loc.path, filesystem=loc.fs).num_rows
    return sizes


def run_job(job: Job) -> int:
    """Check, record, run every pass, run the steps after, print, and return the exit code."""
    from any2capins.runlog import RunContext

    store = ShardStore(job.run_dir)
    first = job.passes[0].input_dir if job.passes else None
    if first is not None and not store.shard_indices(first):
        raise InputError(f"{job.run_dir}: no {first}/ shards; run `{job.hint}` first"
                         if job.hint else f"{job.run_dir}: no {first}/ shards")
    for check in job.checks:  # before run.json and logs/: a refused command changes nothing
        check()
    state = JobState(RunContext(job.run_dir, job.command, job.config), store)
    for step in job.before:
        step(state)
    for p in job.passes:
        result = _run(job, p, store)
        state.results.append(result)
        for stage, summary in zip(p.stages, result.summaries, strict=True):
            state.ctx.add_summary(summary)
            state.lines.append(summary.line())
            if p.show_outputs and stage.output_dir:
                state.lines.append(f"  -> {store.root.join(stage.output_dir).uri()}")
        _decode_line(state, p, result.decode)
        state.failed |= result.failed
        if p.after is not None:
            p.after(state)
    for step in job.after:
        step(state)
    state.ctx.finish()
    print("\n".join(state.lines))
    if state.failure is not None:  # one line on stderr, exit 1 (cli.run_handler)
        raise StageError(state.failure)
    return 1 if state.failed else 0


def _decode_line(state: JobState, p: Pass, decode: DecodeStats) -> None:
    """The pass's decode line (one decode per clip for all its stages) and summary."""
    if not decode.clips:
        return
    names = "+".join(s.name for s in p.stages if s.frames() is not None)
    state.lines.append(f"{decode.line()}  [{names}]")
    state.ctx.add_summary({"stage": "decode", "stages": names, "clips": decode.clips,
                           "failed": decode.failed, "seconds": round(decode.seconds, 3),
                           "peak_bytes": decode.peak_bytes})


def _run(job: Job, p: Pass, store: ShardStore) -> PassResult:
    if p.tasks is not None:
        tasks = p.tasks()
        sizes = {t.index: len(t.rows or ()) for t in tasks}
    else:
        tasks = [ShardTask(index=i, input_dir=p.input_dir)
                 for i in store.shard_indices(p.input_dir)]
        sizes = shard_sizes(store, p.input_dir)
    runtime = job.config.runtime
    if p.local:
        runtime = runtime.model_copy(update={"executor": "local", "progress": False})
    force = job.force if p.force is None else p.force
    return run_pass(p.stages, tasks, job.run_dir, runtime, decode=job.config.decode,
                    force=force, sizes=sizes, gate=p.gate)
