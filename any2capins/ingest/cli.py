"""`any2capins ingest SRC --out RUN_DIR`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "ingest", parents=[common],
        help="discover, probe and split clips into shots in RUN_DIR/clips/",
        description="Probe every video of SRC (folder, glob, or CSV/Parquet manifest with a "
        "'uri' column; local or s3://), split it at scene cuts (ingest.shots) and write one "
        "row per shot to RUN_DIR/clips/shard-NNNNN.parquet. Byte-identical copies are "
        "ingested once (the first in listing order).",
    )
    p.add_argument("src", help="folder, glob, or manifest (.csv/.parquet)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--force", action="store_true", help="redo shards already completed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.config import load_config
    from any2capins.ingest.duplicates import VIDEOS, summary_line, videos_summary
    from any2capins.ingest.run import run_ingest
    from any2capins.ingest.sources import check_source
    from any2capins.runlog import RunContext

    config = load_config(args.config, args.overrides)
    check_source(args.src, config.ingest.extensions)  # a bad SRC: one line, nothing written
    ctx = RunContext(args.out, "ingest", config)
    outcome = run_ingest(args.src, args.out, config, force=args.force)
    ctx.add_summary(outcome.summary)
    ctx.add_summary(videos_summary(outcome.videos))
    ctx.finish()
    print(outcome.summary.line())
    print(summary_line(outcome.videos))
    print(f"clips:  {ctx.store.root.join('clips').uri()}")
    print(f"videos: {ctx.store.root.join(VIDEOS).uri()}  (clips and dropped shots per video)")
    if any(x.status != "ok" or x.shots_dropped for x in outcome.videos):
        print(f"errors: {ctx.store.root.join('_errors', 'ingest').uri()}")
    return 1 if outcome.summary.shards_failed else 0
