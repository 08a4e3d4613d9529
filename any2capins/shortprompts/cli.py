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
    from any2capins.config import load_config
    from any2capins.runlog import RunContext, shard_tasks
    from any2capins.runtime import run_stage
    from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

    config = load_config(args.config, args.overrides)
    if config.shortprompts.backend == "openai":
        from any2capins.llm.client import read_api_key

        read_api_key(config.shortprompts.llm.api_key_env, "shortprompts.llm.api_key_env")
    ctx = RunContext(args.run, "shortprompts", config)
    tasks, sizes = shard_tasks(ctx.store, INPUT_DIR, f"any2capins review export --run {args.run}")
    stage = ShortPromptsStage(config.shortprompts, args.run)
    summary = run_stage(stage, tasks, args.run, config.runtime, force=args.force, sizes=sizes)
    ctx.add_summary(summary)
    ctx.finish()
    print(summary.line())
    print(f"short prompts: {ctx.store.root.join('shortprompts').uri()}")
    if summary.errors:
        print(f"errors:        {ctx.store.root.join('_errors', 'shortprompts').uri()}")
    return 1 if summary.shards_failed else 0
