"""Records of the ingest stage."""

from __future__ import annotations

from pydantic import Field

from any2capins.models.common import Record


class SourceRecord(Record):
    """One discovered source file, before probing. `index` is its position in the source
    listing, which is persisted so that resumed runs assign the same shards."""

    uri: str
    index: int


class ClipRecord(Record):
    """One probed clip: the row every later stage starts from."""

    clip_id: str = Field(description="First 16 hex digits of the SHA-256 of the file content "
                         "(plus the span, when the clip is cut from a longer video).")
    uri: str
    size_bytes: int
    content_sha256: str
    container: str
    codec: str
    duration_s: float
    fps: float
    num_frames: int
    width: int = Field(description="Display width (after rotation).")
    height: int = Field(description="Display height (after rotation).")
    rotation: int = Field(0, description="Counter-clockwise display rotation (0/90/180/270) "
                          "from the container; sampled frames are display-oriented.")
    has_audio: bool
    probe_backend: str = Field(description="Probe backend ('pyav'; older runs: 'decord').")
    stream_index: int | None = Field(
        None, description="Container index of the video stream every stage decodes (the stream "
        "rule: largest resolution, default disposition first, never cover art); None: apply "
        "the rule when decoding.")
    span_start_s: float | None = Field(
        None, description="Start of the clip inside its file (presentation seconds from the "
        "start of the file's video stream, inclusive); None: the file's start.")
    span_end_s: float | None = Field(
        None, description="End of the clip inside its file (presentation seconds, exclusive); "
        "None: the file's end.")
