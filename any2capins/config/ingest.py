"""Settings of the ingest stage (discover, hash, probe, split into shots)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from any2capins.config.base import StageResources, StrictModel

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv")


class ShotsConfig(StrictModel):
    """Shot detection at ingest: every shot of a raw video becomes its own clip row (a span of
    the file), so no later stage mixes two scenes."""

    detect: bool = Field(
        True, description="Split videos at scene cuts (one decode per video at low resolution). "
        "Off: every file is one clip.",
    )
    detector: Literal["content", "adaptive"] = Field(
        "content", description="PySceneDetect detector: 'content' (HSV difference between "
        "consecutive frames against `threshold`) or 'adaptive' (that difference relative to its "
        "rolling average, more tolerant of fast camera motion).",
    )
    threshold: float | None = Field(
        None, gt=0, description="Detector threshold; None uses PySceneDetect's default "
        "(content: 27, adaptive: 3.0). Lower finds more cuts.",
    )
    min_len_s: float = Field(
        0.5, ge=0, description="Shots shorter than this are dropped and recorded as "
        "ShotTooShort error rows (flashes, 1-frame inserts). A video without any cut is never "
        "dropped, however short.",
    )
    max_len_s: float | None = Field(
        None, gt=0, description="Shots longer than this are split evenly into the fewest pieces "
        "no longer than it; None keeps shots whole. Must be at least 2 x min_len_s.",
    )
    dense_cuts: Literal["resolve", "keep"] = Field(
        "resolve", description="Cuts beside a piece shorter than `min_len_s` (fast motion at "
        "a low frame rate, flashes, short dissolves, strobe light): 'resolve' drops those a "
        "camera pan/tilt explains and those not standing out 2x from the frames within 1 s, "
        "then reads a run of cuts 1-2 frames apart as one flash (no boundary) or one "
        "transition (one boundary); 'keep' keeps every detector cut (each short piece is "
        "dropped and recorded). Cuts with no short piece beside them are never changed.",
    )

    @model_validator(mode="after")
    def _lengths_fit(self) -> ShotsConfig:
        if self.max_len_s is not None and self.max_len_s < 2 * self.min_len_s:
            raise ValueError(
                f"max_len_s ({self.max_len_s}) must be at least 2 x min_len_s "
                f"({self.min_len_s}), else pieces of a split shot would be dropped"
            )
        return self


class IngestConfig(StrictModel):
    """Discovering clips, probing them and splitting them into shots."""

    clips_per_shard: int = Field(
        64, ge=1, description="Most clips in one clips/ shard (and source files probed per "
        "ingest task): the shots of a long video beyond it go to further shards, so every "
        "later stage works on shards of bounded size and memory.")
    extensions: list[str] = Field(
        default_factory=lambda: list(VIDEO_EXTENSIONS),
        description="File extensions picked up when SRC is a folder.",
    )
    hash_chunk_mb: int = Field(8, ge=1, description="Read size when hashing clip content.")
    shots: ShotsConfig = Field(default_factory=ShotsConfig,
                               description="Shot detection (splitting raw videos at cuts).")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=2, batch_size=4),
        description="Workers and batch size of the ingest stage.",
    )
