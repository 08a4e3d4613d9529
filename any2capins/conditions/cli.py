"""`any2capins extract --run RUN_DIR [--stages depth,pose,refs]` and
`any2capins models tiny DIR`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "extract", parents=[common], help="extract conditions (depth, pose, camera, refs)",
        description="Run the selected condition stages over RUN_DIR/clips/ (written by "
        "`ingest`) and write RUN_DIR/conditions/<stage>/shard-NNNNN.parquet. Each clip is "
        "decoded once for every stage (and its contact sheet); each stage keeps its own "
        "workers and resources; pose and refs share detections; done shards are skipped.",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--stages", default=None, metavar="LIST",
                   help="comma-separated stages (default: every registered stage)")
    p.add_argument("--force", action="store_true", help="redo shards already completed")
    p.set_defaults(handler=run_extract)

    m = subparsers.add_parser("models", parents=[common], help="model utilities")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    tiny = msub.add_parser("tiny", help="write tiny random models (offline demo and tests)",
                           description="Write tiny randomly-initialised depth, detector and "
                           "pose models to DIR, loadable with from_pretrained(DIR/<name>). "
                           "Outputs made with them are flagged tiny_model.")
    tiny.add_argument("dir", metavar="DIR")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(handler=run_tiny)


def run_tiny(args: argparse.Namespace) -> int:
    from any2capins.conditions.models_tiny import write_tiny_models
    from any2capins.errors import InputError

    try:
        written = write_tiny_models(args.dir, seed=args.seed)
    except OSError as exc:  # an unwritable or impossible DIR is bad input: one line, exit 2
        raise InputError(f"{args.dir}: cannot write the tiny models there "
                         f"({exc.strerror or exc})") from None
    for name, path in written.items():
        print(f"{name:<10} {path}")
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from any2capins.conditions.jobs import extract_job
    from any2capins.runtime.job import run_job

    return run_job(extract_job(args))
