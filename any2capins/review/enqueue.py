"""Filling the queue from `RUN_DIR/captions/merged/` under a policy.

Idempotent: a (clip_id, version) already in the queue is left alone. A clip whose caption was
regenerated (new version hash) gets a new item; its older undecided item becomes
`superseded` (a decision on it is then refused), and older decisions stay in the audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from any2capins.errors import InputError
from any2capins.io.shards import ShardStore
from any2capins.models.captions import MergedCaption
from any2capins.models.tables import folder
from any2capins.review.store import ReviewStore, dumps

MERGED_DIR = folder("captions.merged")


@dataclass
class EnqueueSummary:
    """What one enqueue call did."""

    policy: str
    seen: int = 0
    added: int = 0
    already_queued: int = 0
    not_selected: int = 0
    superseded: int = 0
    shards: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_policy(policy: str) -> tuple[str, float]:
    """('all'|'flagged'|'sample', fraction). Raises InputError on anything else."""
    text = policy.strip()
    if text in ("all", "flagged"):
        return text, 1.0 if text == "all" else 0.0
    kind, _, raw = text.partition(":")
    try:
        fraction = float(raw)
    except ValueError:
        fraction = -1.0
    if kind != "sample" or not 0.0 <= fraction <= 1.0:
        raise InputError(f"unknown policy {policy!r}: use all, flagged or sample:F (0<=F<=1)")
    return "sample", fraction


def needs_attention(caption: MergedCaption) -> bool:
    """Flagged items (failed checks or missing sections) always enter and are served first."""
    return bool(caption.flags or caption.missing)


def in_sample(clip_id: str, fraction: float) -> bool:
    """Deterministic by clip id: the same clips are drawn on every run and machine."""
    digest = hashlib.sha256(clip_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def selected(caption: MergedCaption, policy: str) -> bool:
    kind, fraction = parse_policy(policy)
    if needs_attention(caption) or kind == "all":
        return True
    return kind == "sample" and in_sample(caption.clip_id, fraction)


def read_merged(run_dir: str) -> Iterator[tuple[int, list[MergedCaption]]]:
    """(shard index, rows) of every merged-caption shard of the run."""
    shards = ShardStore(run_dir)
    indices = shards.shard_indices(MERGED_DIR)
    if not indices:
        raise InputError(f"no merged captions in {shards.root.join(MERGED_DIR).uri()} "
                         "(run the captions stage first)")
    for index in indices:
        yield index, shards.read_shard(MERGED_DIR, index, MergedCaption)


def enqueue(
    store: ReviewStore, shards: Iterable[tuple[int, list[MergedCaption]]], policy: str
) -> EnqueueSummary:
    """Add the selected captions of each shard (one transaction per shard)."""
    parse_policy(policy)
    summary = EnqueueSummary(policy=policy)
    for index, rows in shards:
        with store.write() as conn:
            now = store.now()
            conn.execute("INSERT OR REPLACE INTO sources VALUES (?, ?, ?)", (index, len(rows), now))
            for caption in rows:
                summary.seen += 1
                _enqueue_one(conn, caption, index, policy, now=now, summary=summary)
        summary.shards.append(index)
    return summary


def _enqueue_one(conn, caption: MergedCaption, shard: int, policy: str, *, now: float,
                 summary: EnqueueSummary) -> None:
    conn.execute("INSERT OR REPLACE INTO current VALUES (?, ?, ?)",
                 (caption.clip_id, caption.version, shard))
    known = conn.execute("SELECT 1 FROM items WHERE clip_id = ? AND version = ?",
                         (caption.clip_id, caption.version)).fetchone()
    if known:
        summary.already_queued += 1
        return
    # A new version of a clip makes its older undecided item stale.
    older = conn.execute("SELECT item_id, lease_id FROM items WHERE clip_id = ? AND "
                         "state IN ('pending', 'leased')", (caption.clip_id,)).fetchall()
    for row in older:
        conn.execute("UPDATE items SET state = 'superseded', lease_owner = NULL, "
                     "lease_expires = NULL, lease_id = NULL WHERE item_id = ?", (row[0],))
        if row[1] is not None:
            conn.execute("UPDATE leases SET ended_at = ?, outcome = 'superseded' "
                         "WHERE lease_id = ? AND ended_at IS NULL", (now, row[1]))
        summary.superseded += 1
    if not selected(caption, policy):
        summary.not_selected += 1
        return
    conn.execute(
        "INSERT INTO items (clip_id, version, shard, flagged, state, caption_json, enqueued_at) "
        "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        (caption.clip_id, caption.version, shard, int(needs_attention(caption)),
         dumps(caption.model_dump(mode="json")), now),
    )
    summary.added += 1
