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
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources reserved per worker, e.g. "
        "{accelerator_type:A100: 0.01} to pin a stage to a node type; the cluster must offer "
        "them (`ray start --resources`).")
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
        description="host:port of an existing Ray cluster (the head's GCS port, 6379 by "
        "default) to attach to; None uses $RAY_ADDRESS if set, else starts an embedded local "
        "cluster of this process (never one found running on the machine). Token "
        "authentication is picked up as Ray does: ~/.ray/auth_token, $RAY_AUTH_TOKEN or "
        "$RAY_AUTH_TOKEN_PATH.",
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, description="How long to wait for a TCP answer from ray_address before "
        "giving up with one line (exit 2).")
    num_cpus: int | None = Field(
        None, ge=1, description="CPUs of the embedded local cluster (ignored when attaching).")
    object_store_memory_gb: float | None = Field(
        None, gt=0, description="Object store of the embedded local cluster in GiB (ignored "
        "when attaching).")
    temp_dir: str | None = Field(
        None, description="Ray's temp/session folder of the embedded cluster (ignored when "
        "attaching).")
    progress: bool = Field(True, description="Show a progress bar per stage on stderr.")
    max_item_retries: int = Field(
        1, ge=0, description="Retries of an item whose processing raised a retriable error."
    )
