"""Shared building blocks of the configuration models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class StageResources(StrictModel):
    """What one worker of a stage asks the scheduler for, and how work is chunked for it."""

    workers: int = Field(1, ge=1, description="Actor-pool size: workers running the stage at once.")
    num_cpus: float = Field(1.0, gt=0, description="CPUs reserved per worker.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs reserved per worker (fractions ok).")
    memory_gb: float | None = Field(None, gt=0, description="Memory reserved per worker (GiB).")
    batch_size: int = Field(8, ge=1, description="Items handed to process_batch() at once.")
    torch_threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads() per worker; None keeps torch's default."
    )


class RuntimeConfig(StrictModel):
    """Where and how stages run."""

    executor: Literal["ray", "local"] = Field(
        "ray", description="'ray': actor pools on Ray; 'local': one in-process worker (debugging)."
    )
    ray_address: str | None = Field(
        None,
        description="Address of an existing Ray cluster; None uses $RAY_ADDRESS if set, "
        "else starts an embedded local cluster.",
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the embedded local cluster.")
    object_store_memory_gb: float | None = Field(None, gt=0)
    temp_dir: str | None = Field(None, description="Ray's temp/session folder (embedded cluster).")
    progress: bool = Field(True, description="Show a progress bar per stage on stderr.")
    max_item_retries: int = Field(
        1, ge=0, description="Retries of an item whose processing raised a retriable error."
    )
