"""Records of the short-prompt and export stages: one row per Any2CapIns instance.

An instance is (clip, condition set); `instance_id` is derived from both, so reruns never mint
new ids. Condition types: depth, pose, camera, identity (the paper's multi-ID references).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import Field

from any2capins.models.common import Record, utc_now

CONDITION_TYPES: tuple[str, ...] = ("depth", "pose", "camera", "identity")
ConditionType = Literal["depth", "pose", "camera", "identity"]


def canonical_set(conditions: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Conditions in the fixed order of CONDITION_TYPES (no duplicates)."""
    unknown = sorted(set(conditions) - set(CONDITION_TYPES))
    if unknown:
        raise ValueError(f"unknown condition type(s) {unknown}; known: {list(CONDITION_TYPES)}")
    return tuple(c for c in CONDITION_TYPES if c in conditions)


def set_name(conditions: list[str] | tuple[str, ...]) -> str:
    """'camera+identity+depth'-style name in canonical order, e.g. 'depth+camera'."""
    return "+".join(canonical_set(conditions))


def instance_id_for(clip_id: str, conditions: list[str] | tuple[str, ...]) -> str:
    key = f"{clip_id}|{set_name(conditions)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class ShortPromptRecord(Record):
    """A row of RUN_DIR/shortprompts/: the user-style short prompt of one instance."""

    instance_id: str
    clip_id: str
    uri: str
    conditions: list[str] = Field(description="Condition set, canonical order.")
    condition_set: str = Field(description="Set name, e.g. 'camera+identity'.")
    n_ref_images: int = Field(description="Reference images the prompt may call 'image N'.")
    prompt: str
    words: int
    backend: str = Field(description="'openai' or 'rules' (offline, plain template text).")
    model: str | None = None
    prompt_version: str = Field(description="Version of the prompt file (or rules version).")
    attempts: int = Field(1, description="Generation attempts, re-asks included.")
    structured_output: str | None = Field(
        None, description="'json_schema' or 'json_text' (LLM backend), None for rules.")
    retries: list[str] = Field(
        default_factory=list, description="Cause of each LLM retry and re-ask, in order.")
    written: datetime = Field(default_factory=utc_now, description="When the row was written "
                              "(UTC): tells this run's rows from rows kept from earlier runs.")
    caption_version: str = Field(description="Version of the approved caption used.")
    caption_complete: bool = Field(description="All six caption sections were present.")


class ConditionRef(Record):
    """Where one condition of an instance lives: the row with `clip_id` in `path`."""

    type: str
    path: str = Field(description="Shard path relative to the run folder.")
    clip_id: str


class NamedValue(Record):
    """A (name, value) pair. Used instead of maps so that every consumer (Hugging Face
    `datasets` has no map type) reads the instance table."""

    name: str
    value: str


class Provenance(Record):
    models: list[NamedValue] = Field(description="Model id per role (depth, pose, captions...).")
    prompt_versions: list[NamedValue] = Field(description="Prompt version per section.")
    caption_backend: str
    shortprompt_backend: str
    reviewer: str
    review_decision: str
    automatic_review: bool
    tiny_models: bool = Field(description="Some condition of the clip (which the caption digest "
                              "may have used) came from tiny random test models.")


class InstanceRecord(Record):
    """A row of RUN_DIR/instances/: one training instance, ready for a trainer."""

    instance_id: str
    clip_id: str
    uri: str
    span_start_s: float | None = Field(None, description="Start of the clip inside the file at "
                                       "`uri` (presentation seconds), when the clip is one shot "
                                       "of a longer video; None: the whole file.")
    span_end_s: float | None = Field(None, description="End of that span (exclusive); None: the "
                                     "whole file.")
    duration_s: float = Field(description="Duration of the clip (of its span, for a shot).")
    width: int
    height: int
    conditions: list[str]
    condition_set: str
    condition_refs: list[ConditionRef]
    ref_images: list[bytes] = Field(description="JPEG crops ('image 1', 'image 2', ...).")
    ref_stitched: bytes | None = Field(None, description="The crops stitched side by side.")
    camera_status: str | None = None
    short_prompt: str
    short_prompt_words: int
    dense: str | None
    main_object: str | None
    background: str | None
    camera: str | None
    style: str | None
    action: str | None
    caption_text: str = Field(description="Rendered paper format (present sections).")
    caption_words: int
    caption_complete: bool
    provenance: Provenance
    split: Literal["train", "test"]
