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
    which.add_argument("--all", action="store_true", help="draw every clip of the run (done "
                       "sheets are kept unless their conditions changed; --force redraws)")
    p.add_argument("--out", metavar="PNG", help="output file (with --clip only)")
    p.add_argument("--force", action="store_true", help="with --all: redraw every sheet")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from any2capins.config import load_config
    from any2capins.errors import InputError

    config = load_config(args.config, args.overrides)
    if args.all and args.out:
        raise InputError("--out needs --clip (with --all sheets go to RUN_DIR/sheets/)")
    _check_run(args.run)
    if args.all:
        from any2capins.conditions.jobs import sheets_job
        from any2capins.runtime.job import run_job

        return run_job(sheets_job(args, config))
    return _one_sheet(args, config)


def _one_sheet(args: argparse.Namespace, config: object) -> int:
    """The sheet of one clip (`--clip`), drawn through the runtime like in a pass."""
    from any2capins.conditions.sheet_stage import SheetStage
    from any2capins.errors import InputError
    from any2capins.io.shards import ShardStore
    from any2capins.models.clips import ClipRecord
    from any2capins.models.tables import folder
    from any2capins.runtime.once import find_item, process_items
    from any2capins.runtime.stage import Failure

    found = find_item(ShardStore(args.run), folder("clips"), ClipRecord, args.clip)
    if found is None:
        raise InputError(f"clip {args.clip!r} is not in {args.run}/clips/")
    index, clip = found
    stage = SheetStage(config.sheet, args.run, out=args.out)
    result = process_items(stage, [clip], index, args.run, config.decode)[0]
    if isinstance(result, Failure):
        raise InputError(f"clip {args.clip}: the sheet cannot be drawn: {result.message}")
    print(args.out or ShardStore(args.run).root.join(result.path).uri())
    return 0


def _check_run(run_dir: str) -> None:
    """A sheet draws conditions: a run without clips or without any condition shard is bad
    input (InputError, exit 2), not an empty success."""
    from any2capins.errors import InputError
    from any2capins.io import fs
    from any2capins.io.shards import ShardStore
    from any2capins.models.tables import folder

    store = ShardStore(run_dir)
    if not store.shard_indices(folder("clips")):
        raise InputError(f"{run_dir}: no clips/ shards; run `any2capins ingest SRC --out "
                         f"{run_dir}` first (or check --run)")
    if not fs.list_files(store.root.join("conditions"), ".parquet"):
        raise InputError(f"{run_dir}: no condition shards in conditions/; run `any2capins "
                         f"extract --run {run_dir}` first")
