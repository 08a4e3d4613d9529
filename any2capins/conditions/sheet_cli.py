"""`any2capins sheet --run RUN_DIR --clip CLIP_ID [--out PNG]` (or `--all`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "sheet", parents=[common], help="contact sheet PNG of a clip (frames, depth, pose, "
        "camera path, crops)",
        description="Draw one PNG per clip from whatever condition shards exist: sampled "
        "frames with pose skeletons, depth maps, a top-down camera path with its status and "
        "motion sentence, and the reference crops. Default output: RUN_DIR/sheets/<clip>.png.",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--clip", metavar="CLIP_ID", help="the clip to draw")
    which.add_argument("--all", action="store_true", help="draw every clip of the run")
    p.add_argument("--out", metavar="PNG", help="output file (with --clip only)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.conditions.sheet import write_sheet, write_sheets
    from any2capins.config import load_config
    from any2capins.errors import InputError

    config = load_config(args.config, args.overrides)
    if args.all and args.out:
        raise InputError("--out needs --clip (with --all sheets go to RUN_DIR/sheets/)")
    _check_run(args.run)
    if args.all:
        for uri in write_sheets(args.run, config.sheet, config.decode):
            print(uri)
        return 0
    print(write_sheet(args.run, args.clip, config.sheet, out=args.out,
                      settings=config.decode))
    return 0


def _check_run(run_dir: str) -> None:
    """A sheet draws conditions: a run without clips or without any condition shard is bad
    input (InputError, exit 2), not an empty success."""
    from any2capins.errors import InputError
    from any2capins.io import fs
    from any2capins.io.shards import ShardStore

    store = ShardStore(run_dir)
    if not store.shard_indices("clips"):
        raise InputError(f"{run_dir}: no clips/ shards; run `any2capins ingest SRC --out "
                         f"{run_dir}` first (or check --run)")
    if not fs.list_files(store.root.join("conditions"), ".parquet"):
        raise InputError(f"{run_dir}: no condition shards in conditions/; run `any2capins "
                         f"extract --run {run_dir}` first")
