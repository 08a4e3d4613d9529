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
    from any2capins.models.common import utc_now
    from any2capins.runlog import run_single_stage
    from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

    def build(config):
        if config.shortprompts.backend == "openai":
            from any2capins.captions.cli import check_server

            check_server(config.shortprompts.llm, "shortprompts.llm")
        return ShortPromptsStage(config.shortprompts, args.run)

    started = utc_now()
    ctx, summary = run_single_stage(args, "shortprompts", build, INPUT_DIR,
                                    f"any2capins review export --run {args.run}")
    llm = ctx.config.shortprompts.backend == "openai"
    events = run_events(ctx.store, started) if llm else None
    stopped = None
    if events is not None:
        from any2capins.llm.breaker import server_stopped

        ctx.add_summary({"stage": "shortprompts-llm", **events})
        # a worker whose server stopped answering (circuit breaker) left the job unfinished
        stopped = server_stopped(ctx, "shortprompts", started, ctx.config.shortprompts.llm,
                                 done=summary.outputs, noun="prompts")
    ctx.finish()
    print(summary.line())
    if events is not None:
        u = events["usage"]
        print(f"  this run: {u['prompt_tokens']}+{u['completion_tokens']} tokens, "
              f"{u['calls']} requests, {u['cached_calls']} cached"
              + "".join(f"; {k} {v}" for k, v in events["retries"].items()))
    print(f"short prompts: {ctx.store.root.join('shortprompts').uri()}")
    if summary.errors:
        print(f"errors:        {ctx.store.root.join('_errors', 'shortprompts').uri()}")
    if stopped is not None:  # one line on stderr, exit 1 (cli.run_handler)
        from any2capins.errors import StageError

        raise StageError(stopped.line())
    return 1 if summary.shards_failed else 0


def run_events(store, started) -> dict:
    """What the shards written since `started` sent (usage of every attempt; cache hits apart)
    and the causes of their retries, re-asks and regenerations, counted."""
    import json
    from collections import Counter

    from any2capins.models.common import TokenUsage
    from any2capins.models.instances import ShortPromptRecord

    done = [d for d in store.done_records("shortprompts") if d.started >= started]
    usage, causes = TokenUsage(), Counter()
    for d in done:
        run = getattr(d, "run_usage", None)  # a retry-only write: just its own usage
        usage = usage + (run if run is not None else d.usage or TokenUsage())
        for row in store.read_shard("shortprompts", d.shard, ShortPromptRecord):
            if row.written >= started:
                causes.update(row.retries)
    shards = {d.shard for d in done}
    for err in store.read_errors("shortprompts"):
        if err.shard in shards and err.time >= started:
            try:
                causes.update(json.loads(err.detail or "{}").get("retries") or [])
            except (ValueError, AttributeError):
                continue  # a rule-check failure: the detail is the prompt text
    return {"usage": usage.model_dump(), "shards_run": sorted(shards),
            "retries": dict(sorted(causes.items()))}
