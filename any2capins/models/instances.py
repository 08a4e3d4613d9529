"""Records of the short-prompt and export stages: one row per Any2CapIns instance.

An instance is (clip, condition set); `instance_id` is derived from both, so reruns never mint
new ids. Condition types: depth, pose, camera, identity (the paper's multi-ID references).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from any2capins.models.captions import section_fields
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

    instance_id: str = Field(description="Instance id: first 16 hex digits of the SHA-256 of "
                             "'<clip_id>|<condition_set>' (stable across reruns).")
    clip_id: str
    uri: str
    conditions: list[str] = Field(description="Condition set, canonical order.")
    condition_set: str = Field(description="Set name, e.g. 'camera+identity'.")
    n_ref_images: int = Field(description="Reference images the prompt may call 'image N'.")
    prompt: str = Field(description="The short prompt, one paragraph of continuous sentences "
                        "that passed every short-prompt check (at most max_words words, 'image "
                        "N' only for N in 1..n_ref_images, no camera words with a camera "
                        "condition, no layout words with depth, no names the caption lacks).")
    words: int = Field(description="Words in `prompt` (whitespace-separated).")
    backend: str = Field(description="'openai' or 'rules' (offline, plain template text).")
    model: str | None = Field(None, description="LLM (shortprompts llm.model) that wrote the "
                              "prompt; None for the rules backend.")
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

    type: str = Field(description="Condition type: depth, pose, camera or identity.")
    path: str = Field(description="Parquet shard relative to the run folder, e.g. "
                      "'conditions/refs/shard-00003.parquet' for identity.")
    clip_id: str = Field(description="Key of the row in that shard (the instance's clip id).")


class NamedValue(Record):
    """A (name, value) pair. Used instead of maps so that every consumer (Hugging Face
    `datasets` has no map type) reads the instance table."""

    name: str = Field(description="Key (a role or a section name).")
    value: str = Field(description="Value for that key.")


class Provenance(Record):
    """What made an instance: models, prompt versions, backends and the review."""

    models: list[NamedValue] = Field(
        description="Model id per role: depth, pose, identity (the refs detector) and camera "
        "('pycolmap') for the conditions in the instance's set, captions and shortprompts "
        "(LLM backends only).")
    prompt_versions: list[NamedValue] = Field(
        description="Prompt version per caption section (LLM-written sections) and "
        "'shortprompt' (the short prompt's prompt version, or the rules version).")
    caption_backend: str = Field(description="Caption backend that wrote the caption "
                                 "('openai' or 'rules').")
    shortprompt_backend: str = Field(description="Backend that wrote the short prompt "
                                     "('openai' or 'rules').")
    reviewer: str = Field(description="Who approved the caption (the review --annotator name).")
    review_decision: str = Field(description="'accept' or 'edit' (accepted with edited "
                                 "sections).")
    automatic_review: bool = Field(description="Approved by a review policy (auto-accept), not "
                                   "by a person.")
    tiny_models: bool = Field(description="Some condition of the clip (which the caption digest "
                              "may have used) came from tiny random test models.")


def _section_column(section: str) -> Any:
    """The field of one caption-section column of an instance (required, nullable)."""
    title = section.replace("_", " ")
    return Field(description=f"The {title} section of the approved caption (the reviewer's "
                 "text when edited); None when the caption lacks it (see caption_complete).")


# the six sections of an instance: required, nullable columns
_InstanceSections = section_fields("_InstanceSections", str | None, _section_column)


class _InstanceLead(Record):
    """The columns of an instance before its six caption sections."""

    instance_id: str = Field(description="Instance id: first 16 hex digits of the SHA-256 of "
                             "'<clip_id>|<condition_set>' (stable across reruns; the same id "
                             "as in shortprompts/).")
    clip_id: str
    uri: str
    span_start_s: float | None = Field(None, description="Start of the clip inside the file at "
                                       "`uri` (presentation seconds), when the clip is one shot "
                                       "of a longer video; None: the whole file.")
    span_end_s: float | None = Field(None, description="End of that span (exclusive); None: the "
                                     "whole file.")
    duration_s: float = Field(description="Duration of the clip (of its span, for a shot).")
    width: int = Field(description="Clip width in display pixels (after rotation), as "
                       "`clips.width`: the frame that condition coordinates refer to.")
    height: int = Field(description="Clip height in display pixels (after rotation), as "
                        "`clips.height`.")
    conditions: list[str] = Field(description="Condition types of the instance in canonical "
                                  "order (depth, pose, camera, identity).")
    condition_set: str = Field(description="The conditions joined by '+', e.g. "
                               "'depth+camera'.")
    condition_refs: list[ConditionRef] = Field(
        description="Where each condition's data lives, one entry per element of `conditions`, "
        "same order.")
    ref_images: list[bytes] = Field(
        description="JPEG reference images the short prompt calls 'image 1', 'image 2', ...: "
        "each subject cut out by its SAM2 mask on a neutral background (refs `cutout_jpeg`; "
        "the box crop `jpeg` when the refs row has no masks, refs.segment none), in refs rank "
        "order, the stitched image's left-to-right order; at most "
        "recipe.identity_max_crops; empty unless the set has identity (or "
        "export.include_ref_images is false).")
    ref_stitched: bytes | None = Field(
        None, description="The refs stage's stitched JPEG (best subjects side by side, left to "
        "right, by refs rank); None unless the instance has two or more reference images.")
    camera_status: str | None = Field(
        None, description="Status of the camera solve (conditions/camera `status`: one of "
        "recipe.camera_statuses, by default ok, rotation_only or static) when the set has "
        "camera; None otherwise.")
    short_prompt: str = Field(description="The user-style short prompt (shortprompts "
                              "`prompt`).")
    short_prompt_words: int = Field(description="Words in `short_prompt` (whitespace-"
                                    "separated).")


class InstanceRecord(_InstanceSections, _InstanceLead):
    """A row of RUN_DIR/instances/: one training instance, ready for a trainer."""

    caption_text: str = Field(description="Rendered paper format of the present sections: "
                              "one line each, '<n>. <title>: <text>' with titles 'Dense "
                              "caption', 'Main object caption', ... (n is the section's place "
                              "among the six, so a missing section leaves a gap).")
    caption_words: int = Field(description="Words (whitespace-separated) of the six sections "
                               "together.")
    caption_complete: bool = Field(description="All six caption sections are present.")
    provenance: Provenance = Field(description="What made the instance: models, prompt "
                                   "versions, backends, review.")
    split: Literal["train", "test"] = Field(
        description="Dataset split, by clip (every instance of a clip lands in the same one): "
        "'test' when a salted hash of the clip id falls below export.test_fraction.")
