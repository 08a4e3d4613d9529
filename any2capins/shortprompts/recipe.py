"""Which condition sets a clip gets instances for.

`ConditionIndex` reads, for one shard, the few columns of each condition table that decide
availability (depth present, pose track count, camera status, crop count), without loading
depth maps or crop bytes. `condition_sets` applies the recipe: a set is emitted when every
condition in it is valid for the clip (a `failed` camera never is; `static` is).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.compute as pc

from any2capins.config.shortprompts import RecipeConfig
from any2capins.io import fs
from any2capins.io.shards import ShardStore, shard_name
from any2capins.models.instances import canonical_set

CONDITION_DIRS: dict[str, str] = {
    "depth": "conditions/depth",
    "pose": "conditions/pose",
    "camera": "conditions/camera",
    "identity": "conditions/refs",
}


@dataclass
class ClipConditions:
    """What one clip has: None means the condition table holds no row for it."""

    depth: bool = False
    pose_tracks: int | None = None
    camera_status: str | None = None
    camera_sentence: str = ""
    crops: int | None = None
    models: dict[str, str] = field(default_factory=dict)
    tiny: bool = False


def _table(store: ShardStore, cond_dir: str, index: int, columns: list[str]):
    loc = store.root.join(cond_dir, shard_name(index))
    if not fs.exists(loc):
        return None
    import pyarrow.parquet as pq

    schema = pq.read_schema(loc.path, filesystem=loc.fs)
    cols = [c for c in columns if c in schema.names]
    return pq.read_table(loc.path, filesystem=loc.fs, columns=cols)


def load_shard_conditions(store: ShardStore, index: int) -> dict[str, ClipConditions]:
    """Availability of every condition for the clips of shard `index`, by clip id."""
    out: dict[str, ClipConditions] = {}

    def get(cid: str) -> ClipConditions:
        return out.setdefault(cid, ClipConditions())

    t = _table(store, CONDITION_DIRS["depth"], index, ["clip_id", "model", "tiny_model"])
    if t is not None:
        for row in t.to_pylist():
            c = get(row["clip_id"])
            c.depth, c.models["depth"] = True, row.get("model") or ""
            c.tiny |= bool(row.get("tiny_model"))
    t = _table(store, CONDITION_DIRS["pose"], index, ["clip_id", "model", "tiny_model", "tracks"])
    if t is not None:
        n = pc.list_value_length(t.column("tracks")).to_pylist()
        for row, k in zip(t.select(["clip_id", "model", "tiny_model"]).to_pylist(), n, strict=True):
            c = get(row["clip_id"])
            c.pose_tracks, c.models["pose"] = int(k or 0), row.get("model") or ""
            c.tiny |= bool(row.get("tiny_model"))
    t = _table(store, CONDITION_DIRS["camera"], index, ["clip_id", "status", "description"])
    if t is not None:
        for row in t.to_pylist():
            c = get(row["clip_id"])
            c.camera_status, c.camera_sentence = row["status"], row.get("description") or ""
            c.models["camera"] = "pycolmap"
    cols = ["clip_id", "model", "tiny_model", "crops"]
    t = _table(store, CONDITION_DIRS["identity"], index, cols)
    if t is not None:
        n = pc.list_value_length(t.column("crops")).to_pylist()
        for row, k in zip(t.select(["clip_id", "model", "tiny_model"]).to_pylist(), n, strict=True):
            c = get(row["clip_id"])
            c.crops, c.models["identity"] = int(k or 0), row.get("model") or ""
            c.tiny |= bool(row.get("tiny_model"))
    return out


def available(c: ClipConditions, recipe: RecipeConfig) -> set[str]:
    """The condition types that are valid for a clip."""
    have = set()
    if c.depth:
        have.add("depth")
    if c.pose_tracks is not None and c.pose_tracks >= recipe.pose_min_tracks:
        have.add("pose")
    if c.camera_status is not None and c.camera_status in recipe.camera_statuses:
        have.add("camera")
    if c.crops is not None and c.crops >= recipe.identity_min_crops:
        have.add("identity")
    return have


def condition_sets(c: ClipConditions, recipe: RecipeConfig) -> list[tuple[str, ...]]:
    """The recipe's sets that the clip can support, canonical order, no duplicates."""
    have = available(c, recipe)
    seen: list[tuple[str, ...]] = []
    for s in recipe.sets:
        key = canonical_set(s)
        if set(key) <= have and key not in seen:
            seen.append(key)
    return seen
