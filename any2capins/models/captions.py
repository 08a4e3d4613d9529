"""Caption records: the six-section structured caption and the merged row per clip.

Contract shared by captions/ (writes), review/ (reads, edits) and shortprompts/export (read):
`StructuredCaption` validates one complete caption (also an annotator's edit);
`MergedCaption` is one row of `RUN_DIR/captions/merged/`.

The six sections are defined once, by `SECTION_TITLES` (names in caption order, the paper's
titles); `SECTIONS` and every model holding the six texts derive from it (`section_fields`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, create_model

from any2capins.models.common import Record, TokenUsage, utc_now

SECTION_TITLES: dict[str, str] = {
    "dense": "Dense caption",
    "main_object": "Main object caption",
    "background": "Background caption",
    "camera": "Camera caption",
    "style": "Style caption",
    "action": "Action caption",
}
SECTIONS: tuple[str, ...] = tuple(SECTION_TITLES)
# MiraData's CSV column of each section (MiraData has no action column).
MIRADATA_COLUMNS: dict[str, str] = {
    "dense": "dense_caption",
    "main_object": "main_object_caption",
    "background": "background_caption",
    "camera": "camera_caption",
    "style": "style_caption",
}
MAX_SECTION_WORDS = 400


def _clean_text(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError("section text is empty")
    if len(text.split()) > MAX_SECTION_WORDS:
        raise ValueError(f"section text has more than {MAX_SECTION_WORDS} words")
    return text


SectionText = Annotated[str, AfterValidator(_clean_text)]


def section_fields(name: str, annotation: Any, field: Callable[[str], Any]) -> type[Record]:
    """A record with one field per section, in `SECTIONS` order, typed `annotation`, each
    made by `field(section)` (a pydantic `Field`). A model holding the six texts among other
    columns inherits it after the record of its leading columns: in `class M(Sections, Lead)`
    pydantic orders the fields Lead's, the six sections, then M's own, which is the Parquet
    column order."""
    return create_model(name, __base__=Record, __module__=__name__,
                        **{s: (annotation, field(s)) for s in SECTIONS})


# the six texts of a complete caption: required, whitespace-normalised, non-empty
_SectionTexts = section_fields("_SectionTexts", SectionText, lambda s: Field(...))
# the six texts as nullable columns that default to None (a section not written)
OptionalSections = section_fields("OptionalSections", str | None, lambda s: Field(None))


class StructuredCaption(_SectionTexts):
    """A complete six-section caption. Text is whitespace-normalised and non-empty."""

    def render(self) -> str:
        """The paper's text format: one numbered line per section."""
        return "\n".join(
            f"{i}. {SECTION_TITLES[name]}: {getattr(self, name)}"
            for i, name in enumerate(SECTIONS, start=1)
        )

    def miradata_columns(self) -> dict[str, str]:
        return {col: getattr(self, name) for name, col in MIRADATA_COLUMNS.items()}

    def word_count(self) -> int:
        return sum(len(getattr(self, name).split()) for name in SECTIONS)


class _MergedLead(Record):
    """The columns of a merged caption before its six sections."""

    clip_id: str
    uri: str
    version: str = Field(description="Hash of the six texts; changes whenever a text changes.")


class MergedCaption(OptionalSections, _MergedLead):
    """One clip's merged caption (a row of captions/merged/). Sections a backend could not
    write (e.g. the offline `rules` backend) are None and listed in `missing`."""

    missing: list[str] = Field(default_factory=list, description="Sections not generated.")
    flags: list[str] = Field(default_factory=list, description="Names of failed checks.")
    text: str | None = Field(None, description="Rendered paper format, when complete.")
    backend: str = Field(description="'openai' or 'rules'.")
    model: str | None = Field(None, description="LLM (llm.model) that wrote the sections; None "
                              "for the rules backend.")
    prompt_versions: dict[str, str] = Field(
        default_factory=dict, description="Section -> '<version>+<file hash>' of the prompt "
        "that wrote it; LLM-written sections only (empty for the rules backend).")

    def caption(self) -> StructuredCaption | None:
        """The validated complete caption, or None when sections are missing."""
        if self.missing:
            return None
        return StructuredCaption(**{name: getattr(self, name) for name in SECTIONS})


# -- records of the section writers (captions/sections/) -----------------------------------------
# Added by the captions stage; the contract above is unchanged.


