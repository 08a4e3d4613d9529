"""The stage protocol: a small typed unit that turns input records into output records.

A stage declares its name, input/output record models, output folder and resources. Each worker
builds the stage once, calls `setup()` once (load models there), then calls `process_batch()`
on many batches. `process_batch` returns one result per input, in order: an output record or a
`Failure`. Failures become error rows; they never stop a shard.
"""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from any2capins.config.base import StageResources
from any2capins.models.common import ShardDone, TokenUsage

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


@dataclass(frozen=True)
class Failure:
    """Why one item failed. `retriable` marks transient causes (timeouts, lost workers)."""

    error_class: str
    message: str
    retriable: bool = False
    detail: str | None = None
    attempts: int = 1

    @classmethod
    def from_exception(cls, exc: BaseException, *, retriable: bool = False) -> Failure:
        tb = "".join(traceback.format_exception(exc, limit=6))
        return cls(type(exc).__name__, str(exc) or repr(exc), retriable, detail=tb[-4000:])


@dataclass(frozen=True)
class ShardTask:
    """One unit of scheduling: input shard `index`, read from `input_dir` of the run folder, or
    given inline as `rows` (ingest, whose inputs are the source listing)."""

    index: int
    input_dir: str | None = None
    rows: tuple[BaseModel, ...] | None = None
    # side inputs prepared for this shard by whoever schedules it (e.g. extract's decoded
    # frame plan); handed to the stage as `stage.shard_context` before `begin_shard`
    context: Any = None
    # Set by the runner for a shard that is done except for retriable error rows: the
    # (clip_id, uri) keys of the items to redo; the rest of the shard is kept.
    retry: frozenset[tuple[str | None, str]] | None = None
    previous: ShardDone | None = None  # the record a retry rewrites (its usage is carried on)
    # Set by the runner, stored in the completion record: what the shard is made from.
    provenance: Provenance | None = None


@dataclass(frozen=True)
class Provenance:
    """The settings fingerprint of a stage and the identities of the input shards it read."""

    fingerprint: str
    settings: dict[str, Any]
    upstream: tuple[tuple[str, str], ...] = ()


class Stage(ABC, Generic[InT, OutT]):
    """Base class of every stage. Subclasses set the class variables and implement
    `process_batch`; they override `setup` when they load a model."""

    name: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]
    output_dir: ClassVar[str]
    # A fan-out stage returns a list per item (possibly empty) of output records and/or
    # Failures, e.g. one short prompt per condition set of a clip. Its invariant is per planned
    # output: every one is a written row or an error row; `ok_items` counts items without any
    # failure. For 1:1 stages: input rows = ok items + error rows.
    fan_out: ClassVar[bool] = False
    # the `ShardTask.context` of the shard being processed (None when none was given)
    shard_context: Any = None

    def __init__(self, resources: StageResources) -> None:
        self.resources = resources

    def setup(self) -> None:
        """Load what the stage needs; called once per worker before the first batch."""

    def begin_shard(self, index: int, run_dir: str) -> None:
        """Called before the first batch of shard `index`: stages that join side inputs of
        the same shard (e.g. condition rows of shard N) load them here."""

    @abstractmethod
    def process_batch(self, batch: Sequence[InT]) -> list[Any]:
        """One result per item of `batch`, in order: an output record or a `Failure`
        (fan-out stages: a list of output records or a `Failure`)."""

    def item_key(self, item: InT) -> tuple[str | None, str]:
        """(clip_id, uri) of an input item, for error rows."""
        return getattr(item, "clip_id", None), str(getattr(item, "uri", ""))

    def take_usage(self) -> TokenUsage | None:
        """Token usage accumulated since the last call (LLM stages override this)."""
        return None

    # -- what a shard's output depends on (stored in its completion record) ---------------
    def fingerprint(self) -> dict[str, Any]:
        """The settings that matter for the output, JSON-able. A done shard whose record holds
        other settings is redone. Default: every config model the stage holds, dumped without
        scheduling knobs (resources, worker counts, progress). Stages whose output depends on
        more (prompt files, a backend's version) override this."""
        out: dict[str, Any] = {}
        for key, value in sorted(vars(self).items()):
            if isinstance(value, BaseModel) and key != "resources":
                out[key] = _without_knobs(value.model_dump(mode="json"))
        return out

    def upstream(self) -> list[str]:
        """Names of the stages whose completion records of the same shard index are inputs of
        this stage, besides the stage that wrote the task's `input_dir` (always included).
        E.g. captions also reads the condition stages. Default: none."""
        return []


_KNOBS = frozenset({"resources", "workers", "progress", "num_cpus", "num_gpus", "memory_gb",
                    "torch_threads", "batch_size", "concurrency", "load_log"})


def _without_knobs(value: Any) -> Any:
    """`value` with scheduling-only keys removed at every level (they never change rows)."""
    if isinstance(value, dict):
        return {k: _without_knobs(v) for k, v in value.items() if k not in _KNOBS}
    if isinstance(value, list):
        return [_without_knobs(v) for v in value]
    return value
