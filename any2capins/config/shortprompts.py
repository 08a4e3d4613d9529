"""Settings of the short-prompt stage (instances planned per clip, prompt checks)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.captions import LLMConfig

# The paper's single conditions and its test-set combinations.
DEFAULT_RECIPE: list[list[str]] = [
    ["depth"], ["pose"], ["camera"], ["identity"],
    ["camera", "identity"], ["depth", "camera"], ["depth", "identity"],
    ["depth", "camera", "identity"],
]
CAMERA_TERMS: list[str] = [
    "camera", "pan", "pans", "panning", "tilt", "tilts", "tilting", "zoom", "zooms", "zooming",
    "dolly", "dollies", "truck", "trucks", "pedestal", "orbit", "orbits", "handheld",
    "tracking shot", "close-up", "wide shot", "shot", "static shot", "aerial", "angle",
]
LAYOUT_TERMS: list[str] = [
    "foreground", "background", "in the distance", "far away", "left side", "right side",
    "behind", "in front of", "layout", "depth",
]


class RecipeConfig(StrictModel):
    """Which condition sets an instance is emitted for, and when a condition counts."""

    sets: list[list[str]] = Field(default_factory=lambda: [list(s) for s in DEFAULT_RECIPE],
                                  description="Condition sets to emit per clip when available.")
    identity_min_crops: int = Field(1, ge=1, description="Crops needed for an identity set.")
    identity_max_crops: int = Field(3, ge=1, description="Crops used ('image 1'..'image N').")
    pose_min_tracks: int = Field(1, ge=1, description="Pose tracks needed for a pose set.")
    camera_statuses: list[str] = Field(
        default_factory=lambda: ["ok", "rotation_only", "static"],
        description="Camera statuses that make a valid camera condition ('failed' never does).")

    @field_validator("sets")
    @classmethod
    def _known(cls, sets: list[list[str]]) -> list[list[str]]:
        from any2capins.models.instances import canonical_set

        for s in sets:
            if not s:
                raise ValueError("a condition set must name at least one condition")
            canonical_set(s)
        return sets


class ShortPromptsConfig(StrictModel):
    """The short-prompt stage: one user-style prompt per instance (approved caption x condition
    set), written by an LLM server or offline rules, checked and re-asked when a check fails."""

    backend: Literal["openai", "rules"] = Field(
        "openai", description="'openai': any OpenAI-compatible server; 'rules': offline template.")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompts_dir: str = Field("prompts", description="Folder holding shortprompt/*.md prompts.")
    cache_dir: str | None = Field(
        None, description="LLM call cache folder (local or s3://; a few JSON-lines segment "
        "files per shard); None: RUN_DIR/shortprompts/_cache/.")
    recipe: RecipeConfig = Field(default_factory=RecipeConfig)
    target_words: int = Field(55, ge=5, description="Length the prompt should aim for.")
    max_words: int = Field(100, ge=5, description="Hard limit; longer prompts are refused.")
    min_words: int = Field(
        5, ge=1, description="An LLM answer with fewer words is useless: re-asked with the "
        "reason, then an error row with the raw completion; never cached.")
    camera_terms: list[str] = Field(default_factory=lambda: list(CAMERA_TERMS),
                                    description="Words refused when a camera condition is given.")
    layout_terms: list[str] = Field(default_factory=lambda: list(LAYOUT_TERMS),
                                    description="Words refused when a depth condition is given.")
    max_attempts: int = Field(3, ge=1, description="Generations per instance (re-asks carry "
                              "the failed checks) before an error row.")
    resources: StageResources = Field(default_factory=lambda: StageResources(batch_size=8))
