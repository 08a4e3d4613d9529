"""The export stage: short prompt + approved caption + clip + conditions -> instance row.

Input `shortprompts/` shard N (one row per instance); side tables of the same shard, handed
over by the runtime: clips, approved captions, condition availability and (for identity sets)
the reference crops' JPEG bytes. Output `instances/` shard N, rows of `InstanceRecord`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from any2capins.config.export import ExportConfig
from any2capins.io.shards import shard_name
from any2capins.models.captions import SECTIONS, caption_text
from any2capins.models.clips import ClipRecord
from any2capins.models.conditionsets import AVAILABILITY_COLUMNS, ClipConditions, clip_conditions
from any2capins.models.instances import (
    ConditionRef,
    InstanceRecord,
    NamedValue,
    Provenance,
    ShortPromptRecord,
)
from any2capins.models.review import ApprovedCaption
from any2capins.models.tables import CONDITION_TABLES, folder
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, SideTable, Stage


def split_for(clip_id: str, test_fraction: float, salt: str) -> str:
    """Deterministic split by clip: all instances of a clip land in the same split."""
    h = int(hashlib.sha256(f"{salt}:{clip_id}".encode()).hexdigest()[:12], 16) / 16**12
    return "test" if h < test_fraction else "train"


class ExportStage(Stage[ShortPromptRecord, InstanceRecord]):
    name = "export"
    input_model = ShortPromptRecord
    output_model = InstanceRecord
    input_dir = folder("shortprompts")
    output_dir = folder("instances")

    def __init__(self, config: ExportConfig) -> None:
        super().__init__(config.resources)
        self.config = config

    def side_tables(self) -> list[SideTable]:
        """The clip row, the approved caption, the condition columns that decide availability
        and (for identity sets) the reference crops. The crops keep the refs rank (people
        first, then quality weighted by how often the subject was seen): the order of the
        stitched image, left to right, and of the crops the caption writer saw, so 'image N'
        names the same subject everywhere."""
        refs = (("crops", "stitched_jpeg") if self.config.include_ref_images else ())
        tables = [SideTable("clips"), SideTable("review.decisions")]
        for table, cols, lengths in AVAILABILITY_COLUMNS.values():
            full = refs if table == CONDITION_TABLES["identity"] else ()
            tables.append(SideTable(table, (*cols, *lengths, *full),
                                    tuple(c for c in lengths if c not in full)))
        return tables

    def process_batch(self, batch: Sequence[ShortPromptRecord], inputs: Inputs) -> list[Any]:
        return [self._one(sp, inputs) for sp in batch]

    def _one(self, sp: ShortPromptRecord, inputs: Inputs) -> InstanceRecord | Failure:
        clip_row, approved_row = inputs.row("clips", sp.clip_id), \
            inputs.row("review.decisions", sp.clip_id)
        if clip_row is None or approved_row is None:
            what = "clip row" if clip_row is None else "approved caption"
            return Failure("MissingInput", f"no {what} for clip {sp.clip_id} in shard "
                           f"{inputs.shard}")
        clip = ClipRecord.model_validate(clip_row)
        approved = ApprovedCaption.model_validate(approved_row)
        if approved.version != sp.caption_version:
            return Failure("StaleShortPrompt", "the approved caption changed after the short "
                           "prompt was written; rerun shortprompts --force")
        rows = {kind: inputs.row(table, sp.clip_id)
                for kind, (table, _, _) in AVAILABILITY_COLUMNS.items()}
        cond = clip_conditions(rows)
        refs = rows["identity"] or {}
        # the subjects cut out by their SAM2 masks when segmented, else the box crops
        images = [c.get("cutout_jpeg") or c["jpeg"] for c in refs.get("crops") or []] \
            if self.config.include_ref_images and isinstance(refs.get("crops"), list) else []
        stitched = refs.get("stitched_jpeg") if self.config.include_ref_images else None
        n = sp.n_ref_images
        sections = {s: getattr(approved, s, None) for s in SECTIONS}
        text = caption_text(sections)
        return InstanceRecord(
            instance_id=sp.instance_id, clip_id=sp.clip_id, uri=sp.uri,
            span_start_s=clip.span_start_s, span_end_s=clip.span_end_s,
            duration_s=clip.duration_s, width=clip.width, height=clip.height,
            conditions=sp.conditions, condition_set=sp.condition_set,
            condition_refs=[self._ref(t, sp.clip_id, inputs.shard) for t in sp.conditions],
            ref_images=images[:n] if n else [],
            ref_stitched=stitched if n > 1 else None,
            camera_status=cond.camera_status if "camera" in sp.conditions else None,
            short_prompt=sp.prompt, short_prompt_words=sp.words, **sections,
            caption_text=text, caption_words=sum(len((t or "").split()) for t in sections.values()),
            caption_complete=all(sections.values()),
            provenance=self._provenance(sp, approved, cond),
            split=split_for(sp.clip_id, self.config.test_fraction, self.config.split_salt),
        )

    @staticmethod
    def _ref(ctype: str, clip_id: str, index: int) -> ConditionRef:
        path = f"{folder(CONDITION_TABLES[ctype])}/{shard_name(index)}"
        return ConditionRef(type=ctype, path=path, clip_id=clip_id)

    @staticmethod
    def _provenance(sp: ShortPromptRecord, a: ApprovedCaption, c: ClipConditions) -> Provenance:
        models = {k: v for k, v in c.models.items() if k in sp.conditions}
        if a.model:
            models["captions"] = a.model
        if sp.model:
            models["shortprompts"] = sp.model
        versions = {**a.prompt_versions, "shortprompt": sp.prompt_version}
        return Provenance(
            models=[NamedValue(name=k, value=v) for k, v in models.items()],
            prompt_versions=[NamedValue(name=k, value=v) for k, v in versions.items()],
            caption_backend=a.backend, shortprompt_backend=sp.backend, reviewer=a.reviewer,
            review_decision=a.decision, automatic_review=a.automatic, tiny_models=c.tiny,
        )
