"""Near-duplicates across the whole run, decided after the filter stage: every quality row's
`duplicate_of` is set from the frame hashes (and embeddings) of all clips (dedup.py), and the
quality shards whose verdicts changed are rewritten, their completion records kept in step.
Idempotent: a rerun that finds the same groups rewrites nothing, so nothing downstream is
redone; clips added later, or a changed setting, move verdicts both ways."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa

from any2capins.config.filter import FilterConfig
from any2capins.curation.dedup import entries_from_tables, find_duplicates
from any2capins.curation.filters import mark_duplicate
from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models.common import utc_now
from any2capins.models.quality import QualityRecord
from any2capins.models.tables import folder

log = logging.getLogger(__name__)
STAGE = "filter"


@dataclass
class NearDuplicates:
    """What one pass found: duplicate -> kept clip, and the quality shards rewritten."""

    kept_for: dict[str, str] = field(default_factory=dict)
    shards_rewritten: list[int] = field(default_factory=list)


def resolve_near_duplicates(run_dir: str, cfg: FilterConfig) -> NearDuplicates:
    """Decide near-duplicates over every done quality shard and write the verdicts."""
    store = ShardStore(run_dir)
    shards = sorted(d.shard for d in store.done_records(STAGE))
    if not shards:
        return NearDuplicates()
    quality = _concat(store, folder("quality"), shards,
                      ["clip_id", "reasons", "frame_hashes", "embedding", "tiny_model"])
    clips = _concat(store, folder("clips"), store.shard_indices(folder("clips")),
                    ["clip_id", "duration_s", "width", "height"])
    dups = (find_duplicates(entries_from_tables(quality, clips), cfg.dedup)
            if cfg.dedup.enabled else {})
    out = NearDuplicates(kept_for=dups)
    for index in shards:
        if _rewrite(store, index, dups):
            out.shards_rewritten.append(index)
    if dups:
        log.info("filter: %d near-duplicate clip(s) left out", len(dups))
    return out


def _concat(store: ShardStore, table: str, indices: list[int], columns: list[str]) -> pa.Table:
    parts = [fs.read_table(store.data_loc(table, i), columns=columns) for i in indices
             if store.exists(f"{table}/shard-{i:05d}.parquet")]
    return pa.concat_tables(parts) if parts else pa.table({c: [] for c in columns})


def _rewrite(store: ShardStore, index: int, dups: dict[str, str]) -> bool:
    """Rewrite quality shard `index` when a verdict changed (record removed first: a crash
    mid-rewrite leaves the shard to be redone); False when nothing changed."""
    rows = store.read_shard(folder("quality"), index, QualityRecord)
    new = [mark_duplicate(r, dups.get(r.clip_id)) for r in rows]
    if new == rows:
        return False
    done = store.done(STAGE, index)
    if done is None:
        return False
    store.remove_done(STAGE, index)
    store.write_shard(output_dir=folder("quality"), model=QualityRecord, index=index, rows=new,
                      errors=store.shard_errors(STAGE, index),
                      done=done.model_copy(update={"finished": utc_now()}))
    return True
