"""Hugging Face `datasets` recipe: the instance rows as a `datasets.Dataset`, decoded on access
by the same `InstanceDecoder` as `InstanceDataset` (so both give the same arrays).

    from any2capins.data.hf import hf_dataset
    ds = hf_dataset("runs/demo", size=(256, 384))   # datasets.Dataset, one row per instance
    ds[0]["camera_plucker"].shape                   # (T, 6, 256, 384), numpy

Without decoding, the rows alone are plain Parquet:
`datasets.load_dataset("parquet", data_files="runs/demo/instances/*.parquet", split="train")`.
"""

from __future__ import annotations

from typing import Any

from any2capins.data.decoder import InstanceDecoder
from any2capins.data.options import LoaderOptions
from any2capins.data.reader import INSTANCES_DIR, split_run_path
from any2capins.io import fs
from any2capins.io.shards import shard_index


def instance_files(run: str) -> list[str]:
    """Paths (inside their filesystem) of the run's instance shards, in shard order."""
    root = fs.resolve(run)
    files = fs.list_files(root.join(INSTANCES_DIR), ".parquet")
    return [p for p in files if shard_index(p) is not None]


def _rows_dataset(run: str) -> Any:
    """The raw instance rows: memory-mapped through datasets' Parquet builder for local runs;
    for s3:// runs read through pyarrow (no s3fs needed) into an in-memory Dataset."""
    import datasets
    import pyarrow as pa

    root = fs.resolve(run)
    files = instance_files(run)
    if not files:
        raise FileNotFoundError(f"no instance shards under {root.join(INSTANCES_DIR).uri()}")
    if root.is_local:
        return datasets.load_dataset("parquet", data_files=files, split="train")
    tables = [fs.read_table(fs.Location(root.fs, p)) for p in files]
    return datasets.Dataset(pa.concat_tables(tables))


def hf_dataset(run_or_instances_path: str, **options: Any) -> Any:
    """A `datasets.Dataset` of the run's instances whose rows decode, on access, into the
    fields `InstanceDataset` gives (numpy arrays instead of tensors). `options` are
    `LoaderOptions` fields; `split` / `condition_sets` filter rows with `Dataset.filter`."""
    opts = LoaderOptions(**options)
    run, _ = split_run_path(str(run_or_instances_path))
    ds = _rows_dataset(run)
    if opts.split is not None:
        ds = ds.filter(lambda s: s == opts.split, input_columns="split")
    if opts.condition_sets is not None:
        wanted = set(opts.condition_sets)
        ds = ds.filter(lambda s: s in wanted, input_columns="condition_set")
    decoder = InstanceDecoder(run, opts)

    def decode_batch(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        n = len(next(iter(batch.values())))
        items = []
        for i in range(n):
            row = {k: v[i] for k, v in batch.items()}
            # condition shard N feeds instance shard N: the refs name the shard
            name = row["condition_refs"][0]["path"].rsplit("/", 1)[-1]
            items.append(decoder.decode_row(row, f"{INSTANCES_DIR}/{name}"))
        return {k: [it.get(k) for it in items] for k in items[0]} if items else {}

    ds.set_transform(decode_batch)
    return ds
