"""The contact-sheet stage: clips/ shard N -> `sheets/<clip_id>.png` per clip, and `sheets/`
shard N (one `SheetRecord` per sheet drawn).

It declares its thumbnails as a frame request (`sheet.frames` spread over the clip, at
thumbnail size) and the four condition tables as side tables, so during `extract` it draws from
the clip's one decode pass and the rows the condition stages just wrote (the runtime runs it
after them), and alone (`any2capins sheet --all`) from the tables on disk. A clip that does not
decode still gets a sheet (its frame row says why); a sheet that cannot be drawn or stored is
the clip's error row.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence

from PIL import Image

from any2capins.conditions.sheet import CONDITIONS, clip_conditions, render
from any2capins.config.sheet import SheetConfig
from any2capins.errors import DecodeError
from any2capins.io import fs
from any2capins.io.frames import FrameRequest, SampledFrames
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord
from any2capins.models.sheets import SheetRecord
from any2capins.models.tables import folder
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, SideTable, Stage

# condition name in the sheet -> its table
SHEET_TABLES = {name: f"conditions.{name}" for name in CONDITIONS}
QUALITY_COLUMNS = ("kept", "reasons", "duplicate_of", "motion", "brightness",
                   "black_frame_share", "sharpness", "text_coverage")


def sheet_request(cfg: SheetConfig) -> FrameRequest:
    """The contact sheet's thumbnails: `frames` spread over the clip, at thumbnail size (the
    longest side covers a 16:9 thumbnail of `thumb_height`)."""
    return FrameRequest(count=cfg.frames, max_frames=cfg.frames,
                        max_side=max(16, round(cfg.thumb_height * 16 / 9)))


class SheetStage(Stage[ClipRecord, SheetRecord]):
    name = "sheet"
    input_model = ClipRecord
    output_model = SheetRecord
    input_dir = folder("clips")
    output_dir = folder("sheets")

    def __init__(self, config: SheetConfig, run_dir: str, out: str | None = None) -> None:
        super().__init__(config.resources)
        self.config = config
        self.run_dir = run_dir
        self.out = out  # one sheet to this file instead of RUN_DIR/sheets/ (`sheet --out`)

    def frames(self) -> FrameRequest:
        return sheet_request(self.config)

    def side_tables(self) -> list[SideTable]:
        """The four condition tables, and the curation scores (drawn in the title)."""
        return [*(SideTable(table) for table in SHEET_TABLES.values()),
                SideTable("quality", QUALITY_COLUMNS)]

    def process_batch(self, batch: Sequence[ClipRecord],
                      inputs: Inputs) -> list[SheetRecord | Failure]:
        return [self._one(clip, inputs) for clip in batch]

    def _one(self, clip: ClipRecord, inputs: Inputs) -> SheetRecord | Failure:
        t0 = time.perf_counter()
        rows = {name: inputs.row(table, clip.clip_id) for name, table in SHEET_TABLES.items()}
        cc = clip_conditions(clip, rows)
        cc.quality = inputs.row("quality", clip.clip_id)
        frames: SampledFrames | str
        try:
            frames = inputs.frames(clip.clip_id)
        except DecodeError as exc:  # a sheet shows what it can; the frame row says why
            frames = f"frames unavailable: {exc}"
        png = render(cc, self.config, frames)
        rel = f"{self.output_dir}/{clip.clip_id}.png"
        loc = fs.resolve(self.out) if self.out else ShardStore(self.run_dir).root.join(rel)
        fs.write_bytes_atomic(loc, png)
        width, height = Image.open(io.BytesIO(png)).size
        return SheetRecord(
            clip_id=clip.clip_id, uri=clip.uri, path=self.out or rel, width=width,
            height=height, conditions=sorted(cc.records),
            frames_note=frames if isinstance(frames, str) else None,
            seconds=round(time.perf_counter() - t0, 4))
