"""Batching items whose arrays differ in length (frames T, people P) or are absent.

`collate_instances(items)` returns one dict:
- tensor fields (depth, pose, camera_plucker, ...): zero-padded at the end of every dimension
  to the largest shape in the batch and stacked -> [B, ...]; next to each, `<key>_shape`
  (int64 [B, ndim]) holds every item's true shape, all zeros where the item had None. Build
  masks from it, e.g. `t < depth_shape[:, 0]` for valid frames.
- lists of tensors (ref_images, ref_masks): a list per item, unchanged (crop sizes differ).
- everything else (ids, text, sections, condition lists, None-only fields): a list per item;
  `index` becomes an int64 tensor.
"""

from __future__ import annotations

from typing import Any


def _pad_stack(values: list[Any]) -> tuple[Any, Any]:
    import torch

    tensors = [v for v in values if v is not None]
    ndim = tensors[0].dim()
    if any(t.dim() != ndim for t in tensors):
        raise ValueError("cannot batch tensors of different ranks: " +
                         ", ".join(str(tuple(t.shape)) for t in tensors))
    shape = [max(t.shape[d] for t in tensors) for d in range(ndim)]
    out = torch.zeros((len(values), *shape), dtype=tensors[0].dtype)
    shapes = torch.zeros((len(values), ndim), dtype=torch.int64)
    for i, v in enumerate(values):
        if v is None:
            continue
        out[(i, *(slice(0, s) for s in v.shape))] = v
        shapes[i] = torch.tensor(v.shape, dtype=torch.int64)
    return out, shapes


def collate_instances(items: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch dict from `InstanceDataset` items (see the module docstring)."""
    import torch

    keys = list(dict.fromkeys(k for item in items for k in item))
    batch: dict[str, Any] = {}
    for key in keys:
        values = [item.get(key) for item in items]
        if key == "index":
            batch[key] = torch.tensor(values, dtype=torch.int64)
        elif any(isinstance(v, torch.Tensor) for v in values) and all(
                v is None or isinstance(v, torch.Tensor) for v in values):
            batch[key], batch[f"{key}_shape"] = _pad_stack(values)
        else:
            batch[key] = values
    return batch
