"""Ingest as one call (`run_ingest`, the library API) and as the `ingest` command's job
(`ingest_job`): plan the source listing, probe and split the sources into shots (the probe
stage), then decide duplicate content, bound the shards written now to `clips_per_shard` clips
and write the per-video table (`finish_ingest`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime

from any2capins.config import PipelineConfig
from any2capins.ingest.duplicates import (
    VIDEOS,
    DuplicateReport,
    VideoLine,
    resolve_duplicates,
    summary_line,
    video_table,
    videos_summary,
)
from any2capins.ingest.layout import split_shards
from any2capins.ingest.stage import ProbeStage, plan_ingest
from any2capins.models.common import utc_now
from any2capins.runtime import run_stage
from any2capins.runtime.job import Job, JobState, Pass
from any2capins.runtime.runner import StageSummary


@dataclass
class IngestOutcome:
    """The stage summary (this run's work), duplicates resolved across the run folder, and
    what became of every source file (`ingest/videos.parquet`)."""

    summary: StageSummary
    duplicates: DuplicateReport
    videos: list[VideoLine]


def finish_ingest(run_dir: str, config: PipelineConfig,
                  started: datetime) -> tuple[DuplicateReport, list[VideoLine]]:
    """After the probe stage: duplicate content over every done shard (first in listing order
    kept), shards written since `started` bounded to `clips_per_shard` clips, the per-video
    table. Idempotent."""
    duplicates = resolve_duplicates(run_dir)
    split_shards(run_dir, config.ingest.clips_per_shard, since=started)
    return duplicates, video_table(run_dir)


def run_ingest(src: str, run_dir: str, config: PipelineConfig, *,
               force: bool = False) -> IngestOutcome:
    """Ingest SRC into RUN_DIR (see the module docstring). Safe to rerun: every step is
    idempotent."""
    started = utc_now()
    tasks = plan_ingest(src, run_dir, config.ingest)
    summary = run_stage(ProbeStage(config.ingest), tasks, run_dir, config.runtime, force=force)
    duplicates, videos = finish_ingest(run_dir, config, started)
    return IngestOutcome(summary, duplicates, videos)


def ingest_job(args: argparse.Namespace) -> Job:
    """The job of `any2capins ingest SRC --out RUN_DIR [--force]`."""
    from any2capins.config import load_config
    from any2capins.ingest.sources import check_source

    config = load_config(args.config, args.overrides)

    def check() -> None:  # a bad SRC: one line, nothing written
        check_source(args.src, config.ingest.extensions)

    def finish(state: JobState) -> None:
        _, videos = finish_ingest(args.out, config, state.started)
        state.ctx.add_summary(videos_summary(videos))
        root = state.store.root
        state.lines += [summary_line(videos), f"videos: {root.join(VIDEOS).uri()}  (clips and "
                        "dropped shots per video)"]
        if any(x.status != "ok" or x.shots_dropped for x in videos):
            state.lines.append(f"errors: {root.join('_errors', 'ingest').uri()}")

    probe = Pass([ProbeStage(config.ingest)], None,
                 tasks=lambda: plan_ingest(args.src, args.out, config.ingest))
    return Job("ingest", args.out, config, [probe], force=args.force, checks=[check],
               after=[finish])
