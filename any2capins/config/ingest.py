"""Settings of the ingest stage (discover + probe)."""

from __future__ import annotations

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv")


class IngestConfig(StrictModel):
    """Discovering clips and probing them."""

    clips_per_shard: int = Field(64, ge=1, description="Clips per output shard.")
    extensions: list[str] = Field(
        default_factory=lambda: list(VIDEO_EXTENSIONS),
        description="File extensions picked up when SRC is a folder.",
    )
    hash_chunk_mb: int = Field(8, ge=1, description="Read size when hashing clip content.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=2, batch_size=4)
    )