class SectionResult(Record):
    """One section of one clip as a writer produced it."""

    section: str = Field(description="One of SECTIONS.")
    status: str = Field(description="'ok' (text written) or 'not_generated' (backend cannot).")
    text: str | None = Field(None, description="The section text (the output model's caption).")
    data_json: str | None = Field(None, description="The validated structured answer as JSON.")
    source: str = Field(description="'openai' or 'rules'.")
    prompt_version: str | None = Field(None, description="'<version>+<file hash>' of the prompt.")
    cache_key: str | None = Field(None, description="Hash keying the call in the cache.")
    cached: bool = Field(False, description="True when the answer came from the cache.")
    attempts: int = Field(0, description="HTTP requests made for this section in the run that "
                          "wrote the row (retries included; 0 for a cache hit).")
    usage: TokenUsage = Field(
        default_factory=TokenUsage, description="Tokens of every attempt when the answer was "
        "first paid for (a cache hit keeps the original cost).")
    structured_output: str | None = Field(
        None, description="How the answer was asked for: 'json_schema' (response_format) or "
        "'json_text' (schema in the prompt; also after a server rejected json_schema).")
    retries: list[str] = Field(
        default_factory=list, description="Cause of each retry and re-ask, in order (e.g. "
        "'Timeout', 'RateLimited', 'reask:EmptyAnswer', 'json_schema_rejected').")


class TrackSummary(Record):
    """Movement of one pose track, as fed to the action writer."""

    track_id: int = Field(description="The pose track's id (conditions/pose `tracks[].track_id`).")
    frames: int = Field(description="Sampled pose frames the track is present in.")
    sentence: str = Field(
        description="E.g. 'person 1 moves to the right slowly and comes closer to the camera'.")


class CaptionDigest(Record):
    """What the conditions and the frames say about a clip, for the writers and the checks.
    A field is None when its condition is absent (not extracted, or failed for the clip)."""

    conditions: list[str] = Field(default_factory=list, description="Conditions found.")
    camera_status: str | None = Field(None, description="Status of the camera solve.")
    camera_sentence: str | None = Field(None, description="Camera motion description.")
    camera_motions: list[str] = Field(default_factory=list, description="Motion labels.")
    people_tracks: int | None = Field(None, description="Pose tracks in the clip.")
    people_max_visible: int | None = Field(None, description="Most tracks in one frame.")
    tracks: list[TrackSummary] = Field(default_factory=list, description="Movement of each "
                                       "pose track present in at least one frame, by track id; "
                                       "empty without pose rows or people.")
    ref_crops: int | None = Field(None, description="Reference crops of the clip.")
    ref_labels: list[str] = Field(default_factory=list, description="Class of each crop.")
    brightness: float = Field(description="Mean luma of the sampled frames, 0..1.")
    contrast: float = Field(description="Std of luma, 0..1.")
    saturation: float = Field(description="Mean HSV saturation, 0..1.")
    warmth: float = Field(description="Mean (R - B), -1..1; > 0 is warm.")
    style_words: list[str] = Field(default_factory=list, description="Words from the stats.")


class ClipSections(Record):
    """One row of captions/sections/: the six section results of one clip."""

    clip_id: str
    uri: str
    backend: str = Field(description="'openai' or 'rules'.")
    model: str | None = Field(None, description="LLM (llm.model) that wrote the sections; None "
                              "for the rules backend.")
    sections: list[SectionResult] = Field(description="One result per section, always all six "
                                          "in caption order (dense, main_object, background, "
                                          "camera, style, action); a section not asked for or "
                                          "that the backend cannot write is 'not_generated'.")
    digest: CaptionDigest = Field(description="What the conditions and the sampled frames said "
                                  "about the clip: the facts the writers and checks used.")
    usage: TokenUsage = Field(default_factory=TokenUsage,
                              description="Sum over sections (cost when first paid for).")
    written: datetime = Field(default_factory=utc_now,
                              description="When the row was written (UTC): tells this run's "
                              "rows from rows kept from earlier runs.")


def caption_text(sections: dict[str, str | None]) -> str:
    """The paper's text rendering of a caption: one line per present section, in order
    (`1. Dense caption: ...`)."""
    return "\n".join(f"{i}. {SECTION_TITLES[s]}: {t}" for i, s in enumerate(SECTIONS, 1)
                     if (t := sections.get(s)))
