"""Settings of curation (`filter:`): the quality signals computed per clip before the heavy
stages, the thresholds that leave a clip out, and near-duplicate search across the run.

Every threshold can be set to null to switch that one rule off; `filter.enabled: false` turns
curation off as a whole. Units and costs of every signal: docs/curation.md.
"""

from __future__ import annotations

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.conditions import Device, DType, stage_sampling
from any2capins.config.sampling import SamplingConfig


class MotionFilter(StrictModel):
    """Motion: dense optical flow (OpenCV DIS) between consecutive sampled frames."""

    flow_side: int = Field(160, ge=32, description="Longest side, in pixels, of the grayscale "
                           "frames the flow is computed on (low resolution keeps it cheap).")
    min_motion: float | None = Field(
        0.0005, ge=0, description="A clip whose motion (median over consecutive frame pairs "
        "of the mean flow magnitude, in frame widths per second) is below this is left out as "
        "'static'; null keeps static clips.")


class BrightnessFilter(StrictModel):
    """Brightness: mean luma of the sampled frames, and the share of near-black frames."""

    black_level: float = Field(0.06, ge=0, le=1, description="A frame whose mean luma (0 = "
                               "black, 1 = white) is below this counts as near-black.")
    min_brightness: float | None = Field(
        0.08, ge=0, le=1, description="A clip whose mean luma over its sampled frames is below "
        "this is left out as 'dark'; null switches the rule off.")
    max_black_share: float | None = Field(
        0.5, ge=0, le=1, description="A clip with more than this share of near-black frames is "
        "left out as 'dark'; null switches the rule off.")


class SharpnessFilter(StrictModel):
    """Sharpness: variance of the Laplacian of the grayscale frame at a fixed size."""

    side: int = Field(256, ge=32, description="Longest side, in pixels, frames are resized to "
                      "before the Laplacian (the variance depends on scale, so one size for "
                      "every clip).")
    min_sharpness: float | None = Field(
        25.0, ge=0, description="A clip whose sharpness (median over its non-black frames of "
        "the Laplacian variance, 8-bit grey levels squared) is below this is left out as "
        "'blur'; null switches the rule off.")


class TextFilter(StrictModel):
    """Burned-in text: PP-OCR text detection (rapidocr-onnxruntime; weights inside the wheel)."""

    enabled: bool = Field(True, description="Run the OCR text detector (false: no "
                          "text_coverage and no 'text' rule).")
    frames: int = Field(3, ge=1, description="Sampled frames the detector runs on, spread "
                        "evenly over the clip (burned-in text stays on screen).")
    detector_side: int = Field(320, ge=32, description="Longest side, in pixels, of the "
                               "detector input (rounded to a multiple of 32; frames are not "
                               "upscaled).")
    box_threshold: float = Field(0.5, gt=0, le=1, description="Minimum mean score of a text "
                                 "box kept by the detector's post-processing.")
    threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads of the detector.")
    max_coverage: float | None = Field(
        0.10, ge=0, le=1, description="A clip whose text coverage (mean over the detector's "
        "frames of the share of the frame area inside text boxes) is above this is left out "
        "as 'text'; null switches the rule off.")


class EmbeddingFilter(StrictModel):
    """Per-clip image embedding (CLIP or SigLIP through transformers) for semantic
    near-duplicates, and an optional aesthetic head over it."""

    enabled: bool = Field(True, description="Compute the embedding (false: no embedding, no "
                          "aesthetic score, near-duplicates by perceptual hashes only).")
    model: str = Field("openai/clip-vit-base-patch32", description="Hub id or local folder of "
                       "a CLIP or SigLIP model (transformers AutoModel with "
                       "get_image_features).")
    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU).")
    dtype: DType = Field("float32", description="Model weights/activations dtype.")
    frames: int = Field(4, ge=1, description="Sampled frames embedded per clip, spread evenly; "
                        "the clip embedding is the L2-normalised mean of their embeddings.")
    aesthetic_head: str | None = Field(
        None, description="Path of an aesthetic head over the embedding: a .safetensors file "
        "with `layers.N.weight` [out, in] and `layers.N.bias` [out] (an MLP ending in one "
        "output; format in docs/curation.md); None: no aesthetic score.")
    min_aesthetic: float | None = Field(
        None, description="A clip whose aesthetic score is below this is left out as "
        "'aesthetic' (only with an aesthetic_head); null switches the rule off.")


