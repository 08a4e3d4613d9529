"""Run stages over their shards with resume, progress and a summary per stage.

Resume rule, per shard:
- no completion record (missing, half-written, failed, interrupted): redo from scratch;
- a record whose settings fingerprint or input shards differ from now (see provenance.py):
  redo, with one line saying why;
- a record with retriable error rows: redo only those items, keep the rest of the shard;
- otherwise skip. `force` redoes every shard.
The completion record of every shard about to be rewritten is removed *before* any work starts,
so a crash mid-rewrite (also mid-`--force`) never leaves an old record next to new data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from any2capins.config.base import RuntimeConfig
from any2capins.config.sampling import DecodeSettings
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone, TokenUsage
from any2capins.models.tables import TABLES
from any2capins.runtime.frames import DecodeStats
from any2capins.runtime.gate import gate_left_out
from any2capins.runtime.paths import absolutize
from any2capins.runtime.progress import StageProgress
from any2capins.runtime.provenance import Upstream, retry_keys, why_redo
from any2capins.runtime.scheduler import (
    Backend,
    GroupFailure,
    Scheduler,
    Work,
    dependency_order,
)
from any2capins.runtime.stage import ALL_KEPT, GATE_SUFFIX, Gate, Provenance, ShardTask, Stage

log = logging.getLogger(__name__)


@dataclass
class StageSummary:
    """What one stage run did. `items`, `ok`, `outputs`, `errors` and `usage` count only the
    work done by this run (items redone as retries included); shards skipped because they were
    done are counted apart (`shards_skipped`, `skipped_items`, `skipped_errors`)."""

    stage: str
    shards_total: int
    shards_run: int = 0
    shards_skipped: int = 0
    shards_failed: list[int] = field(default_factory=list)
    items: int = 0
    ok: int = 0
    outputs: int = 0
    errors: int = 0
    items_run: int = 0
    seconds: float = 0.0
    usage: TokenUsage = field(default_factory=TokenUsage)
    skipped_items: int = 0
    skipped_errors: int = 0
    retried: int = 0
    retried_ok: int = 0
    left_out: int = 0
    redone: list[str] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.items_run / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        parts = [
            f"{self.stage:<14}", f"{self.items:>6} items", f"{self.ok:>6} ok",
            f"{self.errors:>4} errors",
            f"{self.items_per_s:7.2f} items/s" if self.items_run else "      - items/s",
            f"shards {self.shards_run} run / {self.shards_skipped} skipped",
        ]
        if self.shards_skipped:
            parts.append(f"(skipped: {self.skipped_items} items, {self.skipped_errors} errors)")
        if self.left_out:
            parts.append(f"{self.left_out} left out by filters")
        if self.retried:
            parts.append(f"retried {self.retried} items ({self.retried_ok} ok now)")
        if self.redone:  # e.g. "captions shard 3: conditions/camera shard 3 changed since"
            more = f" (+{len(self.redone) - 1} more, see the log)" if len(self.redone) > 1 else ""
            parts.append(f"redone: {self.redone[0]}{more}")
        if self.outputs != self.ok:
            parts.append(f"{self.outputs} rows")
        if self.shards_failed:
            parts.append(f"/ {len(self.shards_failed)} FAILED {self.shards_failed}")
        if self.usage.calls or self.usage.cached_calls:
            parts.append(
                f"tokens {self.usage.prompt_tokens}+{self.usage.completion_tokens} "
                f"({self.usage.calls} calls, {self.usage.cached_calls} cached)"
            )
        return "  ".join(parts)

    def skip(self, done: ShardDone) -> None:
        self.shards_skipped += 1
        self.skipped_items += done.input_rows
        self.skipped_errors += done.error_rows

    def add(self, done: ShardDone, previous: ShardDone | None = None) -> None:
        """Count a shard written now; for a retry, only the retried items."""
        self.shards_run += 1
        if done.retried and previous is not None:
            new_ok = done.ok_items - previous.ok_items
            self.retried += done.retried
            self.retried_ok += new_ok
            self.items += done.retried
            self.ok += new_ok
            self.outputs += done.output_rows - previous.output_rows
            self.errors += done.retried - new_ok
        else:
            self.items += done.input_rows
            self.ok += done.ok_items
            self.outputs += done.output_rows
            self.errors += done.error_rows
        self.left_out += done.skipped_items - (previous.skipped_items if done.retried and
                                               previous is not None else 0)
        self.items_run += done.retried or done.input_rows
        usage = done.run_usage if done.run_usage is not None or done.retried else done.usage
        if usage:
            self.usage = self.usage + usage


def fingerprint(stage: Stage, decode: DecodeSettings | None) -> dict[str, Any]:
    """The stage's settings fingerprint plus, for a stage that reads frames, the `decode:`
    settings that differ from their defaults (so run folders made before `decode:` counted
    keep their fingerprints, and changing it redoes exactly the frame-reading stages)."""
    settings = stage.fingerprint()
    if decode is not None and stage.frames() is not None:
        default = DecodeSettings().model_dump(mode="json")
        changed = {k: v for k, v in decode.model_dump(mode="json").items()
                   if k not in DECODE_KNOBS and v != default.get(k)}
        if changed:
            settings = {**settings, "decode": changed}
    return settings


# decode settings that never change which pixels a stage gets
DECODE_KNOBS = frozenset({"threads"})


def plan(stage: Stage, tasks: Sequence[ShardTask], store: ShardStore, force: bool,
         summary: StageSummary, *, decode: DecodeSettings | None = None,
         gate: Gate | None = None,
         redoing: frozenset[tuple[str, int]] = frozenset()) -> list[ShardTask]:
    """The tasks to run now (with provenance, and retry keys where only retries are due);
    counts skipped shards in `summary` and records why done shards are redone. Local paths
    in the stage's settings are made absolute first (workers do not share this working
    directory), so fingerprints hold the paths the workers use."""
    made_absolute = absolutize(stage)
    if made_absolute:
        log.info("%s: local paths made absolute: %s", stage.name, ", ".join(made_absolute))
    up = Upstream(store)
    settings = fingerprint(stage, decode)
    pending: list[ShardTask] = []
    for given in tasks:
        task = replace(given, provenance=_with_gate(up.provenance(stage, settings, given),
                                                    stage, gate, store, given.index))
        done = None if force else store.done(stage.name, task.index)
        why = why_redo(stage.name, done, task.provenance, up, redoing) if done else None
        keys = retry_keys(store, done) if done and not why else frozenset()
        if done is None or why:
            if why:
                summary.redone.append(why)
                log.info("%s", why)
            pending.append(task)
        elif keys:
            pending.append(replace(task, retry=keys, previous=done))
        else:
            summary.skip(done)
    for task in pending:  # before any work: no old record may survive next to new data
        store.remove_done(stage.name, task.index)
    return pending


def _with_gate(prov: Provenance, stage: Stage, gate: Gate | None, store: ShardStore,
               index: int) -> Provenance:
    """`prov` plus, for a gated stage, the gate's verdicts on the shard (GATE_SUFFIX)."""
    if gate is None or not gate.applies(stage.name):
        return prov
    writer = TABLES[gate.table].stage or gate.table
    entry = (f"{writer}{GATE_SUFFIX}", gate_digest(store, gate, index))
    return replace(prov, upstream=(*prov.upstream, entry))


