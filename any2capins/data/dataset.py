"""`InstanceDataset`: a map-style PyTorch dataset over a run's `instances/` shards.

    from any2capins.data import InstanceDataset, collate_instances
    ds = InstanceDataset("runs/demo", size=(256, 384))           # or "s3://bucket/run"
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2,
                                         collate_fn=collate_instances)

Construction reads only Parquet footers (row counts). The first item a process loads opens
its own filesystem handles and shard caches (`ShardCache`), so the object pickles to
DataLoader workers and each worker reads on its own. See docs/loader.md for the item fields.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from any2capins.data.decoder import InstanceDecoder, Item
from any2capins.data.options import LoaderOptions
from any2capins.data.reader import build_index, split_run_path


class InstanceDataset(Dataset):
    """Map-style dataset of a run's instances (local path or s3:// URI of the run folder or of
    its `instances/` folder). Items are dicts of tensors and text; see docs/loader.md.

    Keyword options are `LoaderOptions` fields (validated); `transform` is applied to each
    item last (e.g. `ConditionDropout`), and receives the item's `index`."""

    def __init__(self, run_or_instances_path: str | os.PathLike[str], *,
                 transform: Callable[[Item], Item] | None = None, **options: Any) -> None:
        self.options = LoaderOptions(**options)
        run, instances_dir = split_run_path(os.fspath(run_or_instances_path))
        self.index = build_index(run, instances_dir, split=self.options.split,
                                 condition_sets=self.options.condition_sets)
        self.decoder = InstanceDecoder(run, self.options)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> Item:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} instances")
        index %= len(self)
        item = to_tensors(self.decoder.item(self.index[index]))
        item["index"] = index
        return self.transform(item) if self.transform is not None else item


def to_tensors(item: Item) -> Item:
    """numpy arrays (also inside lists) -> torch tensors, in place."""
    import torch

    for key, value in item.items():
        if isinstance(value, np.ndarray):
            item[key] = torch.from_numpy(np.ascontiguousarray(value))
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            item[key] = [torch.from_numpy(np.ascontiguousarray(v)) for v in value]
    return item


class ShardShuffleSampler:
    """Shuffles shards, then rows inside each shard: an epoch in random order that still reads
    each shard once per worker (the default RandomSampler jumps between shards, so with more
    shards than `cache_shards` every item may re-read a whole shard). Seeded; `set_epoch`
    gives a new order per epoch. Pass it as `DataLoader(ds, sampler=ShardShuffleSampler(ds))`."""

    def __init__(self, dataset: InstanceDataset, *, seed: int = 0) -> None:
        self.shards = [ref.shard for ref in dataset.index]
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.shards)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups: dict[str, list[int]] = {}
        for i, shard in enumerate(self.shards):
            groups.setdefault(shard, []).append(i)
        for shard in rng.permutation(sorted(groups)):
            yield from (int(i) for i in rng.permutation(groups[str(shard)]))
