"""`extract`: every selected condition stage from ONE decode pass per clip, shard by shard.

How it runs (docs/conditions.md explains the choice, with measurements):
- Stages stay separate typed units (`runtime.Stage`) with their own models, settings, outputs,
  error rows and completion records. They are grouped into *worker groups*: pose and refs
  share a group when they share a detector (one detector per worker, detections computed once
  per clip and seen by both); depth and camera are groups of their own. Each group has its own
  workers and resources, so depth can sit on GPU actors while camera runs on CPUs.
- Per shard, each clip is decoded once for the union of what the pending stages (and the
  contact sheet) ask for (`plan.frame_requests`); each group gets its part of the clip's plan
  as the shard's `ShardFrames` context and its stages take their frames from it.
- Local executor: one process; plans are spilled to a temp folder as memory-mapped arrays, so
  RAM holds about one clip's plan at a time. Ray executor: decode tasks put each clip's plan
  in the object store (one object per group), group actors process whole shards, at most a few
  shards are in flight, and a shard's objects are released when every group is done with it.
- Resume per (stage, shard) through the runtime's `plan` (completion records, fingerprints,
  retries); sheets are drawn for clips of shards processed now and for clips without one.
  Nothing per clip aborts the command: decode failures become each stage's error rows, a
  sheet that cannot be drawn is logged and counted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.conditions.plan import (
    ClipPlan,
    ShardFrames,
    decode_clip_plan,
    detect_labels,
    frame_requests,
    shares_detector,
)
from any2capins.errors import StageError
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.common import ShardDone
from any2capins.runtime.executors import apply_threads
from any2capins.runtime.runner import StageSummary, absolute_run_dir, plan
from any2capins.runtime.shard import process_shard
from any2capins.runtime.stage import ShardTask, Stage

log = logging.getLogger(__name__)


@dataclass
class Group:
    """Stages that run in one worker (one process holds their models)."""

    stages: list[Stage]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]


@dataclass
class DecodeSummary:
    """What the decode passes of one extract did (one line next to the stage lines)."""

    clips: int = 0
    failed: int = 0
    seconds: float = 0.0
    peak_plan_bytes: int = 0
    plan_bytes: list[int] = field(default_factory=list)

    def add(self, p: ClipPlan) -> None:
        self.add_stats(p.error, p.seconds, p.nbytes)

    def add_stats(self, error: str | None, seconds: float, nbytes: int) -> None:
        self.clips += 1
        self.failed += error is not None
        self.seconds += seconds
        self.plan_bytes.append(nbytes)
        self.peak_plan_bytes = max(self.peak_plan_bytes, nbytes)

    def line(self) -> str:
        mean = np.mean(self.plan_bytes) / 2**20 if self.plan_bytes else 0.0
        return (f"{'decode':<14}{self.clips:>7} clips {self.failed:>6} failed  one pass per "
                f"clip, {self.seconds:.1f} s; frame plan per clip: mean {mean:.1f} MB, "
                f"max {self.peak_plan_bytes / 2**20:.1f} MB")


@dataclass
class ShardWork:
    """One shard's pending work: per stage the runtime's task (with provenance / retry keys)."""

    index: int
    tasks: dict[str, ShardTask]
    sheet: bool

    def clip_filter(self) -> set[str] | None:
        """Clip ids to decode, or None for all: only retried clips when every pending task is
        a retry of some items."""
        if not self.tasks or any(t.retry is None for t in self.tasks.values()) or self.sheet:
            return None
        return {cid for t in self.tasks.values() for cid, _ in (t.retry or ()) if cid}


def make_groups(stages: Sequence[Stage], config: Any) -> list[Group]:
    """Pose and refs in one group when they share a detector; every other stage alone."""
    names = [s.name for s in stages]
    shared = shares_detector(config, names)
    groups: list[Group] = []
    for stage in stages:
        people = next((g for g in groups if g.names[0] in ("pose", "refs")), None)
        if shared and stage.name in ("pose", "refs") and people is not None:
            people.stages.append(stage)
        else:
            groups.append(Group([stage]))
    return groups


@dataclass
class ExtractResult:
    summaries: list[StageSummary]
    decode: DecodeSummary
    sheets_written: int = 0
    sheet_problems: list[str] = field(default_factory=list)


def plan_work(stages: Sequence[Stage], store: ShardStore, indices: Sequence[int], *,
              force: bool, sheets: bool) -> tuple[list[ShardWork], list[StageSummary]]:
    """Per shard, the stages to run (runtime resume rules) and whether sheets are due."""
    tasks = [ShardTask(index=i, input_dir="clips") for i in indices]
    summaries: list[StageSummary] = []
    by_shard: dict[int, dict[str, ShardTask]] = {i: {} for i in indices}
    for stage in stages:
        store.sweep_temp_files(stage.output_dir, f"_errors/{stage.name}",
                               f"_done/{stage.name}")
        summary = StageSummary(stage=stage.name, shards_total=len(tasks))
        for task in plan(stage, tasks, store, force, summary):
            by_shard[task.index][stage.name] = task
        summaries.append(summary)
    work = []
    for i in indices:
        due = sheets and (bool(by_shard[i]) or force or _sheets_missing(store, i))
        if by_shard[i] or due:
            work.append(ShardWork(i, by_shard[i], due))
    return work, summaries


def _sheets_missing(store: ShardStore, index: int) -> bool:
    return any(not store.exists(f"sheets/{c.clip_id}.png")
               for c in store.read_shard("clips", index, ClipRecord))


def run_extract_stages(stages: Sequence[Stage], config: Any, run_dir: str,
                       indices: Sequence[int], *, force: bool = False) -> ExtractResult:
    """Run `stages` over clips/ shards `indices` of `run_dir`, decoding each clip once."""
    run_dir = absolute_run_dir(run_dir)
    store = ShardStore(run_dir)
    sheets = bool(config.sheet.during_extract)
    work, summaries = plan_work(stages, store, indices, force=force, sheets=sheets)
    by_name = {s.stage: s for s in summaries}
    result = ExtractResult(summaries, DecodeSummary())
    groups = make_groups(stages, config)
    t0 = time.perf_counter()
    stage_seconds: dict[str, list[float]] = {}
    runner = _run_ray if config.runtime.executor == "ray" else _run_local
    for index, dones, sheet_frames in runner(groups, config, run_dir, work, result.decode):
        for done in dones:
            s = by_name[done.stage]
            if isinstance(done, ShardDone):
                stage_seconds.setdefault(done.stage, []).append(done.seconds)
                task = next(w for w in work if w.index == index).tasks[done.stage]
                s.add(done, getattr(task, "previous", None))
            else:
                s.shards_failed.append(index)
                log.error("%s: %s", done.stage, done.message)
        if sheet_frames is not None:
            _write_sheets(run_dir, index, config.sheet, sheet_frames, result)
    wall = time.perf_counter() - t0
    for s in summaries:  # the stage's own worker time (the wall is shared by all stages)
        s.seconds = sum(stage_seconds.get(s.stage, [])) or wall
    return result


@dataclass(frozen=True)
class GroupFailure:
    """A stage's shard that failed as a whole (its worker was lost after retries)."""

    stage: str
    message: str


