"""The call cache, stored per shard: a few JSON-lines segment files per shard instead of one
object per call (at the paper's scale, 337K clips x 6 sections would be ~2M objects, i.e.
millions of PUTs and LISTs on S3).

Layout: `<cache root>/shard-NNNNN/seg-<time>-<random>.jsonl`, one line `{"k": key, "v": value}`
per answer. The stage opens the shard's cache in `begin_shard` (one LIST and a few GETs), looks
answers up in memory, and `flush()`es the new answers of each batch as one new segment, written
atomically (temp + rename locally, one PUT on object stores). A shard is processed by one
worker at a time, so a segment has one writer; readers never see partial files. When a shard
has gathered more than `MAX_SEGMENTS` segments, opening it compacts them into one.

Keys are hashes of everything that determines the answer (model, prompt tag, rendered messages
with image hashes, sampling parameters, output mode). Empty values are never stored, and lines
with an empty value are skipped on load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from typing import Any

from any2capins.io import fs

log = logging.getLogger(__name__)
MAX_SEGMENTS = 16


def cache_key(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `payload`."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _usable(value: Any) -> bool:
    """A value worth keeping: a non-empty dict whose string fields are not blank."""
    if not isinstance(value, dict) or not value:
        return False
    return all(v is not None and (not isinstance(v, str) or v.strip()) for v in value.values())


class ShardCache:
    """Get/put of cached answers of one shard at a time (`open(index)` switches shards)."""

    def __init__(self, root: str) -> None:
        self.root = fs.resolve(root)
        self.index: int | None = None
        self.entries: dict[str, dict[str, Any]] = {}
        self.new: dict[str, dict[str, Any]] = {}

    def _dir(self, index: int) -> fs.Location:
        return self.root.join(f"shard-{index:05d}")

    def open(self, index: int) -> int:
        """Load shard `index`'s answers (flushing the previous shard's); returns their count."""
        self.flush()
        self.index, self.entries = index, {}
        files = fs.list_files(self._dir(index), ".jsonl")
        for path in files:
            self.entries.update(self._read(fs.Location(self.root.fs, path)))
        if len(files) > MAX_SEGMENTS:
            self._compact(files)
        return len(self.entries)

    def _read(self, loc: fs.Location) -> dict[str, dict[str, Any]]:
        try:
            text = fs.read_bytes(loc).decode()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("call cache: skipping unreadable segment %s: %s", loc.path, exc)
            return {}
        out = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a damaged line costs one repeated call, nothing more
            if isinstance(entry, dict) and _usable(entry.get("v")):
                out[str(entry.get("k"))] = entry["v"]
        return out

    def _compact(self, files: list[str]) -> None:
        self._write(self._dir(self.index or 0), self.entries)
        for path in files:
            # a lost race with another reader costs nothing: the entries are in the new segment
            with contextlib.suppress(OSError):
                self.root.fs.delete_file(path)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, value: dict[str, Any]) -> bool:
        """Keep `value` for `key` (written by the next flush). Refuses empty values."""
        if not _usable(value):
            log.warning("call cache: refused an empty value for %s", key[:12])
            return False
        self.entries[key] = value
        self.new[key] = value
        return True

    def flush(self) -> int:
        """Write the answers added since the last flush as one segment; returns their count."""
        if not self.new or self.index is None:
            return 0
        n = len(self.new)
        self._write(self._dir(self.index), self.new)
        self.new = {}
        return n

    @staticmethod
    def _write(folder: fs.Location, entries: dict[str, dict[str, Any]]) -> None:
        name = f"seg-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}.jsonl"
        data = "".join(json.dumps({"k": k, "v": v}, sort_keys=True, ensure_ascii=False) + "\n"
                       for k, v in entries.items())
        fs.write_bytes_atomic(folder.join(name), data.encode())
