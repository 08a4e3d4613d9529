"""Trainer-facing loading of a run's instances: tensors, Plücker camera rays, dropout.

`InstanceDataset` (map-style torch dataset, local or s3://), `collate_instances` (batching of
variable-length fields), `ConditionDropout` (the paper's training dropout) and
`any2capins.data.hf.hf_dataset` (the Hugging Face `datasets` recipe). See docs/loader.md.
Names are imported on first use, so `import any2capins.data` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InstanceDataset": "any2capins.data.dataset",
    "InstanceDecoder": "any2capins.data.decoder",
    "collate_instances": "any2capins.data.collate",
    "ConditionDropout": "any2capins.data.dropout",
    "LoaderOptions": "any2capins.data.options",
    "ShardShuffleSampler": "any2capins.data.dataset",
    "plucker_embedding": "any2capins.data.geometry",
    "relative_c2w": "any2capins.data.geometry",
    "hf_dataset": "any2capins.data.hf",
}
__all__ = ["ConditionDropout", "InstanceDataset", "InstanceDecoder", "LoaderOptions",
           "ShardShuffleSampler", "collate_instances", "hf_dataset", "plucker_embedding",
           "relative_c2w"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'any2capins.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
