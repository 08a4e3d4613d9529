"""The export stage: short prompt + approved caption + clip + conditions -> instance row.

Input `shortprompts/` shard N (one row per instance); side inputs of the same shard are joined
in `begin_shard`: clips, approved captions, condition availability and (for identity sets) the
reference crops' JPEG bytes. Output `instances/` shard N, rows of `InstanceRecord`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from any2capins.config.export import ExportConfig
from any2capins.io import fs
from any2capins.io.shards import ShardStore, shard_name
from any2capins.models.captions import SECTIONS
from any2capins.models.clips import ClipRecord
from any2capins.models.instances import (
    ConditionRef,
    InstanceRecord,
    NamedValue,
    Provenance,
    ShortPromptRecord,
)
from any2capins.models.review import ApprovedCaption
from any2capins.runtime.stage import Failure, Stage
from any2capins.shortprompts.recipe import CONDITION_DIRS, ClipConditions, load_shard_conditions
from any2capins.shortprompts.stage import caption_text


def split_for(clip_id: str, test_fraction: float, salt: str) -> str:
    """Deterministic split by clip: all instances of a clip land in the same split."""
    h = int(hashlib.sha256(f"{salt}:{clip_id}".encode()).hexdigest()[:12], 16) / 16**12
    return "test" if h < test_fraction else "train"


def _crops(store: ShardStore, index: int) -> dict[str, tuple[list[bytes], bytes | None]]:
    """JPEG crops and the stitched image per clip of refs shard `index`. The crops keep the refs
    rank (people first, then quality weighted by how often the subject was seen): the order of
    the stitched image, left to right, and of the crops the caption writer saw, so 'image N'
    names the same subject everywhere."""
    loc = store.root.join(CONDITION_DIRS["identity"], shard_name(index))
    if not fs.exists(loc):
        return {}
    import pyarrow.parquet as pq

    cols = ["clip_id", "crops", "stitched_jpeg"]
    table = pq.read_table(loc.path, filesystem=loc.fs, columns=cols)
    out = {}
    for row in table.to_pylist():
        out[row["clip_id"]] = ([c["jpeg"] for c in row["crops"] or []], row["stitched_jpeg"])
    return out


class ExportStage(Stage[ShortPromptRecord, InstanceRecord]):
    name = "export"
    input_model = ShortPromptRecord
    output_model = InstanceRecord
    output_dir = "instances"

    def __init__(self, config: ExportConfig) -> None:
        super().__init__(config.resources)
        self.config = config
        self.index = 0
        self.clips: dict[str, ClipRecord] = {}
        self.approved: dict[str, ApprovedCaption] = {}
        self.conditions: dict[str, ClipConditions] = {}
        self.crops: dict[str, tuple[list[bytes], bytes | None]] = {}

    def begin_shard(self, index: int, run_dir: str) -> None:
        store = ShardStore(run_dir)
        self.index = index
        self.clips = {c.clip_id: c for c in store.read_shard("clips", index, ClipRecord)}
        self.approved = {a.clip_id: a for a in
                         store.read_shard("review/decisions", index, ApprovedCaption)}
        self.conditions = load_shard_conditions(store, index)
        self.crops = _crops(store, index) if self.config.include_ref_images else {}

    def process_batch(self, batch: Sequence[ShortPromptRecord]) -> list[Any]:
        return [self._one(sp) for sp in batch]

    def _one(self, sp: ShortPromptRecord) -> InstanceRecord | Failure:
        clip = self.clips.get(sp.clip_id)
        approved = self.approved.get(sp.clip_id)
        if clip is None or approved is None:
            what = "clip row" if clip is None else "approved caption"
            return Failure("MissingInput", f"no {what} for clip {sp.clip_id} in shard {self.index}")
        if approved.version != sp.caption_version:
            return Failure("StaleShortPrompt", "the approved caption changed after the short "
                           "prompt was written; rerun shortprompts --force")
        cond = self.conditions.get(sp.clip_id, ClipConditions())
        images, stitched = self.crops.get(sp.clip_id, ([], None))
        n = sp.n_ref_images
        sections = {s: getattr(approved, s, None) for s in SECTIONS}
        text = caption_text(sections)
        return InstanceRecord(
            instance_id=sp.instance_id, clip_id=sp.clip_id, uri=sp.uri,
            span_start_s=clip.span_start_s, span_end_s=clip.span_end_s,
            duration_s=clip.duration_s, width=clip.width, height=clip.height,
            conditions=sp.conditions, condition_set=sp.condition_set,
            condition_refs=[self._ref(t, sp.clip_id) for t in sp.conditions],
            ref_images=images[:n] if n else [],
            ref_stitched=stitched if n > 1 else None,
            camera_status=cond.camera_status if "camera" in sp.conditions else None,
            short_prompt=sp.prompt, short_prompt_words=sp.words, **sections,
            caption_text=text, caption_words=sum(len((t or "").split()) for t in sections.values()),
            caption_complete=all(sections.values()),
            provenance=self._provenance(sp, approved, cond),
            split=split_for(sp.clip_id, self.config.test_fraction, self.config.split_salt),
        )

    def _ref(self, ctype: str, clip_id: str) -> ConditionRef:
        path = f"{CONDITION_DIRS[ctype]}/{shard_name(self.index)}"
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
