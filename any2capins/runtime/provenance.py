"""What a shard is made from, and whether a done shard must be redone.

Every completion record stores the stage's settings fingerprint (`Stage.fingerprint`) and the
identity of each input shard's completion record (`ShardDone.identity`): the shard of the same
index written by the stage that made the task's input folder, plus `Stage.upstream()`. A rerun
compares them with what they are now and redoes exactly the shards where something differs,
with one line saying why ("captions shard 3: conditions/camera shard 3 changed since").
Records written before fingerprints existed (no `fingerprint`) are trusted as they are.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from any2capins.io.shards import ShardStore
from any2capins.models.common import ShardDone
from any2capins.runtime.stage import ALL_KEPT, GATE_SUFFIX, Provenance, ShardTask, Stage

ABSENT = "absent"


def settings_hash(settings: dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Upstream:
    """The run folder's stages and the folders they write, read once per stage run."""

    def __init__(self, store: ShardStore) -> None:
        self.store = store
        self.dirs: dict[str, str] = {}  # stage name -> its output folder
        for name in store.done_stages():
            record = store.any_done(name)
            if record is not None and record.output_dir:
                self.dirs[name] = record.output_dir

    def writer_of(self, folder: str | None) -> str | None:
        return next((name for name, d in self.dirs.items() if d == folder), None)

    def label(self, name: str) -> str:
        return self.dirs.get(name, name)

    def names(self, stage: Stage, task: ShardTask) -> list[str]:
        writer = self.writer_of(task.input_dir)
        names = [writer] if writer else []
        return names + [n for n in stage.upstream() if n not in names and n != stage.name]

    def provenance(self, stage: Stage, settings: dict[str, Any], task: ShardTask) -> Provenance:
        ids = []
        for name in self.names(stage, task):
            rec = self.store.done(name, task.index)
            ids.append((name, rec.identity() if rec else ABSENT))
        return Provenance(settings_hash(settings), settings, tuple(ids))


def why_redo(stage: str, done: ShardDone, prov: Provenance, up: Upstream,
             redoing: frozenset[tuple[str, int]] = frozenset()) -> str | None:
    """One line saying why done shard `done` must be redone, or None when it is up to date.
    `redoing`: (stage, shard) an earlier stage of the same pass is about to rewrite."""
    if done.fingerprint is None:  # written before fingerprints: nothing to compare
        return None
    head = f"{stage} shard {done.shard}"
    if done.fingerprint != prov.fingerprint:
        keys = changed_keys(json.loads(done.settings or "{}"), prov.settings)
        return f"{head}: settings changed since ({', '.join(keys[:4]) or 'fingerprint'})"
    for name, ident in prov.upstream:
        # a record made before its stage was gated had every clip kept
        old = done.upstream.get(name, ALL_KEPT if name.endswith(GATE_SUFFIX) else ABSENT)
        if old != ident:
            return f"{head}: {_change(name, old, ident, shard=done.shard, up=up, redoing=redoing)}"
    return None


def _change(name: str, old: str, ident: str, *, shard: int, up: Upstream,
            redoing: frozenset[tuple[str, int]]) -> str:
    """What changed about one input of a done shard, in words."""
    if name.endswith(GATE_SUFFIX):
        return f"the clips left out by {name[:-len(GATE_SUFFIX)]} changed since"
    what = f"{up.label(name)} shard {shard}"
    if ident == ABSENT:
        return f"{what} is redone now" if (name, shard) in redoing else f"{what} is gone since"
    return f"{what} {'is new' if old == ABSENT else 'changed'} since"


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two settings trees differ."""
    if (isinstance(old, dict) and new is None) or (old is None and isinstance(new, dict)):
        old, new = old or {}, new or {}  # a section added or dropped: name its keys
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".") or "settings"]


def retry_keys(store: ShardStore, done: ShardDone) -> frozenset[tuple[str | None, str]]:
    """(clip_id, uri) of the items of a done shard that have retriable error rows."""
    if not done.retriable_errors:
        return frozenset()
    return frozenset((e.clip_id, e.uri) for e in store.shard_errors(done.stage, done.shard)
                     if e.retriable)
