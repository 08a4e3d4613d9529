"""One stage on a few items, outside the shard bookkeeping: the same inputs as in a pass (one
decode per clip, side-table rows of the item's shard), results returned instead of written.
For commands that act on one item on request (`any2capins sheet --clip ID`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from any2capins.config.sampling import DecodeSettings
from any2capins.io.shards import ShardStore
from any2capins.runtime.frames import DecodeStats, InlineFrames
from any2capins.runtime.inputs import Inputs, ShardTables
from any2capins.runtime.local_backend import setup_stage
from any2capins.runtime.shard import run_batch, side_columns
from any2capins.runtime.stage import Stage


def process_items(stage: Stage, items: list[BaseModel], index: int, run_dir: str,
                  decode: DecodeSettings | None = None) -> list[Any]:
    """`stage`'s results for `items` of input shard `index` (records or Failures)."""
    setup_stage(stage)
    store = ShardStore(run_dir)
    tables = ShardTables(store, index, *side_columns([stage]))
    request = stage.frames()
    clips = {getattr(i, "clip_id", ""): i for i in items}
    frames: dict[str, Any] = {}
    if request is not None:
        source = InlineFrames(clips, {c: {stage.name: request} for c in clips},
                              decode or DecodeSettings(), DecodeStats())
        try:
            frames = source.get(list(clips))
        finally:
            source.close()
    inputs = Inputs(stage.name, index, tables, frames, {})
    return run_batch(stage, items, inputs, 0)


def find_item(store: ShardStore, input_dir: str, model: type[BaseModel],
              clip_id: str) -> tuple[int, BaseModel] | None:
    """(shard index, row) of the row with `clip_id` in the table at `input_dir`, or None."""
    import pyarrow.parquet as pq

    for index in store.shard_indices(input_dir):
        loc = store.data_loc(input_dir, index)
        ids = pq.read_table(loc.path, filesystem=loc.fs, columns=["clip_id"]).column(0)
        if clip_id in ids.to_pylist():
            rows = store.read_shard(input_dir, index, model)
            return index, next(r for r in rows if getattr(r, "clip_id", None) == clip_id)
    return None
