"""Duplicate content across the whole run, and the per-video accounting of ingest.

Shards are probed in parallel, so no worker can know whether an earlier file in the listing has
the same bytes. The decision is made after the stage, on the driver, from what the done shards
hold: for every content hash, the file with the smallest position in the persisted source
listing (`ingest/sources.parquet`) is kept; every later copy loses its clip rows (and its
ShotTooShort rows) and gets one `DuplicateContent` error row naming the kept uri. The shard is
rewritten (completion record removed first, so a crash mid-rewrite leaves it not done and the
rerun redoes it) with counts that still add up. The pass is idempotent and runs after every
ingest, so parallel shards, resumed runs and sources appended later all end the same way: the
first in listing order wins. A rewritten shard gets a new completion record, so later stages
redo that shard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa

from any2capins.ingest.layout import LISTING, overflow_of
from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.common import ErrorRecord, utc_now

log = logging.getLogger(__name__)
VIDEOS = "ingest/videos.parquet"
STAGE, CLIPS = "ingest", "clips"


@dataclass
class DuplicateReport:
    """What `resolve_duplicates` found: kept uri by duplicate uri, and shards rewritten."""

    kept_for: dict[str, str] = field(default_factory=dict)
    shards_rewritten: list[int] = field(default_factory=list)


def listing_order(store: ShardStore) -> dict[str, int]:
    """Position of every uri in the persisted source listing."""
    table = fs.read_table(store.root.join(LISTING))
    return dict(zip(table.column("uri").to_pylist(), table.column("index").to_pylist(),
                    strict=True))


def _columns(store: ShardStore, index: int) -> list[tuple[str, str]]:
    """(uri, content_sha256) of every clip row of one shard, read as columns only."""
    table = fs.read_table(store.data_loc(CLIPS, index), columns=["uri", "content_sha256"])
    return list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def resolve_duplicates(run_dir: str) -> DuplicateReport:
    """Turn every later copy of already-ingested content into a DuplicateContent error row.
    A source shard and its overflow shards (ingest/layout.py) are one unit: the copy's rows
    leave whichever of them holds them, its error row goes to the source shard."""
    store = ShardStore(run_dir)
    order = listing_order(store)
    records = {d.shard: d for d in store.done_records(STAGE)}
    rows = {i: _columns(store, i) for i in records}
    keeper: dict[str, str] = {}
    for uri, sha in (r for i in sorted(rows) for r in rows[i]):
        best = keeper.get(sha)
        if best is None or order.get(uri, 1 << 62) < order.get(best, 1 << 62):
            keeper[sha] = uri
    report = DuplicateReport()
    parts = overflow_of(store)
    for i in sorted(i for i, d in records.items() if d.part_of is None):
        unit = [i, *(m for m in parts.get(i, []) if m in rows)]
        dups = {uri: keeper[sha] for m in unit for uri, sha in rows[m] if keeper[sha] != uri}
        if dups:
            for m in unit:
                if any(uri in dups for uri, _ in rows[m]) or m == i:
                    _rewrite(store, m, dups, errors_here=m == i)
                    report.shards_rewritten.append(m)
            report.kept_for.update(dups)
    if report.kept_for:
        log.warning("ingest: %d file(s) repeat content already ingested; each is recorded as "
                    "DuplicateContent", len(report.kept_for))
    return report


def _rewrite(store: ShardStore, index: int, dups: dict[str, str], *, errors_here: bool) -> None:
    done = store.done(STAGE, index)
    if done is None:  # vanished since listed: the next run redoes the shard anyway
        return
    rows = store.read_shard(CLIPS, index, ClipRecord)
    errors = store.shard_errors(STAGE, index)
    if errors_here:
        sha = dict(_columns_all(store, index, rows))
        have = {(e.uri, e.error_class) for e in errors}
        errors = [e for e in errors if e.uri not in dups or e.error_class == "DuplicateContent"]
        errors += [ErrorRecord(
            stage=STAGE, shard=index, clip_id=None, uri=uri, error_class="DuplicateContent",
            message=f"same bytes (sha256 {sha.get(uri, '?')[:16]}) as {kept}, which is "
            "ingested; this copy is left out so clip ids stay unique",
        ) for uri, kept in sorted(dups.items()) if (uri, "DuplicateContent") not in have
            and uri in sha]
    kept_rows = [r for r in rows if r.uri not in dups]
    failed = {e.uri for e in errors}
    new_done = done.model_copy(update={
        "ok_items": max(0, done.input_rows - len(failed)) if done.part_of is None else 0,
        "output_rows": len(kept_rows), "error_rows": len(errors), "finished": utc_now(),
        "retriable_errors": sum(e.retriable for e in errors),
    })
    store.remove_done(STAGE, index)
    store.write_shard(output_dir=CLIPS, model=ClipRecord, index=index, rows=kept_rows,
                      errors=errors, done=new_done)


def _columns_all(store: ShardStore, index: int,
                 rows: list[ClipRecord]) -> list[tuple[str, str]]:
    """(uri, sha) of the source shard's clips, its overflow shards included."""
    out = [(r.uri, r.content_sha256) for r in rows]
    for m in overflow_of(store).get(index, []):
        if store.done(STAGE, m) is not None:
            out += _columns(store, m)
    return out


