"""Records of curation: the `quality/` table, one row per clip with its quality signals, whether
it was kept and, when not, why.

`QualitySignals` is what the scorer measures on a clip's sampled frames; `QualityRecord` adds
the clip's keys, the sampled frames' positions and the filter decision (per-clip rules first,
then near-duplicates across the run). Units and default thresholds: docs/curation.md.
"""

from __future__ import annotations

from pydantic import Field

from any2capins.models.common import Record

# Every reason a clip can be left out for, in the order `reasons` lists them.
REASONS = ("dark", "static", "blur", "text", "aesthetic", "duplicate")


class QualitySignals(Record):
    """The signals of one clip, measured on its sampled frames."""

    motion: float | None = Field(description="Median over consecutive sampled frames of the "
                                 "mean optical-flow magnitude (OpenCV DIS at low resolution), "
                                 "in frame widths (longest side) per second; None with fewer "
                                 "than 2 frames.")
    brightness: float = Field(description="Mean luma (BT.709 weights) of the sampled frames, "
                              "0 = black, 1 = white.")
    black_frame_share: float = Field(description="Share (0..1) of sampled frames whose mean "
                                     "luma is below filter.brightness.black_level.")
    sharpness: float | None = Field(description="Median over the non-black sampled frames of "
                                    "the variance of the Laplacian of the grey frame resized "
                                    "to filter.sharpness.side (8-bit grey levels squared; "
                                    "higher is sharper); None when every frame is near-black.")
    text_coverage: float | None = Field(description="Mean over the OCR frames of the share "
                                        "(0..1) of the frame area inside detected text boxes; "
                                        "None when text detection is off.")
    text_boxes: int | None = Field(description="Text boxes the OCR detector found, summed "
                                   "over its frames; None when text detection is off.")
    aesthetic: float | None = Field(description="Output of the aesthetic head over the clip "
                                    "embedding (the head's own scale, e.g. 1-10 for LAION's "
                                    "predictor); None without a head.")
    frame_hashes: list[str] = Field(description="Perceptual hashes (imagehash pHash, hex, "
                                    "filter.dedup.hash_size squared bits) of the sampled frames "
                                    "with contrast, in frame order; flat frames (black, fades) "
                                    "have none.")
    embedding: list[float] | None = Field(description="L2-normalised mean of the image "
                                          "embeddings of a few sampled frames (computed in "
                                          "float32); None when embeddings are off.")
    ocr_model: str | None = Field(description="Text detector used (rapidocr-onnxruntime "
                                  "version and model file); None when text detection is off.")
    embedding_model: str | None = Field(description="Embedding model id or folder; None when "
                                        "embeddings are off.")
    aesthetic_head: str | None = Field(description="Aesthetic head file; None without one.")
    tiny_model: bool = Field(description="True when the embedding model is a tiny random test "
                             "model: the embedding and aesthetic score are meaningless.")
    seconds: float = Field(description="Wall time of computing the signals of the clip "
                           "(decoding not included).")


class _QualityKey(Record):
    clip_id: str
    uri: str
    kept: bool = Field(description="True when the clip goes on to the heavy stages: no "
                       "reason to leave it out.")
    reasons: list[str] = Field(description="Why the clip was left out, in this order: 'dark', "
                               "'static', 'blur', 'text', 'aesthetic', 'duplicate'; empty "
                               "when kept.")
    duplicate_of: str | None = Field(description="clip_id of the clip kept in place of this "
                                     "near-duplicate (the longest of its group, then the "
                                     "highest resolution, then the smallest clip_id); None "
                                     "when the clip is not a duplicate.")
    frame_indices: list[int] = Field(description="Per sampled frame, its position in the clip: "
                                     "0-based, presentation order (inside the span for a shot "
                                     "clip).")
    timestamps: list[float] = Field(description="Per sampled frame, its presentation time in "
                                    "seconds from the start of the file's video stream.")
    decode_warnings: list[str] = Field(
        default_factory=list, description="What decoding reported for these frames (damaged "
        "packets, frames replaced by the nearest decoded one); empty when clean.")


class QualityRecord(QualitySignals, _QualityKey):
    """One row of `quality/` per clip (key and decision first, then the signals)."""
