"""Commands that combine stage packages (which never import each other): `extract` runs the
curation filters (curation/) before the condition stages (conditions/), `filter` runs the
filters alone, `models tiny` writes every stage's tiny test models, `models fetch` downloads
the models a config names (io/hub.py). Like cli.py, this module
sits above the stage packages."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "extract", parents=[common], help="extract conditions (depth, pose, camera, refs)",
        description="Score every clip of RUN_DIR/clips/ (quality signals, filters, "
        "near-duplicates: RUN_DIR/quality/; `filter.enabled: false` skips it), then run the "
        "selected condition stages over the clips kept and write "
        "RUN_DIR/conditions/<stage>/shard-NNNNN.parquet. Each clip is decoded once for every "
        "condition stage (and its contact sheet); each stage keeps its own workers and "
        "resources; pose and refs share detections; done shards are skipped.")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    p.add_argument("--stages", default=None, metavar="LIST",
                   help="comma-separated stages (default: every registered stage)")
    p.add_argument("--force", action="store_true", help="redo shards already completed")
    p.set_defaults(handler=run_extract)
    f = subparsers.add_parser(
        "filter", parents=[common], help="quality signals, filters and near-duplicates",
        description="Compute the quality signals of every clip of RUN_DIR/clips/ (motion, "
        "brightness, sharpness, burned-in text, embedding, frame hashes), decide which clips "
        "the filters leave out and which are near-duplicates across the run, and write "
        "RUN_DIR/quality/ (`extract` runs this first). docs/curation.md lists the signals.")
    f.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder (local or s3://)")
    f.add_argument("--force", action="store_true", help="redo shards already completed")
    f.set_defaults(handler=run_filter)

    m = subparsers.add_parser("models", parents=[common], help="model utilities")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    tiny = msub.add_parser("tiny", help="write tiny random models (offline demo and tests)",
                           description="Write tiny randomly-initialised models of every stage "
                           "to DIR/<name> (depth, detector, DWPose ONNX, ViTPose, SAM2, CLIP; "
                           "mmpose when installed), loadable the way the real ones are. "
                           "Outputs made with them are flagged tiny_model.")
    tiny.add_argument("dir", metavar="DIR")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(handler=run_tiny)
    fetch = msub.add_parser(
        "fetch", parents=[common], help="download the models a config names (for machines "
        "without hub access)", description="Download every model the config names for the "
        "selected stages (depth, detector, DWPose, SAM2, curation's embedding model) from the "
        "Hugging Face hub, only the files the loaders read: into the HF cache, or with --to "
        "DIR into DIR/<org>--<name> and print the --set lines that point a config at DIR. "
        "Copy DIR to a machine without hub access and add those lines. Files already there "
        "are not downloaded again.")
    fetch.add_argument("--stages", default=None, metavar="LIST",
                       help="comma-separated stages, 'filter' for curation (default: every "
                       "condition stage, and curation when filter.enabled)")
    fetch.add_argument("--to", default=None, metavar="DIR",
                       help="download below DIR instead of the HF cache")
    fetch.set_defaults(handler=run_fetch)


def run_extract(args: argparse.Namespace) -> int:
    from any2capins.conditions.jobs import extract_job
    from any2capins.config import load_config
    from any2capins.curation.jobs import filter_pass, quality_gate
    from any2capins.runtime.job import run_job

    config = load_config(args.config, args.overrides)
    first = [filter_pass(args.run, config)] if config.filter.enabled else []
    return run_job(extract_job(args, config, first=first, gate=quality_gate(config)))


def run_filter(args: argparse.Namespace) -> int:
    from any2capins.curation.jobs import filter_job
    from any2capins.runtime.job import run_job

    return run_job(filter_job(args))


def run_tiny(args: argparse.Namespace) -> int:
    from any2capins.conditions.models_tiny import write_tiny_models
    from any2capins.curation.embedding import tiny_clip
    from any2capins.errors import InputError

    try:
        written = write_tiny_models(args.dir, seed=args.seed, extra={"clip": tiny_clip})
    except OSError as exc:  # an unwritable or impossible DIR is bad input: one line, exit 2
        raise InputError(f"{args.dir}: cannot write the tiny models there "
                         f"({exc.strerror or exc})") from None
    for name, path in written.items():
        print(f"{name:<10} {path}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    """`models fetch`: download the config's models, one line per model, then the --set lines
    (with --to) or where the cache is; exit 1 when a model could not be fetched."""
    from any2capins.config import load_config
    from any2capins.errors import StageError
    from any2capins.io import hub

    config = load_config(args.config, args.overrides)
    refs = hub.models_of(config, fetch_stages(args.stages))
    if not refs:
        print("no models to fetch for these stages")
        return 0

    def show(f: hub.Fetched) -> None:
        name = f"{f.ref.ref} ({f.ref.file})" if f.ref.file else f.ref.ref
        print(f"{f.status:<8} {f.ref.setting:<32} {name} -> {f.path or '-'}  {f.detail}",
              flush=True)

    results = hub.fetch(refs, args.to, report=show)
    if args.to is not None and (lines := hub.set_lines(results, args.to)):
        print(f"\nCopy {args.to} to the machines that run the pipeline (the same path on every "
              "node) and add:")
        print("\n".join(lines))
    elif args.to is None:
        print(f"\nThe models are in the HF cache ({hub.hub_cache()}): share or copy it (HF_HOME)"
              " to the machines that run the pipeline, and set HF_HUB_OFFLINE=1 there.")
    failed = [f.ref.setting for f in results if f.status == "failed"]
    if failed:
        raise StageError(f"{len(failed)} of {len(results)} model settings could not be "
                         f"fetched: {', '.join(failed)}")
    return 0


def fetch_stages(spec: str | None) -> list[str]:
    """`--stages` of `models fetch`: condition stages and 'filter' (curation); None: all."""
    from any2capins.conditions.registry import STAGES
    from any2capins.errors import ConfigError

    valid = [*STAGES, "filter"]
    names = valid if not spec else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ConfigError(f"--stages: unknown stage(s) {unknown}; valid: {', '.join(valid)}")
    return names
