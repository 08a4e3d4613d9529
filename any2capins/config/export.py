"""Settings of the export stage (instance table, split, dataset card)."""

from __future__ import annotations

from pydantic import Field

from any2capins.config.base import StageResources, StrictModel


class ExportConfig(StrictModel):
    """The export stage: instances/ shards (short prompt + approved caption + clip + conditions),
    the train/test split and the dataset card."""

    test_fraction: float = Field(0.05, ge=0, le=1,
                                 description="Share of clips in the test split (by clip id).")
    split_salt: str = Field("any2capins", description="Salt of the deterministic split hash.")
    plots: bool = Field(True, description="Write the dataset card's PNG plots.")
    include_ref_images: bool = Field(True, description="Embed the crops' JPEG bytes.")
    resources: StageResources = Field(default_factory=lambda: StageResources(batch_size=64))
