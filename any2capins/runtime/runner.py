"""Run one stage over its shards with resume, progress and a summary.

Resume rule: a shard whose completion record exists is skipped unless `force`; everything else
(missing, half-written, failed) is redone from scratch, atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from any2capins.config.base import RuntimeConfig
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone, TokenUsage
from any2capins.runtime.executors import ShardFailure, make_executor
from any2capins.runtime.progress import StageProgress
from any2capins.runtime.stage import ShardTask, Stage

log = logging.getLogger(__name__)


@dataclass
class StageSummary:
    """What one stage run did. `items`/`errors` cover shards processed now plus skipped ones."""

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

    def add(self, done: ShardDone) -> None:
        self.items += done.input_rows
        self.ok += done.ok_items
        self.outputs += done.output_rows
        self.errors += done.error_rows
        if done.usage:
            self.usage = self.usage + done.usage


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
    store = ShardStore(run_dir)
    swept = store.sweep_temp_files(stage.output_dir, f"_errors/{stage.name}", f"_done/{stage.name}")
    if swept:
        log.info("%s: removed %d temp file(s) left by an interrupted run", stage.name, swept)
    summary = StageSummary(stage=stage.name, shards_total=len(tasks))
    pending: list[ShardTask] = []
    for task in tasks:
        done = None if force else store.done(stage.name, task.index)
        if done is None:
            pending.append(task)
        else:
            summary.shards_skipped += 1
            summary.add(done)
    total = sum((sizes or {}).get(t.index, len(t.rows or ())) for t in pending)
    t0 = time.perf_counter()
    with StageProgress(stage.name, total, enabled=runtime.progress) as bar:
        for result in make_executor(runtime).run(stage, run_dir, pending):
            if isinstance(result, ShardFailure):
                summary.shards_failed.append(result.index)
                log.error("%s: %s", stage.name, result.message)
                continue
            summary.shards_run += 1
            summary.items_run += result.input_rows
            summary.add(result)
            bar.advance(result.input_rows, result.error_rows)
    summary.seconds = time.perf_counter() - t0
    return summary
