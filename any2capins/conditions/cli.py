"""`any2capins extract --run RUN_DIR [--stages depth,pose,refs]` and
`any2capins models tiny DIR`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "extract", parents=[common], help="extract conditions (depth, pose, camera, refs)",
        description="Run the selected condition stages over RUN_DIR/clips/ (written by "
        "`ingest`) and write RUN_DIR/conditions/<stage>/shard-NNNNN.parquet. Stages run one "
        "after another, each with its own workers and resources; done shards are skipped.",
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

    for name, path in write_tiny_models(args.dir, seed=args.seed).items():
        print(f"{name:<10} {path}")
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from any2capins.conditions.registry import build_stage, parse_stages
    from any2capins.config import load_config
    from any2capins.errors import InputError
    from any2capins.io.shards import ShardStore
    from any2capins.runlog import RunContext
    from any2capins.runtime import ShardTask, run_stage

    config = load_config(args.config, args.overrides)
    names = parse_stages(args.stages)
    store = ShardStore(args.run)
    indices = store.shard_indices("clips")
    if not indices:
        raise InputError(f"{args.run}: no clips/ shards; run `any2capins ingest SRC --out "
                         f"{args.run}` first")
    sizes = {d.shard: d.output_rows for d in store.done_records("ingest")}
    tasks = [ShardTask(index=i, input_dir="clips") for i in indices]
    stages = [build_stage(n, config) for n in names]  # config problems surface before any work
    _check_devices(config, names)
    ctx = RunContext(args.run, "extract", config)
    ctx.add_summary({"stage": "extract", "stages": names, "models": _models(config, names)})
    failed = False
    for stage in stages:
        summary = run_stage(stage, tasks, args.run, config.runtime, force=args.force, sizes=sizes)
        ctx.add_summary(summary)
        print(summary.line())
        print(f"  -> {store.root.join(stage.output_dir).uri()}")
        failed |= bool(summary.shards_failed)
    if config.sheet.during_extract:  # contact sheets for annotators (any2capins sheet --all)
        from any2capins.conditions.sheet import write_sheets

        print(f"sheets: {len(write_sheets(args.run, config.sheet))} -> "
              f"{store.root.join('sheets').uri()}")
    ctx.finish()
    return 1 if failed else 0


def _check_devices(config: object, names: list[str]) -> None:
    """'cuda' without a GPU stops the command before any worker starts (ConfigError)."""
    from any2capins.conditions.common import check_device
    from any2capins.conditions.registry import STAGES

    for name in names:
        section = getattr(config, STAGES[name].section)
        device = getattr(section, "device", "cpu")
        if device == "cuda":
            check_device(device, f"{STAGES[name].section}.device")


def _models(config: object, names: list[str]) -> dict[str, dict[str, object]]:
    """Model references per stage with their tiny-model flag, for the run record."""
    from any2capins.conditions.common import is_tiny

    refs: dict[str, list[str]] = {}
    if "depth" in names:
        refs["depth"] = [config.depth.model]
    if "pose" in names:
        pose = config.pose
        backend = pose.vitpose.model if pose.backend == "vitpose" else (pose.mmpose.config or "")
        refs["pose"] = [pose.detector.model, backend]
    if "refs" in names:
        refs["refs"] = [config.refs.detector.model]
    return {k: {"models": v, "tiny_model": any(is_tiny(m) for m in v)} for k, v in refs.items()}
