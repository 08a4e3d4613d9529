"""`any2capins status --run RUN_DIR`: per stage, shards done and rows/errors so far."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("status", parents=[common], help="show what a run folder holds")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.set_defaults(handler=run)
    c = subparsers.add_parser("config", parents=[common],
                              help="print the resolved configuration as YAML and exit")
    c.set_defaults(handler=show_config)


def run(args: argparse.Namespace) -> int:
    import pyarrow.fs as pafs

    from any2capins.errors import InputError
    from any2capins.io import fs
    from any2capins.io.shards import ShardStore

    store = ShardStore(args.run)
    if not fs.exists(store.root):
        raise InputError(f"{args.run}: no such run folder (check --run)")
    if store.root.fs.get_file_info(store.root.path).type == pafs.FileType.File:
        raise InputError(f"{args.run}: is a file, not a run folder (check --run)")
    stages = sorted(p.rsplit("/", 2)[-2] for p in fs.list_files(store.root.join("_done"), ".json"))
    if not stages:
        print(f"{args.run}: no completed shards yet")
        return 0
    for stage in sorted(set(stages)):
        done = store.done_records(stage)
        items = sum(d.input_rows for d in done)
        ok = sum(d.ok_items for d in done)
        rows = sum(d.output_rows for d in done)
        errors = sum(d.error_rows for d in done)
        print(f"{stage:<14} shards done {len(done):>4}   items {items:>7}   ok {ok:>7}   "
              f"errors {errors:>5}   rows written {rows:>7}")
    return 0


def show_config(args: argparse.Namespace) -> int:
    import yaml

    from any2capins.config import load_config

    config = load_config(args.config, args.overrides)
    print(yaml.safe_dump(config.redacted(), sort_keys=False), end="")
    return 0
