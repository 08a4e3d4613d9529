"""The contact sheet table: one row per clip whose sheet PNG was drawn."""

from __future__ import annotations

from pydantic import Field

from any2capins.models.common import Record


class SheetRecord(Record):
    """A clip's contact sheet (`RUN_DIR/sheets/<clip_id>.png`): where it is and what it shows."""

    clip_id: str = Field(description="The clip (clips/ table).")
    uri: str = Field(description="The clip's source file.")
    path: str = Field(description="The PNG, relative to the run folder (sheets/<clip_id>.png).")
    width: int = Field(description="PNG width in pixels.")
    height: int = Field(description="PNG height in pixels.")
    conditions: list[str] = Field(description="Condition tables that had a row for the clip "
                                  "when the sheet was drawn (depth, pose, camera, refs).")
    frames_note: str | None = Field(None, description="Why the frame row shows no frames (the "
                                    "decoder's words); None when it shows them.")
    seconds: float = Field(description="Time to draw and store the sheet, in seconds.")
