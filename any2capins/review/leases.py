"""Leases: who holds which item until when.

`claim` hands out the next item (flagged first, then oldest) under a lease of
`store.lease_seconds`; an item whose lease expired is claimable again (its old lease is closed
as 'expired'). Claims run under SQLite's write lock, so no item is ever held twice.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from any2capins.models.review import QueueItem
from any2capins.review.errors import LeaseError
from any2capins.review.store import ReviewStore

_ORDER = "ORDER BY flagged DESC, item_id LIMIT 1"


def claim(
    store: ReviewStore, annotator: str, exclude: Collection[int] = ()
) -> QueueItem | None:
    """Lease the next claimable item to `annotator`; None when nothing is left.

    `exclude`: item ids this annotator skipped in the current session.
    """
    name = store.check_annotator(annotator)
    skip = " AND item_id NOT IN (SELECT value FROM json_each(:skip))"
    params = {"skip": json.dumps(sorted(int(i) for i in exclude))}
    with store.write() as conn:
        now = store.now()
        # Two indexed lookups instead of one OR query: the pending list may be very long.
        candidates = [
            conn.execute(f"SELECT item_id, flagged, lease_id, lease_expires FROM items "  # noqa: S608
                         f"WHERE state = 'pending'{skip} {_ORDER}", params).fetchone(),
            conn.execute(f"SELECT item_id, flagged, lease_id, lease_expires FROM items "  # noqa: S608
                         f"WHERE state = 'leased' AND lease_expires <= :now{skip} {_ORDER}",
                         {**params, "now": now}).fetchone(),
        ]
        found = [c for c in candidates if c is not None]
        if not found:
            return None
        row = min(found, key=lambda r: (-r["flagged"], r["item_id"]))
        if row["lease_id"] is not None:
            conn.execute("UPDATE leases SET ended_at = ?, outcome = 'expired' WHERE lease_id = ?",
                         (row["lease_expires"], row["lease_id"]))
        expires = now + store.lease_seconds
        lease_id = conn.execute(
            "INSERT INTO leases (item_id, annotator, claimed_at, expires_at) VALUES (?, ?, ?, ?)",
            (row["item_id"], name, now, expires),
        ).lastrowid
        conn.execute("UPDATE items SET state = 'leased', lease_id = ?, lease_owner = ?, "
                     "lease_expires = ? WHERE item_id = ?",
                     (lease_id, name, expires, row["item_id"]))
    return store.item(row["item_id"])


def release(store: ReviewStore, item_id: int, annotator: str) -> QueueItem:
    """Give a held item back to the queue (it keeps its place: flagged first, then oldest)."""
    name = store.check_annotator(annotator)
    with store.write() as conn:
        item = store.item(item_id)
        if item.state != "leased" or item.lease_owner != name:
            raise LeaseError(f"item {item_id} is not leased to {name} ({describe_holder(item)})")
        lease_id = conn.execute("SELECT lease_id FROM items WHERE item_id = ?",
                                (item_id,)).fetchone()[0]
        conn.execute("UPDATE leases SET ended_at = ?, outcome = 'released' WHERE lease_id = ?",
                     (store.now(), lease_id))
        conn.execute("UPDATE items SET state = 'pending', lease_id = NULL, lease_owner = NULL, "
                     "lease_expires = NULL WHERE item_id = ?", (item_id,))
    return store.item(item_id)


def held(store: ReviewStore, annotator: str) -> list[QueueItem]:
    """Items whose unexpired lease belongs to `annotator` (to resume after a crash)."""
    name = store.check_annotator(annotator)
    return store.items("state = 'leased' AND lease_owner = ? AND lease_expires > ?",
                       (name, store.now()))


def describe_holder(item: QueueItem) -> str:
    """Human words for who has the item now."""
    if item.state == "leased":
        return f"leased to {item.lease_owner} until {to_dt_str(item)}"
    return f"state {item.state}"


def to_dt_str(item: QueueItem) -> str:
    exp = item.lease_expires
    return exp.strftime("%Y-%m-%d %H:%M:%SZ") if exp else "?"
