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
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from any2capins.config.base import RuntimeConfig, StageResources
from any2capins.errors import StageError
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone
from any2capins.runtime.cluster import actor_options, ensure_ray, workers_that_fit
from any2capins.runtime.shard import process_shard, worker_id
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

    def setup(self, probe: str | None = None) -> str:
        """Load the stage here, where it runs (device checks included). `probe`, a file the
        driver wrote in a local run folder, must be visible: else this worker cannot see
        the run folder and would write shards nobody reads."""
        check_visible(probe, self.store.run_dir)
        if not self.ready:
            apply_threads(self.stage.resources)
            self.stage.setup()
            self.ready = True
        return worker_id()

    def run(self, task: ShardTask) -> ShardDone:
        self.setup()
        return process_shard(self.stage, self.store, task, self.max_retries)


class RayExecutor:
    def __init__(self, runtime: RuntimeConfig) -> None:
        self.runtime = runtime

    def _actors(self, stage: Stage, run_dir: str, n: int) -> list[Any]:

        options = {**actor_options(stage.resources), "max_restarts": 2, "max_task_retries": 2}
        return start_actors(stage.name, _StageActor, options, n, run_dir=run_dir,
                            args=(stage, run_dir, self.runtime.max_item_retries))

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
            stop_actors(actors, list(inflight))


def stop_actors(actors: Sequence[Any], refs: Sequence[Any]) -> None:
    """Cancel unfinished actor tasks (force=True is not allowed for actor tasks) and kill the
    actors; a shard cut short leaves no completion record and is redone by the next run."""
    import ray

    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception as exc:  # noqa: BLE001 - stopping must go on for the other actors
            log.debug("cancel failed: %s", exc)
    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception as exc:  # noqa: BLE001
            log.debug("kill failed: %s", exc)


def check_visible(probe: str | None, run_dir: str) -> None:
    """In a worker: `probe`, a file the driver wrote in a local run folder, must be visible;
    else this worker cannot see the run folder and would write shards nobody reads."""
    if probe is not None and not Path(probe).exists():
        raise StageError(
            f"the run folder {run_dir} is not visible from worker {worker_id()}: use a "
            "folder every node mounts at the same path, or s3://")


def start_actors(name: str, actor_cls: type, options: dict[str, Any], n: int, *,
                 run_dir: str, args: tuple[Any, ...]) -> list[Any]:
    """Up to `n` actors of `actor_cls(*args)` that fit a node, each set up where it runs with
    `setup(probe)` (models, device checks, the run folder's visibility). Any failure, Ctrl-C
    included, stops them all; a failed setup is one StageError line naming `name`."""
    import ray

    n = workers_that_fit(name, options, n)
    cls = ray.remote(actor_cls).options(**options)
    actors = [cls.remote(*args) for _ in range(n)]
    try:
        with _visibility_probe(run_dir) as probe:
            ray.get([a.setup.remote(probe) for a in actors])
    except BaseException as exc:
        stop_actors(actors, [])
        if not isinstance(exc, Exception):
            raise
        cause = getattr(exc, "cause", None) or exc
        raise StageError(f"{name}: setup failed: {type(cause).__name__}: {cause}") from exc
    return actors


@contextmanager
def _visibility_probe(run_dir: str) -> Iterator[str | None]:
    """A file in a local run folder that every worker must see (None for object stores)."""
    if "://" in run_dir:
        yield None
        return
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    path = Path(run_dir) / f".workers-see-this-{uuid.uuid4().hex[:12]}"
    path.write_text("written by the driver; workers check that they see the run folder\n",
                    encoding="utf-8")
    try:
        yield str(path)
    finally:
        path.unlink(missing_ok=True)


def make_executor(runtime: RuntimeConfig) -> LocalExecutor | RayExecutor:
    return RayExecutor(runtime) if runtime.executor == "ray" else LocalExecutor(runtime)
