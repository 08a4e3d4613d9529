"""Caption records: the six-section structured caption and the merged row per clip.

Contract shared by captions/ (writes), review/ (reads, edits) and shortprompts/export (read):
`StructuredCaption` validates one complete caption (also an annotator's edit);
`MergedCaption` is one row of `RUN_DIR/captions/merged/`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from any2capins.models.common import Record

SECTIONS: tuple[str, ...] = ("dense", "main_object", "background", "camera", "style", "action")
SECTION_TITLES: dict[str, str] = {
    "dense": "Dense caption",
    "main_object": "Main object caption",
    "background": "Background caption",
    "camera": "Camera caption",
    "style": "Style caption",
    "action": "Action caption",
}
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


class StructuredCaption(Record):
    """A complete six-section caption. Text is whitespace-normalised and non-empty."""

    dense: SectionText
    main_object: SectionText
    background: SectionText
    camera: SectionText
    style: SectionText
    action: SectionText

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


class MergedCaption(Record):
    """One clip's merged caption (a row of captions/merged/). Sections a backend could not
    write (e.g. the offline `rules` backend) are None and listed in `missing`."""

    clip_id: str
    uri: str
    version: str = Field(description="Hash of the six texts; changes whenever a text changes.")
    dense: str | None = None
    main_object: str | None = None
    background: str | None = None
    camera: str | None = None
    style: str | None = None
    action: str | None = None
    missing: list[str] = Field(default_factory=list, description="Sections not generated.")
    flags: list[str] = Field(default_factory=list, description="Names of failed checks.")
    text: str | None = Field(None, description="Rendered paper format, when complete.")
    backend: str = Field(description="'openai' or 'rules'.")
    model: str | None = None
    prompt_versions: dict[str, str] = Field(default_factory=dict)

    def caption(self) -> StructuredCaption | None:
        """The validated complete caption, or None when sections are missing."""
        if self.missing:
            return None
        return StructuredCaption(**{name: getattr(self, name) for name in SECTIONS})
