"""`any2capins shortprompts --run RUN_DIR`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "shortprompts", parents=[common], help="short user-style prompts per instance",
        description="For every approved caption (RUN_DIR/review/decisions/, written by "
        "`review export`) and every condition set the recipe emits for its clip, write a "
        "validated short prompt to RUN_DIR/shortprompts/.",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--force", action="store_true", help="redo shards already completed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.runtime.job import run_job
    from any2capins.shortprompts.jobs import shortprompts_job

    return run_job(shortprompts_job(args))
