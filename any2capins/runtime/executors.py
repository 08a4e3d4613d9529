"""Executors run a stage over shard tasks and yield completion records as shards finish.

- `LocalExecutor`: one in-process worker; easiest to debug (breakpoints, profilers).
- `RayExecutor`: a pool of Ray actors, one stage instance each, so `setup()` (the model load)
  runs once per actor; each actor reserves the stage's CPUs/GPUs/memory. Actors process whole
  shards and write them directly to the run folder (local or s3://), so nothing large travels
  back to the driver.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from any2capins.config.base import RuntimeConfig, StageResources
from any2capins.errors import StageError
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone
from any2capins.runtime.shard import process_shard
from any2capins.runtime.stage import ShardTask, Stage

log = logging.getLogger(__name__)


def apply_threads(resources: StageResources) -> None:
    """Limit torch/BLAS threads in this worker when the stage asks for it."""
    if resources.torch_threads is None:
        return
    os.environ["OMP_NUM_THREADS"] = str(resources.torch_threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(resources.torch_threads)


@dataclass(frozen=True)
class ShardFailure:
    """A whole shard task failed (worker lost after retries); the shard stays not-done."""

    index: int
    message: str

    @classmethod
    def of(cls, index: int, cause: BaseException) -> ShardFailure:
        return cls(index, f"shard {index}: {type(cause).__name__}: {cause}")


class LocalExecutor:
    def __init__(self, runtime: RuntimeConfig) -> None:
        self.runtime = runtime

    def run(
        self, stage: Stage, run_dir: str, tasks: Sequence[ShardTask]
    ) -> Iterator[ShardDone | ShardFailure]:
        if not tasks:
            return
        apply_threads(stage.resources)
        try:
            stage.setup()
        except Exception as exc:
            raise StageError(f"{stage.name}: setup failed: {type(exc).__name__}: {exc}") from exc
        store = ShardStore(run_dir)
        for task in tasks:
            yield process_shard(stage, store, task, self.runtime.max_item_retries)


class _StageActor:
    """Ray actor body: holds one stage instance for its whole life."""

    def __init__(self, stage: Stage, run_dir: str, max_retries: int) -> None:
        self.stage = stage
        self.store = ShardStore(run_dir)
        self.max_retries = max_retries
        self.ready = False

    def setup(self) -> str:
        if not self.ready:
            apply_threads(self.stage.resources)
            self.stage.setup()
            self.ready = True
        return f"{os.getpid()}"

    def run(self, task: ShardTask) -> ShardDone:
        self.setup()
        return process_shard(self.stage, self.store, task, self.max_retries)


def ensure_ray(runtime: RuntimeConfig) -> None:
    """Connect to `runtime.ray_address` / $RAY_ADDRESS, or start an embedded local cluster."""
    import ray

    if ray.is_initialized():
        return
    address = runtime.ray_address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False,
                              "logging_level": logging.WARNING, "log_to_driver": True}
    if address is None:
        if runtime.num_cpus:
            kwargs["num_cpus"] = runtime.num_cpus
        if runtime.object_store_memory_gb:
            kwargs["object_store_memory"] = int(runtime.object_store_memory_gb * 2**30)
        if runtime.temp_dir:
            kwargs["_temp_dir"] = runtime.temp_dir
    else:
        kwargs["address"] = address
    ray.init(**kwargs)


class RayExecutor:
    def __init__(self, runtime: RuntimeConfig) -> None:
        self.runtime = runtime

    def _actors(self, stage: Stage, run_dir: str, n: int) -> list[Any]:
        import ray

        res = stage.resources
        options: dict[str, Any] = {"num_cpus": res.num_cpus, "num_gpus": res.num_gpus,
                                   "max_restarts": 2, "max_task_retries": 2}
        if res.memory_gb:
            options["memory"] = int(res.memory_gb * 2**30)
        cls = ray.remote(_StageActor).options(**options)
        actors = [cls.remote(stage, run_dir, self.runtime.max_item_retries) for _ in range(n)]
        try:
            ray.get([a.setup.remote() for a in actors])
        except Exception as exc:
            for a in actors:
                ray.kill(a)
            cause = getattr(exc, "cause", None) or exc
            msg = f"{stage.name}: setup failed: {type(cause).__name__}: {cause}"
            raise StageError(msg) from exc
        return actors

    def run(
        self, stage: Stage, run_dir: str, tasks: Sequence[ShardTask]
    ) -> Iterator[ShardDone | ShardFailure]:
        if not tasks:
            return
        import ray

        ensure_ray(self.runtime)
        actors = self._actors(stage, run_dir, min(stage.resources.workers, len(tasks)))
        queue = list(tasks)
        inflight: dict[Any, tuple[Any, ShardTask]] = {}
        try:
            for actor in actors:
                if queue:
                    task = queue.pop(0)
                    inflight[actor.run.remote(task)] = (actor, task)
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1)
                actor, task = inflight.pop(ready[0])
                try:
                    yield ray.get(ready[0])
                except ray.exceptions.RayError as exc:
                    yield ShardFailure.of(task.index, exc)
                if queue:
                    nxt = queue.pop(0)
                    inflight[actor.run.remote(nxt)] = (actor, nxt)
        finally:
            for ref in inflight:
                ray.cancel(ref, force=True)
            for a in actors:
                ray.kill(a)


def make_executor(runtime: RuntimeConfig) -> LocalExecutor | RayExecutor:
    return RayExecutor(runtime) if runtime.executor == "ray" else LocalExecutor(runtime)
