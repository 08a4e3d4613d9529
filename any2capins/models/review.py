"""Records of the review queue: a queue item, a decision request, the audit entry of a
decision, and the approved caption exported to `RUN_DIR/review/decisions/`.

Contract for later stages (short prompts, export): `ApprovedCaption` rows are the only
captions that passed review; the text of edited sections is the annotator's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from any2capins.models.captions import SECTIONS, MergedCaption, OptionalSections
from any2capins.models.common import Record

ItemState = Literal["pending", "leased", "accepted", "edited", "rejected", "superseded"]
Action = Literal["accept", "edit", "reject"]
DECIDED_STATES: dict[str, str] = {"accept": "accepted", "edit": "edited", "reject": "rejected"}


class QueueItem(Record):
    """One merged caption in the queue. `version` is the caption's version hash: a decision
    must name it, so a decision made on an older text is refused."""

    item_id: int
    shard: int = Field(description="Index of the captions/merged shard the row came from.")
    state: ItemState
    flagged: bool = Field(description="Failed checks or missing sections: served first.")
    enqueued_at: datetime
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    caption: MergedCaption

    @property
    def version(self) -> str:
        return self.caption.version

    @property
    def clip_id(self) -> str:
        return self.caption.clip_id

    def sections(self) -> dict[str, str]:
        """The section texts present (missing sections are left out)."""
        return {s: t for s in SECTIONS if (t := getattr(self.caption, s)) is not None}


class DecisionRequest(Record):
    """What an annotator (or `review decide` JSON input) submits for one claimed item.

    accept: no edits, caption complete. edit: new text for one or more sections (validated
    like `StructuredCaption`); the result must be complete. reject: a reason is required.
    """

    item_id: int
    version: str = Field(description="Caption version the annotator looked at.")
    action: Action
    edits: dict[str, str] = Field(default_factory=dict, description="Section -> new text.")
    reason: str | None = Field(None, description="Why (required for reject).")

    @model_validator(mode="after")
    def _consistent(self) -> DecisionRequest:
        unknown = sorted(set(self.edits) - set(SECTIONS))
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; sections are {list(SECTIONS)}")
        if self.action == "edit" and not self.edits:
            raise ValueError("an 'edit' decision needs at least one section in 'edits'")
        if self.action != "edit" and self.edits:
            raise ValueError(f"'{self.action}' takes no edits; use action 'edit'")
        if self.action == "reject" and not (self.reason or "").strip():
            raise ValueError("a 'reject' decision needs a reason")
        return self


class DecisionRecord(Record):
    """One decision in the audit trail (append-only): who, when, and the texts before/after."""

    decision_id: int = Field(description="Id of the decision (order of the audit trail).")
    item_id: int = Field(description="Queue item decided (one per clip and caption version).")
    clip_id: str
    version: str = Field(description="Version of the merged caption the decision was made on.")
    action: Action = Field(description="accept, edit or reject.")
    annotator: str = Field(description="Who decided (the --annotator name).")
    automatic: bool = Field(description="Made by a policy (auto-accept), not by a person.")
    decided_at: datetime = Field(description="When the decision was recorded (UTC).")
    claimed_at: datetime | None = Field(None, description="Start of the lease it was made under.")
    reason: str | None = Field(None, description="Why it was rejected (required for reject).")
    before: dict[str, str] = Field(description="Section texts when the item was claimed.")
    after: dict[str, str] = Field(description="Section texts after the decision.")
    edited_sections: list[str] = Field(default_factory=list,
                                       description="Sections whose words the decision changed.")


class _ApprovedLead(Record):
    """The columns of an approved caption before its six sections."""

    clip_id: str
    uri: str
    version: str = Field(description="Version of the merged caption that was reviewed.")
    decision: Literal["accept", "edit"] = Field(description="accept, or edit (accepted with "
                                                "edited sections).")
    reviewer: str = Field(description="Who approved it (the --annotator name).")
    automatic: bool = Field(description="Approved by a policy (auto-accept), not by a person.")
    decided_at: datetime = Field(description="When it was approved (UTC).")
    decision_id: int = Field(description="The approving decision in review/audit.parquet.")


class ApprovedCaption(OptionalSections, _ApprovedLead):
    """A row of RUN_DIR/review/decisions/: the approved caption of one clip."""

    missing: list[str] = Field(default_factory=list, description="Sections not written (only "
                               "in automatic demo accepts of rules-backend captions).")
    text: str = Field(description="Rendered paper format of the approved sections.")
    edited_sections: list[str] = Field(default_factory=list,
                                       description="Sections the reviewer edited.")
    flags: list[str] = Field(default_factory=list, description="Flags the caption carried.")
    backend: str = Field(description="Caption backend that wrote the caption (openai, rules).")
    model: str | None = Field(None, description="LLM that wrote the caption (null: rules).")
    prompt_versions: dict[str, str] = Field(default_factory=dict,
                                            description="Prompt version per section.")
