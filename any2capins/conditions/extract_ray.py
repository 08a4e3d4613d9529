"""The Ray side of `extract` (see conditions/extract.py for the design).

- One actor pool per worker group, each actor with its group's resources (the largest
  num_cpus / num_gpus / memory of its stages, `workers` actors); models load once per actor.
- Decode tasks (one per clip) return the clip's plan split per group (plus the sheet part and
  a few numbers), so each group's actor fetches only its own frames from the object store.
- At most `max(workers) + 1` shards are in flight; a shard's objects are dropped when every
  group is done with it, which bounds the object store to a few shards' frame plans.
- When the pools and one decode slot ask for more CPUs (or GPUs) than the cluster has, the
  reservations are scaled down together so every group runs side by side (logged), instead
  of waiting forever for resources that never come.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from any2capins.conditions.extract import (
    DecodeSummary,
    Group,
    GroupFailure,
    ShardWork,
    Yield,
    _context,
    _shard_requests,
)
from any2capins.conditions.plan import SHEET, ClipPlan, decode_clip_plan
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.common import ShardDone
from any2capins.runtime.executors import (
    apply_threads,
    check_visible,
    ensure_ray,
    start_actors,
    stop_actors,
)
from any2capins.runtime.shard import process_shard
from any2capins.runtime.stage import Stage

log = logging.getLogger(__name__)
LOG_ENVS = ("ANY2CAPINS_DECODE_LOG", "ANY2CAPINS_DETECT_LOG")


class _GroupActor:
    """Holds the stages of one group for its whole life."""

    def __init__(self, stages: list[Stage], run_dir: str, retries: int,
                 env: dict[str, str]) -> None:
        os.environ.update(env)  # accounting logs asked for by the driver (tests, benchmarks)
        self.stages = stages
        self.store = ShardStore(run_dir)
        self.retries = retries

    def setup(self, probe: str | None = None) -> int:
        check_visible(probe, self.store.run_dir)
        for stage in self.stages:
            apply_threads(stage.resources)
            stage.setup()
        return os.getpid()

    def run(self, tasks: dict[str, Any], context: Any) -> list[ShardDone]:
        from dataclasses import replace

        out = []
        for stage in self.stages:
            if stage.name in tasks:
                apply_threads(stage.resources)
                task = replace(tasks[stage.name], context=context)
                out.append(process_shard(stage, self.store, task, self.retries))
        return out


def _decode_task(clip: ClipRecord, requests: dict[str, Any], settings: Any,
                 parts: list[set[str]], env: dict[str, str]) -> tuple[Any, ...]:
    """One clip, one decode pass: its plan split into `parts`, then (error, seconds, bytes)."""
    os.environ.update(env)
    p = decode_clip_plan(clip, requests, settings)
    return (*[p.subset(names) for names in parts], (p.error, p.seconds, p.nbytes))


@dataclass
class _Pool:
    group: Group
    actors: list[Any]
    free: list[Any] = field(default_factory=list)


@dataclass
class _Shard:
    work: ShardWork
    parts: list[set[str]]
    refs: dict[str, list[Any]]  # clip id -> one ref per part
    waiting: set[int]  # group positions still to run
    stats_left: int
    dones: list[ShardDone | GroupFailure] = field(default_factory=list)
    started: set[int] = field(default_factory=set)


def _scale(groups: list[Group]) -> tuple[float, float]:
    """(cpu factor, gpu factor) so all pools plus one decode slot fit the cluster."""
    import ray

    have = ray.cluster_resources()
    cpus = sum(_res(g, "num_cpus") * _res(g, "workers") for g in groups) + 1.0
    gpus = sum(_res(g, "num_gpus") * _res(g, "workers") for g in groups)
    fc = min(1.0, have.get("CPU", cpus) / cpus)
    fg = min(1.0, have.get("GPU", 0.0) / gpus) if gpus and have.get("GPU") else 1.0
    if fc < 1 or fg < 1:
        log.warning("extract: the stage pools ask for %.1f CPUs / %.1f GPUs, the cluster has "
                    "%s / %s: reservations scaled by %.2f / %.2f so all stages run side by side",
                    cpus, gpus, have.get("CPU"), have.get("GPU", 0), fc, fg)
    return fc, fg


def _res(g: Group, key: str) -> float:
    return max(float(getattr(s.resources, key) or 0) for s in g.stages)


def _pool(g: Group, run_dir: str, config: Any, scale: tuple[float, float],
          env: dict[str, str]) -> _Pool:

    options: dict[str, Any] = {"num_cpus": _res(g, "num_cpus") * scale[0],
                               "num_gpus": _res(g, "num_gpus") * scale[1],
                               "max_restarts": 2, "max_task_retries": 2}
    if _res(g, "memory_gb"):
        options["memory"] = int(_res(g, "memory_gb") * 2**30)
    custom = {k: v for s in g.stages for k, v in s.resources.resources.items()}
    if custom:  # custom Ray resources (node types, or GPUs' stand-ins in tests)
        options["resources"] = custom
    # a worker no node can hold is one clear line, not a wait forever (runtime/cluster.py);
    # every worker checks that it sees the run folder
    actors = start_actors("+".join(g.names), _GroupActor, options, int(_res(g, "workers")),
                          run_dir=run_dir,
                          args=(g.stages, run_dir, config.runtime.max_item_retries, env))
    return _Pool(g, actors, list(actors))


def run_on_ray(groups: list[Group], config: Any, run_dir: str, work: list[ShardWork],
               decode: DecodeSummary) -> Iterator[Yield]:
    if not work:
        return

    ensure_ray(config.runtime)
    env = {k: os.environ[k] for k in LOG_ENVS if os.environ.get(k)}
    scale = _scale(groups)
    pools: list[_Pool] = []
    sched: _Scheduler | None = None
    try:
        for g in groups:
            pools.append(_pool(g, run_dir, config, scale, env))
        sched = _Scheduler(pools, config, run_dir, env, cpu_scale=scale[0], decode=decode)
        yield from sched.run(work)
    finally:  # cancel what still runs, kill every actor (Ctrl-C, an error, or done)
        stop_actors([a for p in pools for a in p.actors], list(sched.inflight) if sched else [])


class _Scheduler:
    def __init__(self, pools: list[_Pool], config: Any, run_dir: str, env: dict[str, str], *,
                 cpu_scale: float, decode: DecodeSummary) -> None:
        self.pools, self.config, self.env, self.decode = pools, config, env, decode
        self.store = ShardStore(run_dir)
        self.cpu_scale = cpu_scale
        self.window = max(len(p.actors) for p in pools) + 1
        self.active: dict[int, _Shard] = {}
        self.inflight: dict[Any, tuple[str, int, int, Any]] = {}

    def run(self, work: list[ShardWork]) -> Iterator[Yield]:
        import ray

        queue = list(work)
        while queue or self.active:
            while queue and len(self.active) < self.window:
                self._start(queue.pop(0))
            self._dispatch()
            finished = [i for i, s in self.active.items() if not s.waiting and not s.stats_left]
            for index in finished:
                yield self._finish(index)
            if finished:
                continue
            ready, _ = ray.wait(list(self.inflight), num_returns=1)
            self._collect(ready[0])

    def _start(self, w: ShardWork) -> None:
        import ray

        requests = _shard_requests(self.config, w)
        names = [set(g.group.names) for g in self.pools]
        parts = [{r for r in requests if r in n} for n in names]  # refs shares via "pose"
        parts.append({SHEET})
        task = ray.remote(_decode_task).options(num_cpus=self.cpu_scale,
                                                num_returns=len(parts) + 1)
        wanted = w.clip_filter()
        refs: dict[str, list[Any]] = {}
        for clip in self.store.read_shard("clips", w.index, ClipRecord):
            if wanted is None or clip.clip_id in wanted:
                out = task.remote(clip, requests, self.config.decode, parts, self.env)
                refs[clip.clip_id] = list(out[:-1])
                self.inflight[out[-1]] = ("stats", w.index, -1, None)
        waiting = {k for k, p in enumerate(self.pools) if set(p.group.names) & set(w.tasks)}
        self.active[w.index] = _Shard(w, parts, refs, waiting, len(refs))

    def _dispatch(self) -> None:
        for k, pool in enumerate(self.pools):
            for index, shard in self.active.items():
                if not pool.free:
                    break
                if k in shard.waiting and k not in shard.started:
                    actor = pool.free.pop(0)
                    names = [n for n in pool.group.names if n in shard.work.tasks]
                    ctx = _context({c: r[k] for c, r in shard.refs.items()}, self.config,
                                   list(shard.work.tasks))
                    tasks = {n: shard.work.tasks[n] for n in names}
                    self.inflight[actor.run.remote(tasks, ctx)] = ("group", index, k, actor)
                    shard.started.add(k)

    def _collect(self, ref: Any) -> None:
        import ray

        kind, index, k, actor = self.inflight.pop(ref)
        shard = self.active[index]
        if kind == "stats":
            shard.stats_left -= 1
            try:
                error, seconds, nbytes = ray.get(ref)
            except ray.exceptions.RayError as exc:
                error, seconds, nbytes = f"decode task lost: {exc}", 0.0, 0
            self.decode.add_stats(error, seconds, nbytes)
            return
        self.pools[k].free.append(actor)
        shard.waiting.discard(k)
        try:
            shard.dones.extend(ray.get(ref))
        except ray.exceptions.RayError as exc:
            names = [n for n in self.pools[k].group.names if n in shard.work.tasks]
            msg = f"shard {index}: {type(exc).__name__}: {exc}"
            shard.dones.extend(GroupFailure(n, msg) for n in names)

    def _finish(self, index: int) -> Yield:
        import ray

        shard = self.active.pop(index)
        sheets = None
        if shard.work.sheet:
            sheets = {}
            for cid, refs in shard.refs.items():
                try:
                    sheets[cid] = ray.get(refs[-1])
                except ray.exceptions.RayError as exc:
                    sheets[cid] = ClipPlan(error=f"decode task lost: {exc}")
        return index, shard.dones, sheets
