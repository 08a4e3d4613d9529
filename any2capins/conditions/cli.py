"""`any2capins extract --run RUN_DIR [--stages depth,pose,refs]` and
`any2capins models tiny DIR`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "extract", parents=[common], help="extract conditions (depth, pose, camera, refs)",
        description="Run the selected condition stages over RUN_DIR/clips/ (written by "
        "`ingest`) and write RUN_DIR/conditions/<stage>/shard-NNNNN.parquet. Each clip is "
        "decoded once for every stage (and its contact sheet); each stage keeps its own "
        "workers and resources; pose and refs share detections; done shards are skipped.",
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
    from any2capins.errors import InputError

    try:
        written = write_tiny_models(args.dir, seed=args.seed)
    except OSError as exc:  # an unwritable or impossible DIR is bad input: one line, exit 2
        raise InputError(f"{args.dir}: cannot write the tiny models there "
                         f"({exc.strerror or exc})") from None
    for name, path in written.items():
        print(f"{name:<10} {path}")
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from any2capins.conditions.common import check_model_paths
    from any2capins.conditions.extract import run_extract_stages
    from any2capins.conditions.registry import STAGES, build_stage, parse_stages
    from any2capins.config import load_config
    from any2capins.errors import InputError
    from any2capins.io.shards import ShardStore
    from any2capins.runlog import RunContext

    config = load_config(args.config, args.overrides)
    names = parse_stages(args.stages)
    store = ShardStore(args.run)
    indices = store.shard_indices("clips")
    if not indices:
        raise InputError(f"{args.run}: no clips/ shards; run `any2capins ingest SRC --out "
                         f"{args.run}` first")
    stages = [build_stage(n, config) for n in names]  # config problems surface before any work
    _check_devices(config, names)
    for name in names:  # a missing local model folder is one line, before run.json/logs exist
        check_model_paths(getattr(config, STAGES[name].section), STAGES[name].section)
    ctx = RunContext(args.run, "extract", config)
    ctx.add_summary({"stage": "extract", "stages": names, "models": _models(config, names)})
    # one decode pass per clip serves every stage and the sheet (conditions/extract.py)
    result = run_extract_stages(stages, config, args.run, indices, force=args.force)
    failed = False
    for stage, summary in zip(stages, result.summaries, strict=True):
        ctx.add_summary(summary)
        print(summary.line())
        print(f"  -> {store.root.join(stage.output_dir).uri()}")
        failed |= bool(summary.shards_failed)
    if result.decode.clips:
        print(result.decode.line())
    ctx.add_summary({"stage": "decode", "clips": result.decode.clips,
                     "failed": result.decode.failed, "seconds": round(result.decode.seconds, 3),
                     "peak_plan_bytes": result.decode.peak_plan_bytes})
    if config.sheet.during_extract:  # contact sheets for annotators (any2capins sheet --all)
        problems = result.sheet_problems
        print(f"sheets: {result.sheets_written} written"
              f"{f', {len(problems)} could not be drawn (see the log)' if problems else ''} -> "
              f"{store.root.join('sheets').uri()}")
        ctx.add_summary({"stage": "sheets", "written": result.sheets_written,
                         "problems": problems[:50]})
    ctx.finish()
    return 1 if failed else 0


def _check_devices(config: object, names: list[str]) -> None:
    """Device settings that cannot work, found before any worker starts (ConfigError). Whether
    a GPU is really there is checked where the model runs: in each worker's setup (the driver
    of a cluster is often a CPU node). In-process, the driver is that worker."""
    import logging

    from any2capins.conditions.common import check_device
    from any2capins.conditions.registry import STAGES
    from any2capins.errors import ConfigError

    on_ray = config.runtime.executor == "ray"
    for name in names:
        key = STAGES[name].section
        section = getattr(config, key)
        device = str(getattr(section, "device", "cpu"))
        gpus = section.resources.num_gpus if hasattr(section, "resources") else 0.0
        if device.startswith("cuda") and not on_ray:
            check_device(device, f"{key}.device")
        elif device.startswith("cuda") and gpus <= 0:
            raise ConfigError(f"{key}.device={device} needs {key}.resources.num_gpus > 0 on Ray "
                              "(Ray gives GPUs only to workers that ask; fractions such as 0.25 "
                              "let several workers share one GPU)")
        elif on_ray and gpus > 0 and not device.startswith("cuda"):
            logging.getLogger(__name__).warning(
                "%s.resources.num_gpus=%g but %s.device=%s: the GPU share is reserved unused",
                key, gpus, key, device)


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