@dataclass(frozen=True)
class VideoLine:
    """What ingest made of one source file."""

    uri: str
    index: int
    status: str  # ok | failed | duplicate | not_done
    clips: int
    shots_dropped: int
    error: str


def video_table(run_dir: str) -> list[VideoLine]:
    """Per source file, in listing order: clips (shots) made, shots dropped, status; written to
    `ingest/videos.parquet`. Derived from the shards, so it is right after resumes too."""
    store = ShardStore(run_dir)
    order = listing_order(store)
    done = {d.shard for d in store.done_records(STAGE)}
    clips: dict[str, int] = {}
    errors: dict[str, list[ErrorRecord]] = {}
    for i in sorted(done):
        for uri, _ in _columns(store, i):
            clips[uri] = clips.get(uri, 0) + 1
        for e in store.shard_errors(STAGE, i):
            errors.setdefault(e.uri, []).append(e)
    seen = set(clips) | set(errors)
    lines = [_line(uri, idx, clips.get(uri, 0), errors.get(uri, []), uri in seen)
             for uri, idx in sorted(order.items(), key=lambda kv: kv[1])]
    store.write_table(VIDEOS, pa.table({
        "uri": [x.uri for x in lines], "index": [x.index for x in lines],
        "status": [x.status for x in lines], "clips": [x.clips for x in lines],
        "shots_dropped": [x.shots_dropped for x in lines], "error": [x.error for x in lines],
    }))
    return lines


def _line(uri: str, index: int, clips: int, errors: list[ErrorRecord], seen: bool) -> VideoLine:
    dropped = sum(e.error_class == "ShotTooShort" for e in errors)
    other = [e for e in errors if e.error_class != "ShotTooShort"]
    if not seen:
        status = "not_done"
    elif any(e.error_class == "DuplicateContent" for e in other):
        status = "duplicate"
    elif other:
        status = "failed"
    elif not clips:
        status = "no_clips"  # every shot shorter than min_len_s
    else:
        status = "ok"
    error = f"{other[0].error_class}: {other[0].message}" if other else ""
    return VideoLine(uri, index, status, clips, dropped, error[:500])


def videos_summary(lines: list[VideoLine]) -> dict[str, object]:
    """Counts over every source file of the run (for run.json and the terminal line)."""
    split = [x for x in lines if x.clips > 1]
    most = max(split, key=lambda x: x.clips, default=None)
    out: dict[str, object] = {"stage": "ingest (per video)", "videos": len(lines),
                              "clips": sum(x.clips for x in lines), "split_into_shots": len(split),
                              "most_shots": most.clips if most else 0,
                              "most_shots_uri": most.uri if most else None,
                              "shots_dropped": sum(x.shots_dropped for x in lines)}
    for status in ("ok", "failed", "duplicate", "no_clips", "not_done"):
        out[status] = sum(x.status == status for x in lines)
    return out


def summary_line(lines: list[VideoLine]) -> str:
    """One line for the terminal: videos in, clips out, shots, duplicates, failures, over the
    whole run folder after duplicates are resolved (the stage line before it counts the
    stage's own work in this run, duplicates included as ok)."""
    s = videos_summary(lines)
    most = (f" (most: {s['most_shots']} from {str(s['most_shots_uri']).rsplit('/', 1)[-1]})"
            if s["most_shots_uri"] else "")
    parts = [f"result: videos {s['videos']} -> clips {s['clips']}",
             f"{s['split_into_shots']} video(s) split into shots{most}",
             f"{s['shots_dropped']} short shot(s) dropped", f"{s['duplicate']} duplicate(s)",
             f"{s['failed']} failed"]
    if s["no_clips"]:
        parts.append(f"{s['no_clips']} with every shot too short")
    if s["not_done"]:
        parts.append(f"{s['not_done']} not done (failed shards)")
    return "  ".join(parts)
