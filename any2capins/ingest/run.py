"""`run_ingest`: the whole ingest command as one call (plan, stage, duplicates, accounting)."""

from __future__ import annotations

from dataclasses import dataclass

from any2capins.config import PipelineConfig
from any2capins.ingest.duplicates import (
    DuplicateReport,
    VideoLine,
    resolve_duplicates,
    video_table,
)
from any2capins.ingest.stage import ProbeStage, plan_ingest
from any2capins.runtime import run_stage
from any2capins.runtime.runner import StageSummary


@dataclass
class IngestOutcome:
    """The stage summary (this run's work), duplicates resolved across the run folder, and
    what became of every source file (`ingest/videos.parquet`)."""

    summary: StageSummary
    duplicates: DuplicateReport
    videos: list[VideoLine]


def run_ingest(src: str, run_dir: str, config: PipelineConfig, *,
               force: bool = False) -> IngestOutcome:
    """Ingest SRC into RUN_DIR: probe and split new or changed shards (in parallel), then
    decide duplicate content over every done shard (first in listing order kept) and write the
    per-video table. Safe to rerun: every step is idempotent."""
    tasks = plan_ingest(src, run_dir, config.ingest)
    summary = run_stage(ProbeStage(config.ingest), tasks, run_dir, config.runtime, force=force)
    duplicates = resolve_duplicates(run_dir)
    return IngestOutcome(summary, duplicates, video_table(run_dir))
