"""Four processes claiming and deciding over one queue at the same time.

Leases are short and workers sometimes dawdle past them, so expiry, reclaim and refused
late decisions all happen under contention. Whatever the interleaving: each item is decided
exactly once, no item is ever leased to two workers at once, and every decision a worker saw
succeed is in the audit trail.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import random
import time
from collections import Counter, defaultdict

from review_helpers import make_caption, queue

from any2capins.models.review import DecisionRequest
from any2capins.review.decisions import audit_trail, decide
from any2capins.review.enqueue import enqueue
from any2capins.review.errors import ReviewError
from any2capins.review.leases import claim
from any2capins.review.store import ReviewStore

ITEMS = 200
WORKERS = 4
LEASE_S = 0.25


def _worker(path: str, name: str, seed: int, ready: mp.Queue, go, out: mp.Queue) -> None:
    rng = random.Random(seed)
    store = ReviewStore(path, lease_seconds=LEASE_S)
    ready.put(name)
    go.wait(60)  # start together: process start-up takes longer than the work itself
    decided, refused = [], 0
    while (item := claim(store, name)) is not None:
        if len(decided) + refused == 4 or rng.random() < 0.01:
            time.sleep(LEASE_S * 3)  # lease expires; another worker reclaims it meanwhile
        action = rng.choice(["accept", "edit", "reject"])
        request = DecisionRequest(
            item_id=item.item_id, version=item.version, action=action,
            edits={"camera": f"Camera text by {name}."} if action == "edit" else {},
            reason="off-topic" if action == "reject" else None)
        try:
            record = decide(store, request, name)
        except ReviewError:
            refused += 1
            continue
        decided.append((record.decision_id, item.item_id))
    store.close()
    out.put((name, decided, refused))


def test_four_processes_decide_each_item_exactly_once(tmp_path):
    store = queue(tmp_path)
    rows = [make_caption(f"clip-{i:04d}", flags=["f"] if i % 7 == 0 else []) for i in range(ITEMS)]
    enqueue(store, [(0, rows[:100]), (1, rows[100:])], "all")
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker,
                         args=(str(store.path), f"annotator-{k}", k, ready, go, out))
             for k in range(WORKERS)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    trail = audit_trail(store)
    per_item = Counter(d.item_id for d in trail)
    assert len(per_item) == ITEMS and set(per_item.values()) == {1}
    seen = {decision_id: (name, item_id) for name, decided, _ in results
            for decision_id, item_id in decided}
    assert len(seen) == ITEMS
    assert {d.decision_id: (d.annotator, d.item_id) for d in trail} == seen
    assert sum(len(decided) for _, decided, _ in results) == ITEMS
    assert sum(v for k, v in store.counts_by_state().items() if k != "pending") == ITEMS
    assert len({name for name, decided, _ in results if decided}) > 1  # really concurrent

    # No lease overlaps another of the same item: each one ended before the next began.
    leases = defaultdict(list)
    for row in store.conn.execute("SELECT * FROM leases ORDER BY lease_id"):
        leases[row["item_id"]].append(row)
    for rows_of_item in leases.values():
        for a, b in itertools.pairwise(rows_of_item):
            assert a["outcome"] in ("expired", "released")
            assert a["ended_at"] <= b["claimed_at"]
        assert rows_of_item[-1]["outcome"] == "decided"
    refused = sum(r for _, _, r in results)
    expired = sum(1 for rs in leases.values() for r in rs if r["outcome"] == "expired")
    assert 1 <= refused <= expired  # late decisions were refused, never applied
