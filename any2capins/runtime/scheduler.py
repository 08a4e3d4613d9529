"""Running a pass: stages that read the same input table, over its shards, in one schedule.

One code path for both executors. Per shard, the runner's resume rules decide which stages
run (`plan_pass`); the stages are split into worker groups; each (shard, group) becomes one
task, started when a worker of the group is free and the groups it depends on (it reads a table
they write) are done with the shard; at most `window` shards are in flight. A `Backend` says
where a group's task runs and where its frames come from:
- `LocalBackend`: every stage in one group in this process; frames decoded here, one pass per
  clip, the next batch decoded in the background (runtime/frames.py).
- `RayBackend` (runtime/ray_backend.py): one actor pool per group (stages sharing a loaded model
  together, each pool with its stages' resources); one decode task per clip serving every group,
  its frames fetched by each group from the object store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from any2capins.models.common import ShardDone
from any2capins.models.tables import table_of_folder
from any2capins.runtime.stage import ShardTask, Stage

log = logging.getLogger(__name__)


@dataclass
class Work:
    """One shard's pending work: per stage the runtime's task (with provenance / retry keys),
    and the number of items the progress bar counts for it."""

    index: int
    tasks: dict[str, ShardTask]
    items: int = 0


@dataclass(frozen=True)
class GroupFailure:
    """A group's shard that failed as a whole (its worker was lost after retries)."""

    stage: str
    index: int
    message: str


@dataclass
class Group:
    """Stages that run in one worker (one process holds their models); `after`: the groups
    whose shard must be done first (they write a table this group reads)."""

    stages: list[Stage]
    after: set[int] = field(default_factory=set)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]


class Backend(Protocol):
    window: int

    def groups(self, stages: list[Stage]) -> list[Group]: ...

    def start(self, groups: list[Group], run_dir: str) -> list[int]:
        """Start the workers of each group; returns their number per group."""
        ...

    def begin_shard(self, work: Work, groups: list[Group]) -> None: ...

    def submit(self, g: int, work: Work) -> Any: ...

    def wait(self) -> tuple[Any, list[ShardDone] | BaseException]: ...

    def end_shard(self, work: Work) -> None: ...

    def close(self) -> None: ...


def dependency_order(stages: Sequence[Stage]) -> list[Stage]:
    """`stages` so that a stage comes after the stages of the pass whose tables it reads
    (stable otherwise)."""
    writes = {s.name: (table_of_folder(s.output_dir).name if table_of_folder(s.output_dir)
                       else None) for s in stages}
    left, out = list(stages), []
    while left:
        for s in left:
            needs = {t.table for t in s.side_tables()}
            if not any(writes[o.name] in needs for o in left if o is not s):
                out.append(s)
                left.remove(s)
                break
        else:
            raise ValueError(f"stages read each other's tables: {[s.name for s in left]}")
    return out


def link_groups(groups: list[Group]) -> list[Group]:
    """Fill each group's `after` from the tables its stages read and the other groups write."""
    writes = []
    for g in groups:
        names = {table_of_folder(s.output_dir) for s in g.stages}
        writes.append({t.name for t in names if t is not None})
    for k, g in enumerate(groups):
        reads = {t.table for s in g.stages for t in s.side_tables()}
        g.after = {j for j, w in enumerate(writes) if j != k and w & reads}
    return groups


@dataclass
class _Active:
    work: Work
    waiting: set[int]
    started: set[int] = field(default_factory=set)


class Scheduler:
    """Dispatches (shard, group) tasks on a backend and yields each shard's completion records
    (or GroupFailures) when all its groups are done."""

    def __init__(self, backend: Backend, groups: list[Group]) -> None:
        self.backend = backend
        self.groups = groups
        self.free: list[int] = []
        self.active: dict[int, _Active] = {}
        self.inflight: dict[Any, tuple[int, int]] = {}  # token -> (shard, group)
        self.results: dict[int, list[ShardDone | GroupFailure]] = {}

    def run(self, work: list[Work], run_dir: str) -> Iterator[tuple[Work,
                                                               list[ShardDone | GroupFailure]]]:
        self.free = self.backend.start(self.groups, run_dir)
        queue = list(work)
        while queue or self.active:
            while queue and len(self.active) < self.backend.window:
                w = queue.pop(0)
                waiting = {k for k, g in enumerate(self.groups) if set(g.names) & set(w.tasks)}
                self.active[w.index] = _Active(w, waiting)
                self.results[w.index] = []
                self.backend.begin_shard(w, self.groups)
            self._dispatch()
            finished = [i for i, a in self.active.items() if not a.waiting]
            for index in finished:
                a = self.active.pop(index)
                self.backend.end_shard(a.work)
                yield a.work, self.results.pop(index)
            if finished:
                continue
            self._collect(*self.backend.wait())

    def _ready(self, a: _Active, k: int) -> bool:
        """Group k may start shard `a`: it has work there, has not started, and every group
        it depends on is done with the shard."""
        return k in a.waiting and k not in a.started and not (self.groups[k].after & a.waiting)

    def _dispatch(self) -> None:
        for index in sorted(self.active):
            a = self.active[index]
            for k in range(len(self.groups)):
                if self.free[k] > 0 and self._ready(a, k):
                    self.free[k] -= 1
                    a.started.add(k)
                    self.inflight[self.backend.submit(k, a.work)] = (index, k)

    def _collect(self, token: Any, result: list[ShardDone] | BaseException) -> None:
        index, k = self.inflight.pop(token)
        self.free[k] += 1
        a = self.active[index]
        a.waiting.discard(k)
        if isinstance(result, BaseException):
            names = [n for n in self.groups[k].names if n in a.work.tasks]
            msg = f"shard {index}: {type(result).__name__}: {result}"
            self.results[index].extend(GroupFailure(n, index, msg) for n in names)
            # a group that reads what this one writes cannot run on this shard any more
            for j, g in enumerate(self.groups):
                if k in g.after and j in a.waiting and j not in a.started:
                    a.waiting.discard(j)
                    self.results[index].extend(
                        GroupFailure(n, index, f"shard {index}: {', '.join(names)} failed")
                        for n in g.names if n in a.work.tasks)
        else:
            self.results[index].extend(result)
