"""The in-process backend of the scheduler: every stage of a pass in this process, one group.

Models load once (`setup()` of each stage); a shard's items go through all stages a batch at a
time with frames decoded here, one pass per clip, the next batch decoded in the background, so
memory holds about two batches of frames whatever the shard size. Debuggers and profilers see
everything.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import BaseModel

from any2capins.config.base import RuntimeConfig
from any2capins.config.sampling import DecodeSettings
from any2capins.errors import StageError
from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone
from any2capins.runtime.frames import DecodeStats, InlineFrames
from any2capins.runtime.scheduler import Group, Work
from any2capins.runtime.shard import process_shard
from any2capins.runtime.stage import Gate, Stage


def apply_threads(stage: Stage) -> None:
    """Limit torch/BLAS threads in this worker when the stage asks for it."""
    import os

    threads = stage.resources.torch_threads
    if threads is None:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def setup_stage(stage: Stage) -> None:
    """`stage.setup()` with its thread limit; a failure is one StageError naming the stage."""
    apply_threads(stage)
    try:
        stage.setup()
    except Exception as exc:
        raise StageError(f"{stage.name}: setup failed: {type(exc).__name__}: {exc}") from exc


def inline_frames(decode: DecodeSettings, stats: DecodeStats, threads: int) -> Any:
    """A frame-source factory for `process_shard`: decoded in this process."""

    def make(items: list[BaseModel], requests: dict[str, dict[str, Any]]) -> InlineFrames:
        clips = {getattr(i, "clip_id", ""): i for i in items}
        return InlineFrames(clips, requests, decode, stats, threads)

    return make


class LocalBackend:
    window = 1

    def __init__(self, runtime: RuntimeConfig, decode: DecodeSettings, stats: DecodeStats,
                 gate: Gate | None = None) -> None:
        self.runtime = runtime
        self.gate = gate
        self.decode = decode
        self.stats = stats
        self.queue: deque[tuple[int, Work]] = deque()
        self.store: ShardStore | None = None
        self.stages: list[Stage] = []
        self._next = 0

    def groups(self, stages: list[Stage]) -> list[Group]:
        return [Group(list(stages))]

    def start(self, groups: list[Group], run_dir: str) -> list[int]:
        self.store = ShardStore(run_dir)
        self.stages = [s for g in groups for s in g.stages]
        for stage in self.stages:
            setup_stage(stage)
        return [1 for _ in groups]

    def begin_shard(self, work: Work, groups: list[Group]) -> None:
        """Nothing to prepare: frames are decoded while the shard is processed."""

    def submit(self, g: int, work: Work) -> Any:
        self._next += 1
        self.queue.append((self._next, work))
        return self._next

    def wait(self) -> tuple[Any, list[ShardDone] | BaseException]:
        token, work = self.queue.popleft()
        threads = max(s.decode_concurrency for s in self.stages)
        frames = inline_frames(self.decode, self.stats, threads)
        limits = [s.resources.torch_threads for s in self.stages if s.name in work.tasks]
        if any(limits):  # stages share this process: the largest limit any of them sets
            apply_threads(max(self.stages, key=lambda s: s.resources.torch_threads or 0))
        return token, process_shard(self.stages, work.tasks, self.store, frames,
                                    self.runtime.max_item_retries, gate=self.gate)

    def end_shard(self, work: Work) -> None:
        """Nothing held per shard."""

    def close(self) -> None:
        """Nothing to stop: the stages live as long as the process."""
