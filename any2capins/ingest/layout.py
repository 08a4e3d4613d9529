"""Shards of bounded size: a clips/ shard holds at most `ingest.clips_per_shard` clips, whatever
their source.

The probe stage writes clips/ shard N from source shard N (`clips_per_shard` source files). A
long video split into many shots can make that shard large (a one-hour film: ~1,000 shots),
and every later stage would hold and process it in one worker. After the stage (and the
duplicate pass), every shard written by this ingest with more than `clips_per_shard` rows keeps
its first `clips_per_shard` rows and moves the rest, in order, to overflow shards. Their
indices are allocated once per (source shard, part) and persisted in `ingest/layout.parquet`,
after every index the run folder uses, so names are deterministic across reruns, resumes and
sources appended later. An overflow shard has its own completion record (`part_of` = N, no
input rows: its clips are counted in N's source files), written after its rows. A source shard
redone with fewer parts leaves its surplus overflow shards empty (zero rows), never stale.
Shards written before this existed are left as they are until they are ingested again.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pyarrow as pa

from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.common import ShardDone, utc_now
from any2capins.models.tables import folder

log = logging.getLogger(__name__)
LAYOUT = "ingest/layout.parquet"
LISTING = "ingest/sources.parquet"  # the persisted source listing (uri, index, shard)
STAGE = "ingest"


def read_layout(store: ShardStore) -> dict[tuple[int, int], int]:
    """(source shard, part) -> clips/ shard index of every overflow shard allocated so far."""
    if not store.exists(LAYOUT):
        return {}
    t = fs.read_table(store.root.join(LAYOUT))
    cols = [t.column(c).to_pylist() for c in ("source_shard", "part", "shard")]
    return {(s, p): i for s, p, i in zip(*cols, strict=True)}


def overflow_of(store: ShardStore) -> dict[int, list[int]]:
    """Source shard -> its overflow shards, in part order."""
    out: dict[int, list[tuple[int, int]]] = {}
    for (source, part), index in read_layout(store).items():
        out.setdefault(source, []).append((part, index))
    return {s: [i for _, i in sorted(parts)] for s, parts in out.items()}


def split_shards(run_dir: str, clips_per_shard: int, since: datetime) -> list[int]:
    """Split every source shard written at or after `since` that holds more than
    `clips_per_shard` clips (see the module docstring); returns the shards written."""
    store = ShardStore(run_dir)
    layout = read_layout(store)
    records = {d.shard: d for d in store.done_records(STAGE)}
    written: list[int] = []
    for index in sorted(records):
        done = records[index]
        if done.part_of is not None or done.finished < since:
            continue
        owned = [layout[k] for k in sorted(layout) if k[0] == index]
        rows = _rows_of(store, index, owned if done.retried else [])
        if len(rows) <= clips_per_shard and not owned:
            continue
        written += _write_parts(store, done, rows, clips_per_shard, layout)
    if written:
        _save_layout(store, layout)
        log.info("ingest: shards over %d clips split; %d shard(s) written", clips_per_shard,
                 len(written))
    return written


def _rows_of(store: ShardStore, index: int, overflow: list[int]) -> list[ClipRecord]:
    """The clips of source shard `index`: its own shard, plus (after a retry, which rewrote
    only the first part) the rows still in its overflow shards, each clip once."""
    clips = folder("clips")
    rows = store.read_shard(clips, index, ClipRecord)
    seen = {r.clip_id for r in rows}
    for m in overflow:
        if store.exists(f"{clips}/shard-{m:05d}.parquet"):
            extra = [r for r in store.read_shard(clips, m, ClipRecord) if r.clip_id not in seen]
            seen.update(r.clip_id for r in extra)
            rows += extra
    return rows


def _write_parts(store: ShardStore, done: ShardDone, rows: list[ClipRecord], size: int,
                 layout: dict[tuple[int, int], int]) -> list[int]:
    """The source shard's record removed first, then the overflow shards, then the source
    shard with its first `size` rows and its record."""
    index = done.shard
    store.remove_done(STAGE, index)  # a crash from here on leaves it not done: redone, resplit
    parts = [rows[k : k + size] for k in range(0, len(rows), size)] or [[]]
    owned = sorted(p for s, p in layout if s == index)
    written = []
    for part in range(1, max(len(parts), (owned[-1] + 1) if owned else 1)):
        chunk = parts[part] if part < len(parts) else []
        target = layout.get((index, part))
        if target is None:
            target = _next_index(store, layout)
            layout[(index, part)] = target
        _write(store, target, chunk, _overflow_done(done, target, len(chunk)))
        written.append(target)
    head = parts[0]
    _write(store, index, head, done.model_copy(update={"output_rows": len(head),
                                                       "finished": utc_now()}))
    return [index, *written]


def _overflow_done(source: ShardDone, index: int, n: int) -> ShardDone:
    now = utc_now()
    return source.model_copy(update={
        "shard": index, "input_rows": 0, "ok_items": 0, "output_rows": n, "error_rows": 0,
        "retriable_errors": 0, "retried": 0, "started": now, "finished": now, "seconds": 0.0,
        "usage": None, "run_usage": None, "upstream": {}, "part_of": source.shard})


def _write(store: ShardStore, index: int, rows: list[ClipRecord], done: ShardDone) -> None:
    store.remove_done(STAGE, index)  # a crash mid-write leaves the shard not done
    errors = store.shard_errors(STAGE, index) if done.part_of is None else []
    store.write_shard(output_dir=folder("clips"), model=ClipRecord, index=index, rows=rows,
                      errors=errors, done=done)


def _next_index(store: ShardStore, layout: dict[tuple[int, int], int]) -> int:
    """After every index in use: clips/ shards, the source listing's shards, the layout."""
    used = set(store.shard_indices(folder("clips"))) | set(layout.values())
    if store.exists(LISTING):
        used |= set(fs.read_table(store.root.join(LISTING)).column("shard").to_pylist())
    return max(used, default=-1) + 1


def _save_layout(store: ShardStore, layout: dict[tuple[int, int], int]) -> None:
    keys = sorted(layout)
    store.write_table(LAYOUT, pa.table({
        "source_shard": pa.array([s for s, _ in keys], pa.int64()),
        "part": pa.array([p for _, p in keys], pa.int64()),
        "shard": pa.array([layout[k] for k in keys], pa.int64()),
    }))
