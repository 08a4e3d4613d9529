"""`any2capins captions --run RUN_DIR`: section writers, then merge + checks, then usage."""

from __future__ import annotations

import argparse

SETTINGS = "captions/settings.json"  # what the last complete run's sections depend on


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
    from any2capins.captions.usage import usage_lines, usage_report
    from any2capins.captions.writers import SectionsStage, read_api_key
    from any2capins.config import load_config
    from any2capins.errors import InputError
    from any2capins.io.shards import ShardStore
    from any2capins.runlog import RunContext
    from any2capins.runtime import ShardTask, run_stage

    config = load_config(args.config, args.overrides)
    if args.backend:
        config.captions.backend = args.backend
    if config.captions.backend == "openai":
        read_api_key(config.captions.llm.api_key_env)  # fail early; workers read it themselves
    store = ShardStore(args.run)
    indices = store.shard_indices("clips")
    if not indices:
        raise InputError(f"{args.run}: no clips/ shards; run `any2capins ingest` first")
    ctx = RunContext(args.run, "captions", config)
    sizes = {d.shard: d.output_rows for d in store.done_records("ingest")}
    stage = SectionsStage(config.captions, args.run)
    tasks = [ShardTask(index=i, input_dir="clips") for i in indices]
    settings = stage.settings()
    changed = (bool(store.done_records(stage.name)) and not args.force
               and (store.read_json(SETTINGS) if store.exists(SETTINGS) else None) != settings)
    if changed:
        print("captions: backend, prompts or sampling changed since the last run: redoing all "
              "shards (unchanged calls come from the cache)")
    summary = run_stage(stage, tasks, args.run, config.runtime, force=args.force or changed,
                        sizes=sizes)
    ctx.add_summary(summary)
    if not summary.shards_failed:
        store.write_json(SETTINGS, settings)
    # merge is cheap and pure Python: always redone in-process, so it tracks the sections
    local = config.runtime.model_copy(update={"executor": "local", "progress": False})
    merge_tasks = [ShardTask(index=i, input_dir="captions/sections")
                   for i in store.shard_indices("captions/sections")]
    merged = run_stage(MergeStage(config.captions), merge_tasks, args.run, local, force=True)
    ctx.add_summary(merged)
    write_miradata_csv(store)
    report = usage_report(store, summary.usage, config.captions.price,
                          config.captions.llm.model if config.captions.backend == "openai"
                          else None)
    store.write_json("captions/usage.json", report)
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
    return 1 if summary.shards_failed or merged.shards_failed else 0
