"""The stage protocol: a small typed unit that turns input records into output records.

A stage declares what it reads and writes; the runtime delivers it, in-process and on Ray alike:
- `input_model`, `input_dir`: the table whose shard N is its input (rows given inline for
  ingest, whose input is the source listing);
- `side_tables()`: tables of the same shard it joins by clip_id (with the columns it needs);
- `frames()`: the frames it needs from each clip (a `FrameRequest`), or None;
- `output_model`, `output_dir`: the table it writes (shard N of it, from input shard N).
Each worker builds the stage once, calls `setup()` once (load models there), then
`process_batch(batch, inputs)` on many batches: one result per input, in order, an output
record or a `Failure` (fan-out stages: a list of them). `inputs` (`runtime.inputs.Inputs`) holds
the batch's frames, side-table rows and a per-clip scratch shared by the stages of one worker.
Failures become error rows; they never stop a shard. A stage never decodes a clip, opens
another stage's table or imports another stage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from any2capins.config.base import StageResources
from any2capins.models.common import ShardDone, TokenUsage
from any2capins.models.tables import TABLES
from any2capins.runtime.failure import Failure
from any2capins.runtime.gate import ALL_KEPT, GATE_SUFFIX, Gate

if TYPE_CHECKING:
    from any2capins.io.frames import FrameRequest
    from any2capins.runtime.inputs import Inputs

__all__ = ["ALL_KEPT", "GATE_SUFFIX", "Failure", "Gate", "Provenance", "ShardTask", "SideTable",
           "Stage", "without_knobs"]

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


@dataclass(frozen=True)
class SideTable:
    """A table of the same shard a stage joins by clip_id: its name (models/tables.py), the
    columns it needs (None: all; `clip_id` is always read) and list columns it needs only the
    length of (`lengths`: the row holds an int, computed without materialising the lists)."""

    table: str
    columns: tuple[str, ...] | None = None
    lengths: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShardTask:
    """One unit of scheduling: input shard `index`, read from `input_dir` of the run folder, or
    given inline as `rows` (ingest, whose inputs are the source listing)."""

    index: int
    input_dir: str | None = None
    rows: tuple[BaseModel, ...] | None = None
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
    `process_batch`; they override `setup` when they load a model, `frames` when they read
    frames, `side_tables` when they join other tables of the shard."""

    name: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]
    output_dir: ClassVar[str]
    input_dir: ClassVar[str | None] = None
    # A fan-out stage returns a list per item (possibly empty) of output records and/or
    # Failures, e.g. one short prompt per condition set of a clip. Its invariant is per planned
    # output: every one is a written row or an error row; `ok_items` counts items without any
    # failure. For 1:1 stages: input rows = ok items + error rows + items a pass's gate left out.
    fan_out: ClassVar[bool] = False
    # Clips decoded at once for this stage in-process (the rest of the batch waits); the
    # runtime takes the largest value of the stages running together.
    decode_concurrency: int = 1

    def __init__(self, resources: StageResources) -> None:
        self.resources = resources

    # -- what the stage reads ---------------------------------------------------------------
    def frames(self) -> FrameRequest | None:
        """The frames this stage needs from each input clip (None: no frames). Stages that run
        together get them from one decode pass per clip."""
        return None

    def side_tables(self) -> list[SideTable]:
        """Tables of the same shard joined by clip_id (read once per shard by the runtime)."""
        return []

    # -- the work ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Load what the stage needs; called once per worker before the first batch."""

    def begin_shard(self, index: int, inputs: Inputs) -> None:
        """Called before the first batch of shard `index` (e.g. an LLM stage opens the
        shard's answer cache)."""

    @abstractmethod
    def process_batch(self, batch: Sequence[InT], inputs: Inputs) -> list[Any]:
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
        more (prompt files, a backend's version) override this. The runtime adds the `decode:`
        settings for stages that read frames."""
        out: dict[str, Any] = {}
        for key, value in sorted(vars(self).items()):
            if isinstance(value, BaseModel) and key != "resources":
                out[key] = without_knobs(value.model_dump(mode="json"))
        return out

    def upstream(self) -> list[str]:
        """Names of the stages whose completion records of the same shard index are inputs of
        this stage besides the one that wrote `input_dir`: the writers of its side tables."""
        names = [TABLES[s.table].stage for s in self.side_tables() if s.table in TABLES]
        return [n for n in dict.fromkeys(names) if n]

    def share_key(self) -> Any:
        """Stages with the same non-None key run in one worker (they share something loaded,
        e.g. a detector, and the per-clip scratch). Default: none."""
        return None


_KNOBS = frozenset({"resources", "workers", "progress", "num_cpus", "num_gpus", "memory_gb",
                    "torch_threads", "batch_size", "concurrency", "load_log"})


def without_knobs(value: Any) -> Any:
    """`value` with scheduling-only keys removed at every level (they never change rows)."""
    if isinstance(value, dict):
        return {k: without_knobs(v) for k, v in value.items() if k not in _KNOBS}
    if isinstance(value, list):
        return [without_knobs(v) for v in value]
    return value
