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
    from any2capins.runlog import run_single_stage
    from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

    def build(config):
        if config.shortprompts.backend == "openai":
            from any2capins.llm.client import read_api_key

            read_api_key(config.shortprompts.llm.api_key_env, "shortprompts.llm.api_key_env")
        return ShortPromptsStage(config.shortprompts, args.run)

    ctx, summary = run_single_stage(args, "shortprompts", build, INPUT_DIR,
                                    f"any2capins review export --run {args.run}")
    ctx.finish()
    print(summary.line())
    print(f"short prompts: {ctx.store.root.join('shortprompts').uri()}")
    if summary.errors:
        print(f"errors:        {ctx.store.root.join('_errors', 'shortprompts').uri()}")
    return 1 if summary.shards_failed else 0
