"""The run folder's tables: one list, used by the stages, export, status, the loader, the review
server and the generated docs. No other module spells a table's folder.

A table is a folder of `shard-NNNNN.parquet` files below RUN_DIR holding rows of one record
model; `stage` names the stage whose completion records (`_done/<stage>/`) and error rows
(`_errors/<stage>/`) go with it. Tables that are not sharded (`_errors`, `_done`) or are single
files (`review.audit`) say so with `sharded`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class Table:
    """One table of the run folder: `name` (dotted, the key used everywhere), `folder` (below
    RUN_DIR), `model` ("module:Class" of its record model, imported on use), `stage` (the
    stage writing it, None when no stage does)."""

    name: str
    folder: str
    model: str
    stage: str | None = None
    sharded: bool = True

    def record_model(self) -> type[BaseModel]:
        module, _, cls = self.model.partition(":")
        return getattr(importlib.import_module(module), cls)


_ALL = (
    Table("clips", "clips", "any2capins.models.clips:ClipRecord", "ingest"),
    Table("_errors", "_errors", "any2capins.models.common:ErrorRecord", sharded=False),
    Table("_done", "_done", "any2capins.models.common:ShardDone", sharded=False),
    Table("conditions.depth", "conditions/depth", "any2capins.models.conditions:DepthRecord",
          "depth"),
    Table("conditions.pose", "conditions/pose", "any2capins.models.conditions:PoseRecord",
          "pose"),
    Table("conditions.refs", "conditions/refs", "any2capins.models.conditions:RefsRecord",
          "refs"),
    Table("conditions.camera", "conditions/camera", "any2capins.models.camera:CameraRecord",
          "camera"),
    Table("quality", "quality", "any2capins.models.quality:QualityRecord", "filter"),
    Table("sheets", "sheets", "any2capins.models.sheets:SheetRecord", "sheet"),
    Table("captions.sections", "captions/sections", "any2capins.models.captions:ClipSections",
          "captions"),
    Table("captions.merged", "captions/merged", "any2capins.models.captions:MergedCaption",
          "captions-merge"),
    Table("review.decisions", "review/decisions", "any2capins.models.review:ApprovedCaption"),
    Table("review.audit", "review/audit.parquet", "any2capins.models.review:DecisionRecord",
          sharded=False),
    Table("shortprompts", "shortprompts", "any2capins.models.instances:ShortPromptRecord",
          "shortprompts"),
    Table("instances", "instances", "any2capins.models.instances:InstanceRecord", "export"),
)

TABLES: dict[str, Table] = {t.name: t for t in _ALL}

# condition kind (as the instances and the loader name them) -> its table
CONDITION_TABLES: dict[str, str] = {
    "depth": "conditions.depth",
    "pose": "conditions.pose",
    "camera": "conditions.camera",
    "identity": "conditions.refs",
}


def folder(name: str) -> str:
    """The folder of table `name` below RUN_DIR (KeyError names the known tables)."""
    try:
        return TABLES[name].folder
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}") from None


def table_of_folder(path: str) -> Table | None:
    """The table whose folder is `path` (None when no table writes there)."""
    return next((t for t in _ALL if t.folder == path), None)
