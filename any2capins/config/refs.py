"""Settings of the reference-crops stage (`conditions/refs/`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.conditions import (
    DetectorConfig,
    Device,
    DType,
    TrackerConfig,
    stage_sampling,
)
from any2capins.config.sampling import SamplingConfig

# ImageNet's mean colour: the pixel that normalises to zero for models trained with ImageNet
# statistics (SAM2, DINOv2, CLIP...), so the background of a cut-out carries no signal.
NEUTRAL_RGB = (124, 116, 104)


class Sam2Config(StrictModel):
    """SAM2 masks of the tracked subjects (transformers `Sam2VideoModel`), prompted with the
    tracker's boxes; see docs/conditions.md (reference crops)."""

    model: str = Field("facebook/sam2.1-hiera-tiny",
                       description="Hub id or local folder of a SAM2 model, loaded with "
                       "`Sam2VideoModel.from_pretrained` (`any2capins models tiny` writes a "
                       "tiny random one).")
    device: Device | None = Field(None, description="'cpu' or 'cuda'; None: refs.device.")
    dtype: DType | None = Field(None, description="SAM2 dtype; None: refs.dtype.")
    prompt_frames: Literal["tracked", "best"] = Field(
        "tracked", description="Which frames get the subject's box as a prompt: 'tracked' "
        "every frame where the tracker saw the subject (each mask is SAM2's answer to that "
        "frame's box; no memory pass); 'best' only the frame of the subject's best crop, the "
        "other frames by SAM2's video propagation (forward and backward; slower: the memory "
        "encoder and memory attention run per subject and frame, see docs/benchmarks.md).")
    score_threshold: float = Field(
        0.5, ge=0, le=1, description="Minimum SAM2 object score (the probability that the "
        "subject is visible) for its mask to be kept; SAM2 itself empties the mask below 0.5, "
        "so only higher values are stricter. Below it, or when the mask is empty inside the "
        "grown box, the box rectangle stands in (mask source 'box').")
    clip_margin: float = Field(
        0.1, ge=0, le=1, description="Masks are cut to the subject's box grown by this "
        "fraction of its size each side: a mask never leaves its subject's box region.")
    max_subjects: int | None = Field(
        None, ge=1, description="Subjects segmented per clip, best ranked first; None: every "
        "kept track. Crops of the others keep no mask and no cut-out.")


class RefsConfig(StrictModel):
    """Reference crops: subjects detected and tracked, best crop per track, stitched image."""

    device: Device = Field("cpu", description="'cpu' or 'cuda' (start-up error without a GPU).")
    dtype: DType = Field("float32", description="Detector dtype.")
    sampling: SamplingConfig = Field(
        default_factory=lambda: stage_sampling(None, 8, 16, 768),
        description="Frames sampled per clip (crops come from these frames). When extract "
        "runs pose too with the same detector settings, refs shares pose's frames (decoded at "
        "the larger max_side) and detections instead.")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    person_label: str = Field("person", description="Label ranked first (people first).")
    labels: list[str] | None = Field(
        None, description="Detector labels kept; None keeps every class the detector knows.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    margin: float = Field(0.1, ge=0, le=1, description="Crop margin, a fraction of box size.")
    min_box_frac: float = Field(0.01, ge=0, le=1,
                                description="Boxes below this fraction of the frame are ignored.")
    max_subjects: int = Field(3, ge=1, description="Best tracks kept (and stitched) per clip.")
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality of crops.")
    stitch_height: int = Field(256, ge=16, description="Height of the stitched image.")
    segment: Literal["sam2", "none"] = Field(
        "sam2", description="'sam2': subjects segmented with SAM2 (refs.sam2): per-frame masks, "
        "the crops' masks and cut-outs, the stitched image made of cut-outs; 'none': box "
        "crops only (no masks).")
    sam2: Sam2Config = Field(default_factory=Sam2Config)
    cutout_color: tuple[int, int, int] = Field(
        NEUTRAL_RGB, description="RGB of the background of cut-outs (pixels outside the "
        "subject's mask); the default is ImageNet's mean colour, which normalises to zero.")
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))

    @field_validator("cutout_color")
    @classmethod
    def _rgb(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= v <= 255 for v in value):
            raise ValueError(f"RGB values are 0..255, got {list(value)}")
        return value
