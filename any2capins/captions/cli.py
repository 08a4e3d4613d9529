"""`any2capins captions --run RUN_DIR`: section writers, then merge + checks, then usage."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "captions", parents=[common], help="write the six-section structured captions",
        description="Write the six caption sections of every clip of RUN_DIR/clips/ "
        "(RUN_DIR/captions/sections/), merge and check them (RUN_DIR/captions/merged/, also as "
        "MiraData-style RUN_DIR/captions/miradata.csv) and "
        "summarise token usage (RUN_DIR/captions/usage.json). Reruns use the call cache.",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--backend", choices=["openai", "rules"], default=None,
                   help="override captions.backend")
    p.add_argument("--force", action="store_true",
                   help="redo completed shards (cached calls still cost nothing)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.captions.jobs import captions_job
    from any2capins.runtime.job import run_job

    return run_job(captions_job(args))
