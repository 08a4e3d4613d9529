"""The pydantic output model of each section writer, and the strict JSON schema sent as
`response_format` (every property required, no extra properties, as strict mode demands)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from any2capins.llm.client import json_schema_format, strict_schema
from any2capins.models.captions import SECTIONS

__all__ = ["SECTION_MODELS", "response_format", "strict_schema"]


class SectionOutput(BaseModel):
    """Base of the section answers: unknown keys are a schema mismatch."""

    model_config = ConfigDict(extra="forbid")

    caption: str = Field(description="The section text, in English prose.")


class DenseSection(SectionOutput):
    """1. Dense caption: the whole video in detail."""


class MainObjectSection(SectionOutput):
    """2. Main object caption: the main subjects, their look and what they do."""

    subjects: list[str] = Field(description="Short names of the main subjects, one per subject.")


class BackgroundSection(SectionOutput):
    """3. Background caption: the setting behind the subjects."""


class CameraSection(SectionOutput):
    """4. Camera caption: shot type, angle and camera movement."""

    motion_terms: list[str] = Field(
        description="Camera motions named in the caption (e.g. 'static', 'pan left').")


class StyleSection(SectionOutput):
    """5. Style caption: visual style, colour, light, mood."""


class ActionSection(SectionOutput):
    """6. Action caption: what the people/subjects do over time."""

    people_count: int = Field(description="Number of distinct people visible in the clip.")


# the answer model of each section, in caption order (`models.captions.SECTIONS`, the one list
# of sections; a section added there without its model here fails at import)
SECTION_MODELS: dict[str, type[SectionOutput]] = dict(zip(SECTIONS, (
    DenseSection, MainObjectSection, BackgroundSection, CameraSection, StyleSection,
    ActionSection), strict=True))


def response_format(section: str) -> dict[str, Any]:
    """The `response_format` parameter of a section's request."""
    return json_schema_format(section, SECTION_MODELS[section])
