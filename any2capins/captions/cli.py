"""`any2capins captions --run RUN_DIR`: section writers, then merge + checks, then usage."""

from __future__ import annotations

import argparse


def check_server(llm, setting: str, images: bool = False) -> None:
    """Key, base_url and (unless llm.preflight is off) one cheap request to the server, before
    any work: a problem stops the command with one line naming URL and model (exit 2). With
    `images` (captions), also one with an image (llm.preflight_images)."""
    from any2capins.llm.client import read_api_key, require_base_url
    from any2capins.llm.preflight import preflight

    require_base_url(llm, setting)
    read_api_key(llm.api_key_env, f"{setting}.api_key_env")  # workers read it themselves
    if llm.preflight:
        preflight(llm, setting, images=images)


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
    from any2capins.captions.merge import MergeStage, write_miradata_csv
    from any2capins.captions.usage import run_events, usage_lines, usage_report
    from any2capins.captions.writers import SectionsStage
    from any2capins.config import load_config
    from any2capins.errors import InputError, StageError
    from any2capins.io.shards import ShardStore
    from any2capins.llm.breaker import server_stopped
    from any2capins.models.common import utc_now
    from any2capins.runlog import RunContext
    from any2capins.runtime import ShardTask, run_stage

    config = load_config(args.config, args.overrides)
    if args.backend:
        config.captions.backend = args.backend
    store = ShardStore(args.run)
    indices = store.shard_indices("clips")
    if not indices:
        raise InputError(f"{args.run}: no clips/ shards; run `any2capins ingest` first")
    if config.captions.backend == "openai":
        check_server(config.captions.llm, "captions.llm", images=True)
    ctx = RunContext(args.run, "captions", config)
    sizes = {d.shard: d.output_rows for d in store.done_records("ingest")}
    stage = SectionsStage(config.captions, args.run, decode=config.decode)
    tasks = [ShardTask(index=i, input_dir="clips") for i in indices]
    # a shard written under other settings (backend, prompts, sampling) or from other condition
    # rows is redone by the runner (the stage's fingerprint and upstream); unchanged calls come
    # from the cache, and an interrupted run resumes with the shards it had not finished
    started = utc_now()
    summary = run_stage(stage, tasks, args.run, config.runtime, force=args.force, sizes=sizes)
    ctx.add_summary(summary)
    events = run_events(store, started)
    ctx.add_summary({"stage": "captions-llm", **events, "usage": events["usage"].model_dump()})
    # merge is cheap and pure Python: always redone in-process, so it tracks the sections
    local = config.runtime.model_copy(update={"executor": "local", "progress": False})
    merge_tasks = [ShardTask(index=i, input_dir="captions/sections")
                   for i in store.shard_indices("captions/sections")]
    merged = run_stage(MergeStage(config.captions), merge_tasks, args.run, local, force=True)
    ctx.add_summary(merged)
    write_miradata_csv(store)
    report = usage_report(store, events["usage"], config.captions.price,
                          config.captions.llm.model if config.captions.backend == "openai"
                          else None, events)
    store.write_json("captions/usage.json", report)
    # a worker whose server stopped answering (circuit breaker) left the job unfinished
    stopped = server_stopped(ctx, "captions", started, config.captions.llm, done=summary.ok,
                             noun="clips") if config.captions.backend == "openai" else None
    ctx.finish()
    print(summary.line())
    print(merged.line())
    if config.captions.backend == "openai":
        print("\n".join(usage_lines(report)))
    for name in ("captions/sections", "captions/merged", "captions/miradata.csv",
                 "captions/usage.json"):
        print(f"{name + ':':<20} {store.root.join(name).uri()}")
    if summary.errors:
        print(f"{'errors:':<20} {store.root.join('_errors', 'captions').uri()}")
    if stopped is not None:  # one line on stderr, exit 1 (cli.run_handler)
        raise StageError(stopped.line())
    return 1 if summary.shards_failed or merged.shards_failed else 0
