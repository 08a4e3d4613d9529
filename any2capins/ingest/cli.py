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
    from any2capins.ingest.run import ingest_job
    from any2capins.runtime.job import run_job

    return run_job(ingest_job(args))
