"""`any2capins export --run RUN_DIR`: instances/ shards and the dataset card."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "export", parents=[common], help="write instances/ and the dataset card",
        description="Join short prompts, approved captions, clips and conditions into "
        "RUN_DIR/instances/shard-NNNNN.parquet, then write the dataset card RUN_DIR/README.md, "
        "RUN_DIR/stats.json and RUN_DIR/card/*.png.",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--force", action="store_true", help="redo shards already completed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.export.jobs import export_job
    from any2capins.runtime.job import run_job

    return run_job(export_job(args))
