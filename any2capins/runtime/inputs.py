"""What the runtime hands a stage with each batch: its frames, its side-table rows, a scratch.

`ShardTables` reads the side tables of one shard once (only the columns the stages declared)
and also holds the rows that stages running in the same worker produced for this shard, so a
stage reading a table written in the same pass (the contact sheet reads the conditions) sees
exactly what it would read from the written shard. `Inputs` is one stage's view of a batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from any2capins.io import fs
from any2capins.io.arrow import to_table
from any2capins.io.frames import SampledFrames
from any2capins.io.shards import ShardStore
from any2capins.models.tables import TABLES
from any2capins.runtime.frames import ClipFrames


class ShardTables:
    """Rows of the side tables of one shard, by table and clip_id (None when a table has no
    row for the clip, or no shard at all).

    Memory follows the batch, not the shard: `begin_batch(ids)` drops the previous batch's rows
    and later reads fetch only the row groups holding those clips (shards written by the
    runtime have row groups of a few rows). Tables in `whole` (a pass's gate, a few small
    columns) are read once for the shard."""

    def __init__(self, store: ShardStore, index: int, columns: dict[str, set[str] | None],
                 lengths: dict[str, set[str]] | None = None, whole: set[str] | None = None) -> None:
        self.store = store
        self.index = index
        self.columns = columns  # table -> columns wanted (None: all)
        self.lengths = lengths or {}  # table -> list columns wanted as their lengths
        self.whole = whole or set()
        self._batch: set[str] | None = None  # clip ids of the batch (None: outside batches)
        self._rows: dict[str, dict[str, dict[str, Any]]] = {}
        self._produced: dict[str, dict[str, dict[str, Any]]] = {}
        self._gone: dict[str, set[str]] = {}
        self._groups: dict[str, tuple[Any, dict[str, int]] | None] = {}
        self._lock = threading.Lock()  # LLM stages prepare clips in threads

    def begin_batch(self, clip_ids: Iterable[str]) -> None:
        """The next batch's clips: what the previous batch read or produced is dropped."""
        with self._lock:
            self._batch = set(clip_ids)
            self._rows = {t: r for t, r in self._rows.items() if t in self.whole}
            self._produced, self._gone = {}, {}

    def row(self, table: str, clip_id: str) -> dict[str, Any] | None:
        """The clip's row of `table`: produced in this pass if it was, else from the shard."""
        with self._lock:
            if clip_id in self._gone.get(table, ()):
                return None
            produced = self._produced.get(table)
            if produced is not None and clip_id in produced:
                return produced[clip_id]
            rows = self._rows.get(table)
            if rows is None or (table not in self.whole and clip_id not in rows
                                and clip_id not in (self._batch or ())):
                ids = None if table in self.whole else (self._batch or set()) | {clip_id}
                rows = self._rows[table] = {**(rows or {}), **self._read(table, ids)}
            return rows.get(clip_id)

    def _file(self, table: str) -> tuple[Any, dict[str, int]] | None:
        """The table's Parquet file and the row group of each clip (read once per shard)."""
        import pyarrow.parquet as pq

        if table not in self._groups:
            loc = self.store.data_loc(TABLES[table].folder, self.index)
            if not fs.exists(loc):
                self._groups[table] = None
            else:
                pf = pq.ParquetFile(loc.path, filesystem=loc.fs)
                where = {}
                for g in range(pf.num_row_groups):
                    for cid in pf.read_row_group(g, columns=["clip_id"]).column(0).to_pylist():
                        where[cid] = g
                self._groups[table] = (pf, where)
        return self._groups[table]

    def _read(self, table: str, ids: set[str] | None) -> dict[str, dict[str, Any]]:
        """Rows of `table` for `ids` (None: every row), only the wanted columns."""
        import pyarrow.compute as pc

        found = self._file(table)
        if found is None:
            return {}
        pf, where = found
        groups = sorted({where[c] for c in (where if ids is None else ids) if c in where})
        if not groups:
            return {}
        wanted = self.columns.get(table)
        counted = {c for c in self.lengths.get(table, ()) if wanted is not None and c not in wanted}
        cols = [c for c in pf.schema_arrow.names
                if wanted is None or c in wanted or c in counted or c == "clip_id"]
        data = pf.read_row_groups(groups, columns=cols)
        for name in counted & set(cols):
            k = data.column_names.index(name)
            data = data.set_column(k, name, pc.list_value_length(data.column(name)))
        rows = data.to_pylist(maps_as_pydicts="strict")
        return {r["clip_id"]: r for r in rows if ids is None or r["clip_id"] in ids}

    def produced(self, table: str, model: type[BaseModel], rows: Iterable[BaseModel]) -> None:
        """Rows a stage of this worker just wrote to `table`, readable by the stages after it
        in this batch (through Arrow, so they look exactly as they would read back from
        Parquet)."""
        rows = list(rows)
        if table not in self.columns or not rows:
            return
        wanted = self.columns[table]
        counted = {c for c in self.lengths.get(table, ()) if wanted is not None and c not in wanted}
        data = to_table(rows, model).to_pylist(maps_as_pydicts="strict")
        with self._lock:
            keep = self._produced.setdefault(table, {})
            for r in data:
                row = {k: v for k, v in r.items()
                       if wanted is None or k in wanted or k in counted or k == "clip_id"}
                keep[r["clip_id"]] = {k: (len(v) if k in counted and v is not None else v)
                                      for k, v in row.items()}

    def forget(self, table: str, clip_ids: Iterable[str]) -> None:
        """Mark clips whose row of `table` failed in this pass: they have no row now (only
        for tables a stage of this worker reads)."""
        if table not in self.columns:
            return
        with self._lock:
            self._gone.setdefault(table, set()).update(clip_ids)


class Inputs:
    """One stage's view of a batch: `frames(clip_id)` (DecodeError when the clip did not
    decode), `decode_info(clip_id)` (the decode fields of condition records), `row(table,
    clip_id)`, and `shared(key, clip_id, compute)`, a per-clip scratch shared by the stages of
    one worker (e.g. detections computed once for pose and refs)."""

    def __init__(self, stage: str, index: int, tables: ShardTables,
                 frames: dict[str, ClipFrames], scratch: dict[Any, Any]) -> None:
        self.stage = stage
        self.shard = index
        self.tables = tables
        self._frames = frames
        self._scratch = scratch
        self._lock = threading.Lock()

    def frames(self, clip_id: str) -> SampledFrames:
        from any2capins.errors import DecodeError

        got = self._frames.get(clip_id)
        if got is None:
            raise DecodeError(f"no frames were decoded for clip {clip_id}")
        return got.get(self.stage)

    def decode_info(self, clip_id: str) -> dict[str, Any]:
        """`frames_requested`, `decode_warnings` and `decode_seconds` of the clip's frames."""
        sampled = self.frames(clip_id)
        return {"frames_requested": int(sampled.requested or len(sampled.indices)),
                "decode_warnings": [str(w)[:300] for w in sampled.warnings][:50],
                "decode_seconds": round(self._frames[clip_id].seconds, 4)}

    def row(self, table: str, clip_id: str) -> dict[str, Any] | None:
        return self.tables.row(table, clip_id)

    def shared(self, key: Any, clip_id: str, compute: Callable[[], Any]) -> Any:
        """`compute()` once per (key, clip) in this worker's batch; later calls get the value."""
        with self._lock:
            slot = (key, clip_id)
            if slot not in self._scratch:
                self._scratch[slot] = compute()
            return self._scratch[slot]