def gate_digest(store: ShardStore, gate: Gate, index: int) -> str:
    """The gate's verdicts on a shard: a hash of the clips it leaves out (ALL_KEPT: none)."""
    import hashlib

    out = sorted(gate_left_out(store, gate, index))
    return hashlib.sha256("\n".join(out).encode()).hexdigest()[:16] if out else ALL_KEPT


def absolute_run_dir(run_dir: str) -> str:
    """A local run folder as an absolute path (workers do not share the driver's working
    directory); URIs are returned as they are."""
    if "://" in run_dir:
        return run_dir
    return str(Path(run_dir).expanduser().absolute())


@dataclass
class PassResult:
    """What one pass did: a summary per stage (in the order given) and the decode passes."""

    summaries: list[StageSummary]
    decode: DecodeStats

    @property
    def failed(self) -> bool:
        return any(s.shards_failed for s in self.summaries)


def run_pass(
    stages: Sequence[Stage],
    tasks: Sequence[ShardTask],
    run_dir: str,
    runtime: RuntimeConfig,
    *,
    decode: DecodeSettings | None = None,
    force: bool = False,
    sizes: dict[int, int] | None = None,
    gate: Gate | None = None,
) -> PassResult:
    """Run `stages` (all reading the input of `tasks`) over the shards not yet done, each clip
    decoded once for every stage that reads frames; `sizes` (rows per shard) drives the
    progress bar. Resume, retries and provenance per (stage, shard), see the module docstring.
    `gate`: items left out of the (not exempt) stages by another table's verdict."""
    run_dir = absolute_run_dir(run_dir)
    store = ShardStore(run_dir)
    ordered = dependency_order(stages)
    summaries = {s.name: StageSummary(stage=s.name, shards_total=len(tasks)) for s in stages}
    work = _plan_work(ordered, tasks, store, force=force, summaries=summaries, decode=decode,
                      sizes=sizes or {}, gate=gate)
    stats = DecodeStats()
    backend = make_backend(runtime, decode or DecodeSettings(), stats, gate)
    groups = backend.groups(ordered)
    t0 = time.perf_counter()
    total = sum(w.items for w in work)
    try:
        with StageProgress("+".join(s.name for s in stages), total,
                           enabled=runtime.progress) as bar:
            for w, dones in Scheduler(backend, groups).run(work, run_dir) if work else ():
                _count(w, dones, summaries, bar)
    finally:
        backend.close()
    wall = time.perf_counter() - t0
    for s in summaries.values():  # the stage's own worker time (the wall is shared)
        s.seconds = s.seconds or wall
    return PassResult([summaries[s.name] for s in stages], stats)


