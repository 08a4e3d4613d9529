"""Shard access for the loader: the (shard, row) index and per-process table caches.

The index is built from Parquet footers only (row counts), plus the small `split` /
`condition_set` columns when the caller filters on them. Tables are read on first use, per
process, and kept in a small LRU: a DataLoader worker opens its own filesystem handles (S3
clients are not fork-safe), and nothing unpicklable is held by the dataset object itself.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from any2capins.io import fs
from any2capins.io.shards import shard_index, shard_name

INSTANCES_DIR = "instances"


@dataclass(frozen=True)
class RowRef:
    """One instance: the shard file (relative to the run folder) and the row inside it."""

    shard: str
    row: int


def split_run_path(path: str) -> tuple[str, str]:
    """(run folder URI, instances folder relative to it) for a run folder or its instances/."""
    stripped = path.rstrip("/")
    if stripped.rsplit("/", 1)[-1] == INSTANCES_DIR:
        return stripped.rsplit("/", 1)[0] or "/", INSTANCES_DIR
    return stripped, INSTANCES_DIR


def build_index(run: str, instances_dir: str, *, split: str | None = None,
                condition_sets: list[str] | None = None) -> list[RowRef]:
    """Every instance row in shard order. Raises FileNotFoundError when there are none to read:
    a loader over nothing is a wrong path, not an empty dataset."""
    root = fs.resolve(run)
    base = root.join(instances_dir)
    paths = [p for p in fs.list_files(base, ".parquet") if shard_index(p) is not None]
    if not paths:
        raise FileNotFoundError(f"no instance shards under {base.uri()}")
    refs: list[RowRef] = []
    for path in paths:
        rel = path[len(root.path):].lstrip("/")
        if split is None and condition_sets is None:
            n = pq.read_metadata(path, filesystem=root.fs).num_rows
            refs.extend(RowRef(rel, i) for i in range(n))
            continue
        table = pq.read_table(path, filesystem=root.fs, columns=["split", "condition_set"])
        mask = pa.array([True] * table.num_rows)
        if split is not None:
            mask = pc.and_(mask, pc.equal(table.column("split"), split))
        if condition_sets is not None:
            mask = pc.and_(mask, pc.is_in(table.column("condition_set"),
                                          value_set=pa.array(condition_sets)))
        refs.extend(RowRef(rel, i) for i, keep in enumerate(mask.to_pylist()) if keep)
    return refs


class ShardCache:
    """Per-process LRU of decoded shard tables, plus clip_id -> row maps for condition tables."""

    def __init__(self, run: str, capacity: int) -> None:
        self.run = run
        self.capacity = capacity
        self.pid = os.getpid()
        self.root = fs.resolve(run)
        self._tables: OrderedDict[str, tuple[pa.Table, dict[str, int]]] = OrderedDict()
        self._missing: set[str] = set()

    def _get(self, relpath: str) -> tuple[pa.Table, dict[str, int]]:
        hit = self._tables.get(relpath)
        if hit is not None:
            self._tables.move_to_end(relpath)
            return hit
        loc = self.root.join(relpath)
        table = pq.read_table(loc.path, filesystem=loc.fs)
        ids = table.column("clip_id").to_pylist() if "clip_id" in table.column_names else []
        entry = (table, {cid: i for i, cid in enumerate(ids)})
        self._tables[relpath] = entry
        while len(self._tables) > self.capacity:
            self._tables.popitem(last=False)
        return entry

    def row(self, relpath: str, row: int) -> dict[str, Any]:
        table, _ = self._get(relpath)
        return table.slice(row, 1).to_pylist()[0]

    def by_clip(self, relpath: str, clip_id: str) -> dict[str, Any] | None:
        """The row of `clip_id` in a condition (or clips) shard; None when absent."""
        if relpath in self._missing:
            return None
        if relpath not in self._tables and not fs.exists(self.root.join(relpath)):
            self._missing.add(relpath)
            return None
        table, ids = self._get(relpath)
        i = ids.get(clip_id)
        return None if i is None else table.slice(i, 1).to_pylist()[0]

    def clip_row(self, instance_shard: str, clip_id: str) -> dict[str, Any] | None:
        """The clips/ row of an instance: clips shard N feeds instances shard N."""
        index = shard_index(instance_shard)
        return None if index is None else self.by_clip(f"clips/{shard_name(index)}", clip_id)
