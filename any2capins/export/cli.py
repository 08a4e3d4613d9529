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
    from any2capins.export.card import stats_table, write_card
    from any2capins.export.leftout import left_out_lines
    from any2capins.export.stage import ExportStage
    from any2capins.runlog import run_single_stage

    ctx, summary = run_single_stage(args, "export", lambda c: ExportStage(c.export),
                                    "shortprompts", f"any2capins shortprompts --run {args.run}")
    stats = write_card(ctx.store, plots=ctx.config.export.plots)
    ctx.add_summary({"stage": "export-left-out", **stats["left_out"]})
    ctx.finish()
    print(summary.line())
    print()
    print(stats_table(stats))
    print()
    print("\n".join(left_out_lines(stats["left_out"])))
    root = ctx.store.root
    print(f"\ninstances:    {root.join('instances').uri()}")
    print(f"dataset card: {root.join('README.md').uri()}  (stats.json, card/*.png)")
    return 1 if summary.shards_failed else 0