def _plan_work(stages: Sequence[Stage], tasks: Sequence[ShardTask], store: ShardStore, *,
               force: bool, summaries: dict[str, StageSummary], decode: DecodeSettings | None,
               sizes: dict[int, int], gate: Gate | None) -> list[Work]:
    """Per shard, the stages to run now (resume rules), in shard order."""
    by_shard: dict[int, dict[str, ShardTask]] = {t.index: {} for t in tasks}
    redoing: set[tuple[str, int]] = set()  # shards an earlier stage of the pass rewrites
    for stage in stages:
        store.sweep_temp_files(stage.output_dir, f"_errors/{stage.name}",
                               f"_done/{stage.name}")
        for task in plan(stage, tasks, store, force, summaries[stage.name], decode=decode,
                         gate=gate, redoing=frozenset(redoing)):
            by_shard[task.index][stage.name] = task
            redoing.add((stage.name, task.index))
    work = []
    for t in tasks:
        pending = by_shard[t.index]
        if pending:
            n = sum(len(x.retry) if x.retry else sizes.get(t.index, len(t.rows or ()))
                    for x in pending.values())
            work.append(Work(t.index, pending, n))
    return work


def _count(w: Work, dones: list[ShardDone | GroupFailure], summaries: dict[str, StageSummary],
           bar: StageProgress) -> None:
    for done in dones:
        s = summaries[done.stage]
        if isinstance(done, GroupFailure):
            s.shards_failed.append(done.index)
            log.error("%s: %s", done.stage, done.message)
            continue
        s.add(done, w.tasks[done.stage].previous)
        s.seconds += done.seconds
        bar.advance(done.retried or done.input_rows, done.error_rows)


def run_stage(
    stage: Stage,
    tasks: Sequence[ShardTask],
    run_dir: str,
    runtime: RuntimeConfig,
    *,
    force: bool = False,
    sizes: dict[int, int] | None = None,
    decode: DecodeSettings | None = None,
) -> StageSummary:
    """One stage alone: `run_pass` with a single stage."""
    result = run_pass([stage], tasks, run_dir, runtime, decode=decode, force=force, sizes=sizes)
    return result.summaries[0]


def make_backend(runtime: RuntimeConfig, decode: DecodeSettings, stats: DecodeStats,
                 gate: Gate | None = None) -> Backend:
    if runtime.executor == "ray":
        from any2capins.runtime.ray_backend import RayBackend

        return RayBackend(runtime, decode, stats, gate)
    from any2capins.runtime.local_backend import LocalBackend

    return LocalBackend(runtime, decode, stats, gate)
