"""The call cache: one JSON file per successful call, keyed by a hash of everything that
determines the answer (model, prompt tag, rendered messages with image hashes, sampling
parameters, output mode).

Location: chosen by the stage (`captions.cache_dir`, default `RUN_DIR/captions/_cache/`;
`shortprompts.cache_dir`, default `RUN_DIR/shortprompts/_cache/`; local or s3://). Several Ray
workers may write at once: each entry is written atomically under its own content-derived name,
so concurrent writers of one key write the same bytes and readers never see partial files.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from any2capins.io import fs


def cache_key(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `payload`."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    """Get/put of cached answers by key."""

    def __init__(self, root: str) -> None:
        self.root = fs.resolve(root)

    def _loc(self, key: str) -> fs.Location:
        return self.root.join(key[:2], f"{key}.json")

    def get(self, key: str) -> dict[str, Any] | None:
        loc = self._loc(key)
        try:
            if not fs.exists(loc):
                return None
            return json.loads(fs.read_bytes(loc))
        except (OSError, ValueError):
            return None  # unreadable entry: treat as a miss, the call rewrites it

    def put(self, key: str, value: dict[str, Any]) -> None:
        loc, data = self._loc(key), json.dumps(value, sort_keys=True).encode()
        if not loc.is_local:
            fs.write_bytes_atomic(loc, data)  # one PUT: atomic on object stores
            return
        # temp file + rename, without the fsync of fs.write_bytes_atomic: an entry lost in a
        # crash only costs a repeated call, and fsync per call was measured to halve the
        # throughput at 32 requests in flight
        path = Path(loc.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.write_bytes(data)
        tmp.replace(path)