Yield = tuple[int, list[ShardDone | GroupFailure], dict[str, Any] | None]


def _shard_requests(config: Any, w: ShardWork) -> dict[str, Any]:
    return frame_requests(config, list(w.tasks), sheet=w.sheet)


def _context(plans: dict[str, Any], config: Any, names: list[str]) -> ShardFrames:
    shared = shares_detector(config, names)
    return ShardFrames(plans, aliases={"refs": "pose"} if shared else {},
                       detect_labels=detect_labels(config, names))


def _run_local(groups: list[Group], config: Any, run_dir: str, work: list[ShardWork],
               decode: DecodeSummary) -> Iterator[Yield]:
    """In-process: models loaded once; per shard decode (spilled to disk), then each stage."""
    if not work:
        return
    for g in groups:
        for stage in g.stages:
            _setup(stage)
    store = ShardStore(run_dir)
    retries = config.runtime.max_item_retries
    for w in work:
        spill = Path(tempfile.mkdtemp(prefix="a2c-plan-"))
        try:
            plans = _decode_shard_local(store, w, config, spill, decode)
            ctx = _context(plans, config, list(w.tasks))
            dones: list[ShardDone | GroupFailure] = []
            for g in groups:
                for stage in g.stages:
                    if stage.name in w.tasks:
                        apply_threads(stage.resources)
                        task = replace(w.tasks[stage.name], context=ctx)
                        dones.append(process_shard(stage, store, task, retries))
            yield w.index, dones, (plans if w.sheet else None)
        finally:
            shutil.rmtree(spill, ignore_errors=True)


def _setup(stage: Stage) -> None:
    apply_threads(stage.resources)
    try:
        stage.setup()
    except Exception as exc:
        raise StageError(f"{stage.name}: setup failed: {type(exc).__name__}: {exc}") from exc


def _decode_shard_local(store: ShardStore, w: ShardWork, config: Any, spill: Path,
                        decode: DecodeSummary) -> dict[str, ClipPlan]:
    requests = _shard_requests(config, w)
    wanted = w.clip_filter()
    plans: dict[str, ClipPlan] = {}
    for k, clip in enumerate(store.read_shard("clips", w.index, ClipRecord)):
        if wanted is not None and clip.clip_id not in wanted:
            continue
        p = decode_clip_plan(clip, requests, config.decode)
        decode.add(p)
        plans[clip.clip_id] = spill_plan(p, spill / str(k))
    return plans


def spill_plan(p: ClipPlan, folder: Path) -> ClipPlan:
    """The plan with its frames written to `folder` and memory-mapped back (read-only), so a
    shard's plans cost disk, not RAM."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = {}
    for i, (name, s) in enumerate(p.frames.items()):
        path = folder / f"{i}.npy"
        np.save(path, s.frames)
        frames[name] = replace(s, frames=np.load(path, mmap_mode="r"))
    return ClipPlan(frames, p.error, p.seconds)


def _write_sheets(run_dir: str, index: int, cfg: Any, plans: dict[str, Any],
                  result: ExtractResult) -> None:
    from any2capins.conditions.sheet import write_shard_sheets

    try:
        written, problems = write_shard_sheets(run_dir, index, cfg, plans)
    except Exception as exc:  # noqa: BLE001 - sheets are for people; never fail the command
        written, problems = 0, [f"sheets of shard {index}: {type(exc).__name__}: {exc}"]
        log.warning("%s", problems[0])
    result.sheets_written += written
    result.sheet_problems.extend(problems)


def _run_ray(groups: list[Group], config: Any, run_dir: str, work: list[ShardWork],
             decode: DecodeSummary) -> Iterator[Yield]:
    from any2capins.conditions.extract_ray import run_on_ray

    yield from run_on_ray(groups, config, run_dir, work, decode)
