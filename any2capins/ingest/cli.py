"""`any2capins ingest SRC --out RUN_DIR`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "ingest", parents=[common], help="discover and probe clips into RUN_DIR/clips/",
        description="Probe every clip of SRC (folder, glob, or CSV/Parquet manifest with a "
        "'uri' column; local or s3://) and write RUN_DIR/clips/shard-NNNNN.parquet.",
    )
    p.add_argument("src", help="folder, glob, or manifest (.csv/.parquet)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--force", action="store_true", help="redo shards already completed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.config import load_config
    from any2capins.ingest.stage import ProbeStage, plan_ingest
    from any2capins.runlog import RunContext
    from any2capins.runtime import run_stage

    config = load_config(args.config, args.overrides)
    tasks = plan_ingest(args.src, args.out, config.ingest)
    ctx = RunContext(args.out, "ingest", config)
    summary = run_stage(ProbeStage(config.ingest), tasks, args.out, config.runtime,
                        force=args.force)
    ctx.add_summary(summary)
    ctx.finish()
    print(summary.line())
    print(f"clips:  {ctx.store.root.join('clips').uri()}")
    if summary.errors:
        print(f"errors: {ctx.store.root.join('_errors', 'ingest').uri()}")
    return 1 if summary.shards_failed else 0
