"""Which condition sets a clip gets instances for, from its condition rows.

`ClipConditions` says what a clip has (depth present, pose track count, camera status, crop
count, the models behind them) from the few columns of each condition table that decide it
(`AVAILABILITY_COLUMNS`; track and crop lists are read as their lengths). `condition_sets`
applies the recipe: a set is emitted when every condition in it is valid for the clip (a
`failed` camera never is; `static` is). Short prompts and export share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from any2capins.models.instances import canonical_set

if TYPE_CHECKING:
    from any2capins.config.shortprompts import RecipeConfig

# condition kind -> (table, columns read, list columns read as their lengths)
AVAILABILITY_COLUMNS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "depth": ("conditions.depth", ("model", "tiny_model"), ()),
    "pose": ("conditions.pose", ("model", "tiny_model"), ("tracks",)),
    "camera": ("conditions.camera", ("status", "description"), ()),
    "identity": ("conditions.refs", ("model", "tiny_model"), ("crops",)),
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


def clip_conditions(rows: dict[str, dict[str, Any] | None]) -> ClipConditions:
    """A clip's conditions from its row of each condition table (by kind; None: no row;
    `tracks` and `crops` as lengths or lists)."""
    c = ClipConditions()
    if (row := rows.get("depth")) is not None:
        c.depth, c.models["depth"] = True, row.get("model") or ""
        c.tiny |= bool(row.get("tiny_model"))
    if (row := rows.get("pose")) is not None:
        c.pose_tracks, c.models["pose"] = _count(row.get("tracks")), row.get("model") or ""
        c.tiny |= bool(row.get("tiny_model"))
    if (row := rows.get("camera")) is not None:
        c.camera_status, c.camera_sentence = row["status"], row.get("description") or ""
        c.models["camera"] = "pycolmap"
    if (row := rows.get("identity")) is not None:
        c.crops, c.models["identity"] = _count(row.get("crops")), row.get("model") or ""
        c.tiny |= bool(row.get("tiny_model"))
    return c


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) else len(value or ())


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
