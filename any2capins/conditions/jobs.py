"""The `extract` job: every selected condition stage (and the contact sheet) in ONE pass over
clips/, each clip decoded once for all of them (runtime/scheduler.py). Stages keep their own
models, resources, outputs, error rows and completion records; pose and refs share a detector
pass when their detector settings and frames are equal."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from any2capins.runtime.job import Job, JobState, Pass
from any2capins.runtime.stage import Gate


def extract_job(args: argparse.Namespace, config: Any, *, first: Sequence[Pass] = (),
                gate: Gate | None = None) -> Job:
    """The job of `any2capins extract --run RUN_DIR [--stages ...] [--force]`: the passes in
    `first` (the curation filters), then the condition stages and the sheet in one pass, the
    items `gate` leaves out skipped by every stage but the sheet."""
    from any2capins.conditions.common import check_model_paths
    from any2capins.conditions.registry import STAGES, build_stage, parse_stages
    from any2capins.conditions.sheet_stage import SheetStage
    from any2capins.io.hub import check_models
    from any2capins.models.tables import folder

    names = parse_stages(args.stages)
    stages = [build_stage(n, config) for n in names]  # config problems surface before any work
    if config.sheet.during_extract:  # contact sheets for annotators, from the same decode pass
        stages.append(SheetStage(config.sheet, args.run))

    def check() -> None:
        _check_devices(config, names)
        for name in names:  # a missing local model folder is one line, before run.json/logs
            check_model_paths(getattr(config, STAGES[name].section), STAGES[name].section)
        # a model neither local, in the HF cache nor reachable: one line, not every worker
        # retrying the hub (curation's models too when its pass runs first)
        curation = ["filter"] if first and config.filter.enabled else []
        check_models(config, [*names, *curation], getattr(args, "config", ()),
                     hint_stages=[*names, *curation] if args.stages else None)

    def record(state: JobState) -> None:
        state.ctx.add_summary({"stage": "extract", "stages": names,
                               "models": _models(config, names)})

    main = Pass(stages, folder("clips"), gate=gate)
    return Job("extract", args.run, config, [*first, main], force=args.force,
               hint=f"any2capins ingest SRC --out {args.run}", checks=[check], before=[record])


def sheets_job(args: argparse.Namespace, config: Any) -> Job:
    """The job of `any2capins sheet --run RUN_DIR --all`: the sheet stage alone over clips/."""
    from any2capins.conditions.sheet_stage import SheetStage
    from any2capins.models.tables import folder

    return Job("sheet", args.run, config, [Pass([SheetStage(config.sheet, args.run)],
                                                folder("clips"))], force=args.force,
               hint=f"any2capins ingest SRC --out {args.run}")


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
    from any2capins.models.modelrefs import is_tiny

    refs: dict[str, list[str]] = {}
    if "depth" in names:
        refs["depth"] = [config.depth.model]
    if "pose" in names:
        pose = config.pose
        backend = {"vitpose": pose.vitpose.model, "dwpose": pose.dwpose.model}.get(
            pose.backend, pose.mmpose.config or "")
        refs["pose"] = [pose.detector.model, backend]
    if "refs" in names:
        refs["refs"] = [config.refs.detector.model]
    return {k: {"models": v, "tiny_model": any(is_tiny(m) for m in v)} for k, v in refs.items()}
