"""Merge: captions/sections/ shard N -> captions/merged/ shard N (one `MergedCaption` per clip),
with the checks' flags. Pure Python and cheap, so the command reruns it every time (checks and
word bounds then always match the current sections and config)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pydantic import ValidationError

from any2capins.captions.checks import run_checks
from any2capins.config.captions import CaptionsConfig
from any2capins.io.shards import ShardStore
from any2capins.models.captions import (
    MIRADATA_COLUMNS,
    SECTIONS,
    ClipSections,
    MergedCaption,
    StructuredCaption,
)
from any2capins.models.tables import folder
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, Stage


def texts_version(texts: dict[str, str | None]) -> str:
    """Hash of the six texts (None for a missing one), 16 hex digits."""
    blob = json.dumps([texts.get(s) for s in SECTIONS], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def merge_row(row: ClipSections, config: CaptionsConfig) -> MergedCaption:
    """Merge one clip's sections and run the checks."""
    by_name = {r.section: r for r in row.sections}
    texts = {s: (" ".join((by_name[s].text or "").split()) or None
                 if s in by_name and by_name[s].status == "ok" else None) for s in SECTIONS}
    data = {s: (by_name[s].data_json if s in by_name else None) for s in SECTIONS}
    missing = [s for s in SECTIONS if not texts[s]]
    flags = run_checks(texts, data, row.digest, config.word_bounds)
    rendered = None
    if not missing:
        try:
            rendered = StructuredCaption(**texts).render()
        except ValidationError:
            flags.append("invalid_caption")
    versions = {s: r.prompt_version for s, r in by_name.items() if r.prompt_version}
    return MergedCaption(
        clip_id=row.clip_id, uri=row.uri, version=texts_version(texts), **texts,
        missing=missing, flags=flags, text=rendered, backend=row.backend, model=row.model,
        prompt_versions=versions)


class MergeStage(Stage[ClipSections, MergedCaption]):
    name = "captions-merge"
    input_model = ClipSections
    output_model = MergedCaption
    input_dir = folder("captions.sections")
    output_dir = folder("captions.merged")

    def __init__(self, config: CaptionsConfig) -> None:
        super().__init__(config.resources)
        self.config = config

    def process_batch(self, batch: Sequence[ClipSections],
                      inputs: Inputs | None = None) -> list[MergedCaption | Failure]:
        return [merge_row(row, self.config) for row in batch]


def write_miradata_csv(store: ShardStore, relpath: str = "captions/miradata.csv") -> int:
    """All merged captions as one MiraData-style CSV (clip_id, uri, dense_caption,
    main_object_caption, background_caption, style_caption, camera_caption, plus
    action_caption, which MiraData lacks); missing sections are empty. Returns the row count."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from any2capins.io import fs

    merged = folder("captions.merged")
    rows = store.read_all(merged, MergedCaption) if store.shard_indices(merged) else []
    columns = {"clip_id": [r.clip_id for r in rows], "uri": [r.uri for r in rows]}
    for name, col in [*MIRADATA_COLUMNS.items(), ("action", "action_caption")]:
        columns[col] = [getattr(r, name) for r in rows]
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(columns, schema=pa.schema([(c, pa.string()) for c in columns])),
                    sink)
    fs.write_bytes_atomic(store.root.join(relpath), sink.getvalue().to_pybytes())
    return len(rows)