class DedupConfig(StrictModel):
    """Near-duplicates across the whole run: perceptual hashes of the sampled frames (and the
    embeddings when enabled), found by hash bucketing, never by comparing all pairs."""

    enabled: bool = Field(True, description="Search the run for near-duplicates; one clip "
                          "per group is kept, the others get duplicate_of and 'duplicate'.")
    hash_size: int = Field(8, ge=4, le=8, description="imagehash pHash size: hashes have "
                           "hash_size squared bits (at most 64).")
    min_contrast: float = Field(0.03, ge=0, le=1, description="Frames whose grey-level "
                                "standard deviation (0..1) is below this get no hash: flat "
                                "frames (black, fades) would match each other in every clip.")
    hamming: int = Field(10, ge=0, le=32, description="Two frames match when their hashes "
                         "differ in at most this many bits.")
    min_frame_share: float = Field(
        0.5, gt=0, le=1, description="Two clips are near-duplicates when at least this share "
        "of the hashed frames of the one with fewer has a matching frame in the other.")
    tables: int = Field(32, ge=1, description="Hash tables of the frame-hash bucketing: "
                        "more find more distant pairs and cost more.")
    bits_per_table: int = Field(24, ge=4, le=32, description="Frame-hash bits sampled per "
                                "table (the bucket key): more make buckets smaller and distant "
                                "pairs rarer to collide.")
    embedding_tables: int = Field(64, ge=1, description="Hash tables of the embeddings' "
                                  "bucketing (one signature per clip, so more tables than for "
                                  "frames, which have a dozen chances each).")
    embedding_bits_per_table: int = Field(
        16, ge=4, le=32, description="Bits per table sampled from the embeddings' 256-bit "
        "SimHash signatures (random hyperplanes through the run's mean embedding).")
    max_bucket: int = Field(2000, ge=2, description="A bucket holding more clips than this is "
                            "skipped in its table (a guard against keys shared by thousands "
                            "of unrelated clips); the other tables still see those clips.")
    embedding_cosine: float | None = Field(
        0.95, gt=0, le=1, description="Two clips whose embeddings have at least this cosine "
        "similarity are near-duplicates too (when embeddings are computed); null: hashes "
        "only.")
    seed: int = Field(0, description="Seed of the bit positions and projections of the "
                      "bucketing (results are deterministic for a seed).")


class FilterConfig(StrictModel):
    """Curation before the expensive stages: signals per clip, filters, near-duplicates."""

    enabled: bool = Field(True, description="Compute the signals and leave filtered clips out "
                          "of the heavy stages; false: every clip goes on, no quality rows.")
    sampling: SamplingConfig = Field(
        default_factory=lambda: stage_sampling(None, 12, 16, 256),
        description="Frames the signals read per clip (a few, small: they come from the one "
        "decode pass of the clip).")
    motion: MotionFilter = Field(default_factory=MotionFilter,
                                 description="Static and frozen clips (optical flow).")
    brightness: BrightnessFilter = Field(default_factory=BrightnessFilter,
                                         description="Dark and black clips.")
    sharpness: SharpnessFilter = Field(default_factory=SharpnessFilter,
                                       description="Blurry clips (Laplacian variance).")
    text: TextFilter = Field(default_factory=TextFilter,
                             description="Clips covered in burned-in text (OCR detection).")
    embedding: EmbeddingFilter = Field(
        default_factory=EmbeddingFilter,
        description="Image embedding for semantic near-duplicates and the aesthetic score.")
    dedup: DedupConfig = Field(default_factory=DedupConfig,
                               description="Near-duplicate search across the run.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=4),
        description="Workers and resources of the curation stage.")
