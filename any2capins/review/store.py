"""The queue's SQLite store: connection (WAL), schema, transactions, row conversion.

Tables:
    items      one row per (clip_id, caption version); state pending|leased|accepted|edited|
               rejected|superseded; the current lease (owner, expiry) lives on the row
    leases     every claim ever made, with how it ended (decided, released, expired, superseded)
    decisions  the audit trail: append-only (triggers refuse UPDATE and DELETE)
    reopens    a lead sent a decided item back to the queue: append-only like decisions
    sources    the captions/merged shard indices seen by enqueue (export writes one file each)
    current    each clip's latest caption version seen by enqueue (export approves only that)

Every write runs in `BEGIN IMMEDIATE`, so concurrent annotators' processes serialise on
SQLite's lock; readers never block writers in WAL mode. WAL needs every process on the host
that holds the file (not a network filesystem): remote annotators run the CLI there (ssh).
Times are stored as UTC epoch seconds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from any2capins.models.captions import MergedCaption
from any2capins.models.review import QueueItem
from any2capins.review.errors import AnnotatorError, QueueUnavailableError, UnknownItemError

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    shard INTEGER PRIMARY KEY, rows INTEGER NOT NULL, seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS current (
    clip_id TEXT PRIMARY KEY, version TEXT NOT NULL, shard INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    clip_id TEXT NOT NULL,
    version TEXT NOT NULL,
    shard INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'leased', 'accepted', 'edited', 'rejected', 'superseded')),
    caption_json TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    lease_id INTEGER,
    lease_owner TEXT,
    lease_expires REAL,
    decision_id INTEGER,
    UNIQUE (clip_id, version));
CREATE INDEX IF NOT EXISTS items_queue ON items (state, flagged DESC, item_id);
CREATE INDEX IF NOT EXISTS items_clip ON items (clip_id);
CREATE TABLE IF NOT EXISTS leases (
    lease_id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items (item_id),
    annotator TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items (item_id),
    clip_id TEXT NOT NULL,
    version TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('accept', 'edit', 'reject')),
    annotator TEXT NOT NULL,
    automatic INTEGER NOT NULL,
    decided_at REAL NOT NULL,
    lease_id INTEGER,
    claimed_at REAL,
    reason TEXT,
    before_json TEXT NOT NULL,
    after_json TEXT NOT NULL,
    edited_json TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TABLE IF NOT EXISTS reopens (
    reopen_id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items (item_id),
    decision_id INTEGER NOT NULL REFERENCES decisions (decision_id),
    lead TEXT NOT NULL,
    reopened_at REAL NOT NULL,
    reason TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS reopens_no_update BEFORE UPDATE ON reopens
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS reopens_no_delete BEFORE DELETE ON reopens
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


def local_run_dir(run_dir: str) -> Path | None:
    """The run folder as a local path, or None when it is remote (s3:// ...). Same rule as
    `any2capins.io.fs.resolve`, without importing pyarrow: the interactive CLI starts faster."""
    if run_dir.startswith("file://"):
        run_dir = run_dir[len("file://"):]
    if "://" in run_dir:
        return None
    return Path(run_dir).expanduser().absolute()


def to_dt(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class ReviewStore:
    """An open queue. One instance per process/thread (sqlite3 connections are not shared).

    `roster` (optional) lists the annotators allowed; `clock` returns epoch seconds and is
    injectable so tests can move time forward to expire leases.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lease_seconds: float = 1800.0,
        roster: Sequence[str] = (),
        busy_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_seconds = lease_seconds
        self.roster = frozenset(roster)
        self.clock = clock
        # isolation_level=None: we issue BEGIN ourselves (BEGIN IMMEDIATE for writes).
        self.conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._create_schema()

    def _create_schema(self) -> None:
        with self.write() as conn:
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                         (SCHEMA_VERSION,))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from the start (no upgrade races)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # busy past the timeout, read-only file, ...
            raise QueueUnavailableError(f"queue {self.path}: {exc}") from None
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def now(self) -> float:
        return self.clock()

    def check_annotator(self, name: str | None) -> str:
        """The annotator's name, stripped; refuses an empty name or one off the roster."""
        clean = (name or "").strip()
        if not clean:
            raise AnnotatorError("an annotator name is required (--annotator NAME)")
        if self.roster and clean not in self.roster:
            raise AnnotatorError(
                f"annotator {clean!r} is not on the roster (review.roster: "
                f"{', '.join(sorted(self.roster))})"
            )
        return clean

    # -- reading ------------------------------------------------------------------------------
    def item(self, item_id: int) -> QueueItem:
        row = self.conn.execute("SELECT * FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise UnknownItemError(f"no item {item_id} in {self.path}")
        return item_from_row(row)

    def items(self, where: str = "1", params: Sequence[object] = ()) -> list[QueueItem]:
        rows = self.conn.execute(f"SELECT * FROM items WHERE {where} ORDER BY item_id",  # noqa: S608
                                 params).fetchall()
        return [item_from_row(r) for r in rows]

    def counts_by_state(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}


def item_from_row(row: sqlite3.Row) -> QueueItem:
    return QueueItem(
        item_id=row["item_id"],
        shard=row["shard"],
        state=row["state"],
        flagged=bool(row["flagged"]),
        enqueued_at=to_dt(row["enqueued_at"]),
        lease_owner=row["lease_owner"],
        lease_expires=to_dt(row["lease_expires"]),
        caption=MergedCaption.model_validate_json(row["caption_json"]),
    )


def dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)
