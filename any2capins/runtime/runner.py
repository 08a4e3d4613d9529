"""Run one stage over its shards with resume, progress and a summary.

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

from any2capins.config.base import RuntimeConfig
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone, TokenUsage
from any2capins.runtime.executors import ShardFailure, make_executor
from any2capins.runtime.paths import absolutize
from any2capins.runtime.progress import StageProgress
from any2capins.runtime.provenance import Upstream, retry_keys, why_redo
from any2capins.runtime.stage import ShardTask, Stage

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
        self.items_run += done.retried or done.input_rows
        usage = done.run_usage if done.run_usage is not None or done.retried else done.usage
        if usage:
            self.usage = self.usage + usage


def plan(stage: Stage, tasks: Sequence[ShardTask], store: ShardStore, force: bool,
         summary: StageSummary) -> list[ShardTask]:
    """The tasks to run now (with provenance, and retry keys where only retries are due);
    counts skipped shards in `summary` and records why done shards are redone. Local paths
    in the stage's settings are made absolute first (workers do not share this working
    directory), so fingerprints hold the paths the workers use."""
    made_absolute = absolutize(stage)
    if made_absolute:
        log.info("%s: local paths made absolute: %s", stage.name, ", ".join(made_absolute))
    up = Upstream(store)
    settings = stage.fingerprint()
    pending: list[ShardTask] = []
    for given in tasks:
        task = replace(given, provenance=up.provenance(stage, settings, given))
        done = None if force else store.done(stage.name, task.index)
        why = why_redo(stage.name, done, task.provenance, up) if done else None
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


def absolute_run_dir(run_dir: str) -> str:
    """A local run folder as an absolute path (workers do not share the driver's working
    directory); URIs are returned as they are."""
    if "://" in run_dir:
        return run_dir
    return str(Path(run_dir).expanduser().absolute())


def run_stage(
    stage: Stage,
    tasks: Sequence[ShardTask],
    run_dir: str,
    runtime: RuntimeConfig,
    *,
    force: bool = False,
    sizes: dict[int, int] | None = None,
) -> StageSummary:
    """Run `stage` on the tasks not yet done; `sizes` (rows per shard) drives the progress bar."""
    run_dir = absolute_run_dir(run_dir)
    store = ShardStore(run_dir)
    swept = store.sweep_temp_files(stage.output_dir, f"_errors/{stage.name}", f"_done/{stage.name}")
    if swept:
        log.info("%s: removed %d temp file(s) left by an interrupted run", stage.name, swept)
    summary = StageSummary(stage=stage.name, shards_total=len(tasks))
    pending = plan(stage, tasks, store, force, summary)
    by_index = {t.index: t for t in pending}
    total = sum(len(t.retry) if t.retry else (sizes or {}).get(t.index, len(t.rows or ()))
                for t in pending)
    t0 = time.perf_counter()
    with StageProgress(stage.name, total, enabled=runtime.progress) as bar:
        for result in make_executor(runtime).run(stage, run_dir, pending):
            if isinstance(result, ShardFailure):
                summary.shards_failed.append(result.index)
                log.error("%s: %s", stage.name, result.message)
                continue
            summary.add(result, by_index[result.shard].previous)
            bar.advance(result.retried or result.input_rows, result.error_rows)
    summary.seconds = time.perf_counter() - t0
    return summary
