"""Ray actor pools for the scheduler's Ray backend: start them where they fit (each set up
where it runs, checking that it sees the run folder), stop them (cancel running tasks, kill the
actors) on success, error or Ctrl-C alike. Actors write shards directly to the run folder
(local or s3://), so nothing large travels back to the driver."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from any2capins.errors import StageError
from any2capins.runtime.cluster import workers_that_fit
from any2capins.runtime.shard import worker_id

log = logging.getLogger(__name__)


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
