"""Settings of the reference-crops stage (`conditions/refs/`)."""

from __future__ import annotations

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel
from any2capins.config.conditions import (
    DetectorConfig,
    Device,
    DType,
    TrackerConfig,
    stage_sampling,
)
from any2capins.config.sampling import SamplingConfig


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
    resources: StageResources = Field(
        default_factory=lambda: StageResources(workers=1, batch_size=2))
