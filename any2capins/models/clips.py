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
    size_bytes: int = Field(description="Size of the source file in bytes (the whole file, also "
                            "for a shot clip).")
    content_sha256: str = Field(description="SHA-256 of the whole source file's bytes, 64 hex "
                                "digits (shared by every shot clip of the file).")
    container: str = Field(description="Container format as FFmpeg names it (first name of "
                           "the demuxer, e.g. 'mov' for .mp4/.mov, 'matroska' for .mkv/.webm).")
    codec: str = Field(description="FFmpeg decoder name of the video stream, e.g. 'h264'.")
    duration_s: float = Field(description="Duration in seconds: for a whole file, from the "
                              "first frame's presentation time to the last frame's plus one "
                              "frame step (packet index, not the header); for a shot clip, "
                              "span_end_s - span_start_s.")
    fps: float = Field(description="Average frame rate of the file's video stream, frames per "
                       "second: frames / duration from the packet index (the header rate when "
                       "fewer than 2 frames); a shot clip keeps its file's rate.")
    num_frames: int = Field(description="Frames in the clip (of its span, for a shot clip), "
                            "counted from the demuxed packets, not the header.")
    width: int = Field(description="Display width (after rotation).")
    height: int = Field(description="Display height (after rotation).")
    rotation: int = Field(0, description="Counter-clockwise display rotation (0/90/180/270) "
                          "from the container; sampled frames are display-oriented.")
    has_audio: bool = Field(description="The file has at least one audio stream (the "
                            "pipeline never decodes audio).")
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
