"""What every request of the review server shares: the run, its settings, the queue (one
SQLite connection per server thread), the media of the run, and a cache of the lead's
statistics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from any2capins.config.review import ReviewConfig
from any2capins.review.store import ReviewStore
from any2capins.review.web.media import RunMedia


@dataclass
class ServerContext:
    """One server's state. `store()` gives the calling thread its own ReviewStore (sqlite3
    connections are per thread); all of them open the same WAL file, as CLI processes do."""

    run_dir: str
    queue_path: Path
    cfg: ReviewConfig
    media: RunMedia
    clock: Callable[[], float] = time.time
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _stats_cache: tuple[tuple[int, int], dict[str, Any]] | None = field(default=None,
                                                                       repr=False)
    _stats_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def session_seconds(self) -> float:
        return self.cfg.web.session_hours * 3600.0

    def store(self) -> ReviewStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = ReviewStore(self.queue_path, lease_seconds=self.cfg.lease_minutes * 60,
                                roster=self.cfg.roster, busy_timeout_s=self.cfg.busy_timeout_s,
                                clock=self.clock)
            self._local.store = store
        return store

    def full_stats(self, store: ReviewStore) -> dict[str, Any]:
        """`review stats --json` of the queue, recomputed only when decisions or reopens were
        added since the last call (the text metrics cost a little on big queues)."""
        from any2capins.review.stats import compute_stats

        key = store.conn.execute(
            "SELECT (SELECT COALESCE(MAX(decision_id), 0) FROM decisions), "
            "(SELECT COALESCE(MAX(reopen_id), 0) FROM reopens)").fetchone()
        key = (key[0], key[1])
        with self._stats_lock:
            cached = self._stats_cache
        if cached is not None and cached[0] == key:
            stats = cached[1]
        else:
            stats = compute_stats(store)
            with self._stats_lock:
                self._stats_cache = (key, stats)
        # the queue's state moves with every claim: always fresh
        return {**stats, "items_by_state": dict(sorted(store.counts_by_state().items()))}
