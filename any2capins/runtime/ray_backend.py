"""The Ray backend of the scheduler (runtime/scheduler.py).

- One actor pool per group: stages that share something loaded (`Stage.share_key`, e.g. pose
  and refs with one detector) run in one actor; every other stage has its own pool, with its
  own resources (the largest num_cpus / num_gpus / memory of its stages, `workers` actors), so
  depth can sit on GPU actors while camera runs on CPUs. Models load once per actor.
- One decode task per clip decodes the union of what every group wants from the clip and
  returns it split per group; the tasks start a few batches ahead of the groups that read
  them and each group's part is released when that group is done with the clip
  (`runtime/ray_frames.py`), so the object store holds the frames of the batches in flight,
  not of whole shards or videos.
- At most `max(workers) + 1` shards are in flight.
- When the pools and one decode slot ask for more CPUs (or GPUs) than the cluster has, the
  reservations are scaled down together so every group runs side by side (logged).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pydantic import BaseModel

from any2capins.config.base import RuntimeConfig
from any2capins.config.sampling import DecodeSettings
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone
from any2capins.runtime.cluster import ensure_ray
from any2capins.runtime.executors import check_visible, start_actors, stop_actors
from any2capins.runtime.frames import DecodeStats
from any2capins.runtime.gate import gate_left_out
from any2capins.runtime.local_backend import apply_threads, setup_stage
from any2capins.runtime.ray_frames import FrameKeeper, KeptFrames
from any2capins.runtime.scheduler import Group, Work, link_groups
from any2capins.runtime.shard import load_inputs, process_shard
from any2capins.runtime.stage import Gate, Stage

log = logging.getLogger(__name__)
LOG_ENVS = ("ANY2CAPINS_DECODE_LOG", "ANY2CAPINS_DETECT_LOG")


class _GroupActor:
    """Ray actor body: holds the stages of one group for its whole life."""

    def __init__(self, stages: list[Stage], run_dir: str, retries: int,
                 env: dict[str, str], gate: Gate | None = None) -> None:
        os.environ.update(env)  # accounting logs asked for by the driver (tests, benchmarks)
        self.stages = stages
        self.store = ShardStore(run_dir)
        self.retries = retries
        self.gate = gate
        self.ready = False

    def setup(self, probe: str | None = None) -> int:
        check_visible(probe, self.store.run_dir)
        if not self.ready:
            for stage in self.stages:
                setup_stage(stage)
            self.ready = True
        return os.getpid()

    def run(self, tasks: dict[str, Any], keeper: tuple[Any, int, int] | None) -> list[ShardDone]:
        """Process one shard; `keeper`: (the frame keeper, shard, this group's number) when a
        stage of the group reads frames."""
        for stage in self.stages:
            if stage.name in tasks:
                apply_threads(stage)
        frames = None if keeper is None else (lambda items, requests: KeptFrames(*keeper))
        return process_shard(self.stages, tasks, self.store, frames, self.retries, gate=self.gate)


def _res(g: Group, key: str) -> float:
    return max(float(getattr(s.resources, key) or 0) for s in g.stages)


class RayBackend:
    def __init__(self, runtime: RuntimeConfig, decode: DecodeSettings, stats: DecodeStats,
                 gate: Gate | None = None) -> None:
        self.runtime = runtime
        self.gate = gate
        self.decode = decode
        self.stats = stats
        self.env = {k: os.environ[k] for k in LOG_ENVS if os.environ.get(k)}
        self.pools: list[list[Any]] = []
        self.free: list[list[Any]] = []
        self.inflight: dict[Any, tuple[int, Any]] = {}
        self.keeper: Any = None
        self.cpu_scale = 1.0
        self.window = 2
        self.groups_: list[Group] = []

    def groups(self, stages: list[Stage]) -> list[Group]:
        """Stages with the same share key in one group, every other stage alone."""
        out: list[Group] = []
        keys: list[Any] = []
        for stage in stages:
            key = stage.share_key()
            if key is not None and key in keys:
                out[keys.index(key)].stages.append(stage)
            else:
                out.append(Group([stage]))
                keys.append(key if key is not None else object())
        return link_groups(out)

    def start(self, groups: list[Group], run_dir: str) -> list[int]:
        ensure_ray(self.runtime)
        self.groups_ = groups
        self.store = ShardStore(run_dir)
        fc, fg = self._scale(groups)
        self.cpu_scale = fc
        for g in groups:
            self.pools.append(self._pool(g, run_dir, fc, fg))
        self.free = [list(p) for p in self.pools]
        self.window = max(len(p) for p in self.pools) + 1
        self._start_keeper(groups)
        return [len(p) for p in self.pools]

    def _start_keeper(self, groups: list[Group]) -> None:
        """The frame keeper of this pass (no CPU of its own; threaded: every pool calls it);
        decodes run two of the largest batches ahead."""
        import ray

        if not any(s.frames() is not None for g in groups for s in g.stages):
            return
        parts = [[s.name for s in g.stages] for g in groups]
        ahead = 2 * max(s.resources.batch_size for g in groups for s in g.stages)
        self.keeper = ray.remote(FrameKeeper).options(num_cpus=0, max_concurrency=16).remote(
            self.decode, self.env, parts, self.cpu_scale, ahead)

    def _scale(self, groups: list[Group]) -> tuple[float, float]:
        """(cpu factor, gpu factor) so all pools plus one decode slot fit the cluster."""
        import ray

        have = ray.cluster_resources()
        cpus = sum(_res(g, "num_cpus") * _res(g, "workers") for g in groups) + 1.0
        gpus = sum(_res(g, "num_gpus") * _res(g, "workers") for g in groups)
        fc = min(1.0, have.get("CPU", cpus) / cpus)
        fg = min(1.0, have.get("GPU", 0.0) / gpus) if gpus and have.get("GPU") else 1.0
        if fc < 1 or fg < 1:
            log.warning("the stage pools ask for %.1f CPUs / %.1f GPUs, the cluster has %s / %s: "
                        "reservations scaled by %.2f / %.2f so all stages run side by side",
                        cpus, gpus, have.get("CPU"), have.get("GPU", 0), fc, fg)
        return fc, fg

    def _pool(self, g: Group, run_dir: str, fc: float, fg: float) -> list[Any]:
        options: dict[str, Any] = {"num_cpus": _res(g, "num_cpus") * fc,
                                   "num_gpus": _res(g, "num_gpus") * fg,
                                   "max_restarts": 2, "max_task_retries": 2}
        if _res(g, "memory_gb"):
            options["memory"] = int(_res(g, "memory_gb") * 2**30)
        custom = {k: v for s in g.stages for k, v in s.resources.resources.items()}
        if custom:  # custom Ray resources (node types, or GPUs' stand-ins in tests)
            options["resources"] = custom
        # a worker no node can hold is one clear line, not a wait forever (runtime/cluster.py);
        # every worker checks that it sees the run folder
        return start_actors("+".join(g.names), _GroupActor, options, int(_res(g, "workers")),
                            run_dir=run_dir, args=(g.stages, run_dir,
                                                   self.runtime.max_item_retries, self.env,
                                                   self.gate))

    def begin_shard(self, work: Work, groups: list[Group]) -> None:
        """Tell the frame keeper which clips of the shard each group reads (nothing is decoded
        until a group asks for a batch)."""
        import ray

        wanting = [s for g in groups for s in g.stages
                   if s.name in work.tasks and s.frames() is not None]
        if not wanting or self.keeper is None:
            return
        items: list[BaseModel] = load_inputs(wanting[0], self.store, work.tasks[wanting[0].name])
        left_out = gate_left_out(self.store, self.gate, work.index)  # not decoded for them
        group_of = {s.name: k for k, g in enumerate(groups) for s in g.stages}
        clips = []
        for item in items:
            requests = {s.name: s.frames() for s in wanting if _wants(work, s, item)
                        and not (item.clip_id in left_out and self.gate.applies(s.name))}
            if requests:
                clips.append((item, requests, sorted({group_of[n] for n in requests})))
        ray.get(self.keeper.open.remote(work.index, clips))

    def submit(self, g: int, work: Work) -> Any:
        actor = self.free[g].pop(0)
        names = [s.name for s in self.groups_[g].stages]
        tasks = {n: work.tasks[n] for n in names if n in work.tasks}
        needs = any(s.frames() is not None for s in self.groups_[g].stages if s.name in tasks)
        ref = actor.run.remote(tasks, (self.keeper, work.index, g) if needs else None)
        self.inflight[ref] = (g, actor)
        return ref

    def wait(self) -> tuple[Any, list[ShardDone] | BaseException]:
        import ray

        ready, _ = ray.wait(list(self.inflight), num_returns=1)
        g, actor = self.inflight.pop(ready[0])
        self.free[g].append(actor)
        try:
            return ready[0], ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            return ready[0], exc

    def end_shard(self, work: Work) -> None:
        import ray

        if self.keeper is None:
            return
        for error, seconds, nbytes in ray.get(self.keeper.close.remote(work.index)):
            self.stats.add(error, seconds, nbytes)

    def close(self) -> None:
        """Cancel what still runs and kill every actor (Ctrl-C, an error, or done)."""
        keeper = [self.keeper] if self.keeper is not None else []
        stop_actors([a for p in self.pools for a in p] + keeper, list(self.inflight))
        self.inflight.clear()


def _wants(work: Work, stage: Stage, item: BaseModel) -> bool:
    task = work.tasks[stage.name]
    return task.retry is None or stage.item_key(item) in task.retry
