"""Settings of contact sheets (`any2capins sheet`, and `extract` when `during_extract`)."""

from __future__ import annotations

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel


class SheetConfig(StrictModel):
    """Contact sheets: one PNG per clip for annotators (frames, depth, pose, camera, crops)."""

    during_extract: bool = Field(
        False, description="Draw RUN_DIR/sheets/<clip_id>.png for every clip during extract, "
        "from the same decode pass (after the condition stages of each shard).")
    frames: int = Field(6, ge=1, le=16, description="Frames shown per row.")
    thumb_height: int = Field(150, ge=32, description="Height (px) of one frame thumbnail.")
    dpi: int = Field(100, ge=50, description="Resolution of the PNG.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=4),
        description="Workers drawing sheets (CPU only).")
