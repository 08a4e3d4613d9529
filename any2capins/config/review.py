"""Settings of the review queue and the annotators' CLI (`any2capins review ...`)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from any2capins.config.base import StrictModel

_POLICY_RE = re.compile(r"^(all|flagged|sample:(0(\.\d+)?|1(\.0+)?))$")


class ReviewWebConfig(StrictModel):
    """The review server (`any2capins review serve`): where it listens, how long a login
    lasts, how previews are made."""

    host: str = Field(
        "127.0.0.1", description="Address the server binds; 127.0.0.1 (this host only) unless "
        "told otherwise (0.0.0.0: every interface; put it behind TLS then).",
    )
    port: int = Field(8770, ge=1, le=65535, description="TCP port of the server.")
    session_hours: float = Field(
        12.0, gt=0, description="How long a login (session cookie) lasts; after it, the page "
        "asks for the token again.",
    )
    secure_cookies: bool = Field(
        False, description="Mark the session cookie Secure (sent over HTTPS only): set it when "
        "the server is reached through a TLS proxy.",
    )
    preview_max_side: int = Field(
        480, ge=64, le=1920, description="Longest side of the browser previews in pixels "
        "(made even).",
    )
    preview_max_fps: float = Field(
        30.0, gt=0, description="Frame rate cap of the previews: every frame of the clip up to "
        "it, else every n-th frame.",
    )


class ReviewConfig(StrictModel):
    """Where the queue lives, how long a lease lasts, who may review, which items enter."""

    queue_path: str | None = Field(
        None,
        description="SQLite file of the queue; None means RUN_DIR/review/queue.sqlite. Must be "
        "a local path (SQLite cannot live on s3://), so set it when RUN_DIR is remote.",
    )
    lease_minutes: float = Field(
        30.0, gt=0, description="How long a claimed item stays with its annotator before it "
        "returns to the queue."
    )
    policy: str = Field(
        "all",
        description="Which merged captions enter the queue: 'all', 'flagged' (only captions "
        "with failed checks or missing sections) or 'sample:F' (flagged ones plus a fraction F "
        "of the rest, chosen deterministically by clip id). Flagged items always enter.",
    )
    roster: list[str] = Field(
        default_factory=list,
        description="Annotator names allowed to claim and decide; empty allows any non-empty "
        "name.",
    )
    viewer: str | None = Field(
        None,
        description="Command that opens a contact sheet (the PNG path is appended); None uses "
        "the system viewer ('open' on macOS, else 'xdg-open').",
    )
    editor: str | None = Field(
        None,
        description="Command used to edit a section (a temp file path is appended); None uses "
        "$VISUAL, then $EDITOR, then 'vi'.",
    )
    busy_timeout_s: float = Field(
        30.0, gt=0, description="How long a writer waits for the SQLite lock before giving up."
    )
    web: ReviewWebConfig = Field(
        default_factory=ReviewWebConfig,
        description="The review server in the browser (`any2capins review serve`).",
    )

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        if not _POLICY_RE.match(value.strip()):
            raise ValueError("policy must be 'all', 'flagged' or 'sample:F' with 0 <= F <= 1")
        return value.strip()

    @field_validator("roster")
    @classmethod
    def _check_roster(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value]
        if any(not n for n in names):
            raise ValueError("roster names must be non-empty")
        return names
