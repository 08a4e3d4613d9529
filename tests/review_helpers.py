"""Builders for review tests: merged-caption rows and shards, a controllable clock."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from any2capins.io import fs
from any2capins.io.arrow import to_table
from any2capins.io.shards import ShardStore
from any2capins.models.captions import SECTIONS, MergedCaption, StructuredCaption
from any2capins.review.store import ReviewStore


def make_caption(clip_id: str, *, flags: Sequence[str] = (), missing: Sequence[str] = (),
                 variant: str = "") -> MergedCaption:
    """A merged caption whose texts depend on clip id and variant (a new variant = a
    regenerated caption with a new version hash)."""
    texts = {s: f"The {s.replace('_', ' ')} of clip {clip_id} {variant} is described here."
             for s in SECTIONS if s not in missing}
    version = hashlib.sha256("\x1f".join(texts.get(s, "") for s in SECTIONS).encode()).hexdigest()
    text = None if missing else StructuredCaption(**texts).render()
    return MergedCaption(clip_id=clip_id, uri=f"/clips/{clip_id}.mp4", version=version[:16],
                         **texts, missing=list(missing), flags=list(flags), text=text,
                         backend="rules" if missing else "openai",
                         model=None if missing else "tiny-test-model",
                         prompt_versions={"dense": "v1"})


def write_merged(run_dir: Path | str, shards: dict[int, list[MergedCaption]]) -> None:
    """Write captions/merged/shard-NNNNN.parquet files as the captions stage would."""
    store = ShardStore(str(run_dir))
    for index, rows in shards.items():
        fs.write_table_atomic(store.data_loc("captions/merged", index),
                              to_table(rows, MergedCaption))


class Clock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def queue(tmp_path: Path, **kwargs) -> ReviewStore:
    return ReviewStore(tmp_path / "review" / "queue.sqlite", **kwargs)
