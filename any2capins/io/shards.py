"""The run folder's shard store: deterministic names, atomic writes, completion records.

Layout below RUN_DIR (local path or s3:// URI):

    <output_dir>/shard-NNNNN.parquet      rows of a stage's record model
    _errors/<stage>/shard-NNNNN.parquet   ErrorRecord rows of that shard
    _done/<stage>/shard-NNNNN.json        ShardDone: the shard is complete iff this exists

Write order is data, errors, then the completion record, each atomically; a crash at any point
leaves the shard not done, and the rerun rewrites all three. Output shard N is always made from
input shard N, so names never depend on scheduling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypeVar

import pyarrow as pa
from pydantic import BaseModel

from any2capins.io import fs
from any2capins.io.arrow import from_table, to_table
from any2capins.models.common import ErrorRecord, ShardDone

M = TypeVar("M", bound=BaseModel)
_SHARD_RE = re.compile(r"shard-(\d{5,})\.(parquet|json)$")


def shard_name(index: int, ext: str = "parquet") -> str:
    return f"shard-{index:05d}.{ext}"


def shard_index(path: str) -> int | None:
    m = _SHARD_RE.search(path)
    return int(m.group(1)) if m else None


class ShardStore:
    """Reads and writes one run folder's shards."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.root = fs.resolve(run_dir)

    # -- paths -------------------------------------------------------------------------------
    def data_loc(self, output_dir: str, index: int) -> fs.Location:
        return self.root.join(output_dir, shard_name(index))

    def errors_loc(self, stage: str, index: int) -> fs.Location:
        return self.root.join("_errors", stage, shard_name(index))

    def done_loc(self, stage: str, index: int) -> fs.Location:
        return self.root.join("_done", stage, shard_name(index, "json"))

    # -- writing -----------------------------------------------------------------------------
    def write_shard(
        self,
        *,
        output_dir: str,
        model: type[BaseModel],
        index: int,
        rows: Sequence[BaseModel],
        errors: Sequence[ErrorRecord],
        done: ShardDone,
    ) -> None:
        """Write one shard's rows, its error rows and, last, its completion record."""
        fs.write_table_atomic(self.data_loc(output_dir, index), to_table(rows, model))
        fs.write_table_atomic(self.errors_loc(done.stage, index), to_table(errors, ErrorRecord))
        payload = done.model_dump_json(indent=2).encode()
        fs.write_bytes_atomic(self.done_loc(done.stage, index), payload)

    def write_shard_records(self, *, index: int, errors: Sequence[ErrorRecord],
                            done: ShardDone) -> None:
        """The error rows, then (last) the completion record of a shard whose data file was
        written already (streamed by `runtime.writer.ShardWriter`)."""
        fs.write_table_atomic(self.errors_loc(done.stage, index), to_table(errors, ErrorRecord))
        fs.write_bytes_atomic(self.done_loc(done.stage, index),
                              done.model_dump_json(indent=2).encode())

    def remove_done(self, stage: str, index: int) -> bool:
        """Delete the completion record of (stage, shard) if there is one: called before a
        shard is rewritten, so a crash mid-rewrite never leaves an old record next to new
        data. Returns whether a record was removed."""
        loc = self.done_loc(stage, index)
        if not fs.exists(loc):
            return False
        loc.fs.delete_file(loc.path)
        return True

    def write_table(self, relpath: str, table: pa.Table) -> None:
        fs.write_table_atomic(self.root.join(relpath), table)

    def write_json(self, relpath: str, obj: object) -> None:
        data = json.dumps(obj, indent=2, default=str, sort_keys=False).encode()
        fs.write_bytes_atomic(self.root.join(relpath), data)

    # -- reading -----------------------------------------------------------------------------
    def done(self, stage: str, index: int) -> ShardDone | None:
        loc = self.done_loc(stage, index)
        if not fs.exists(loc):
            return None
        return ShardDone.model_validate_json(fs.read_bytes(loc))

    def done_records(self, stage: str) -> list[ShardDone]:
        paths = fs.list_files(self.root.join("_done", stage), ".json")
        return [
            ShardDone.model_validate_json(fs.read_bytes(fs.Location(self.root.fs, p)))
            for p in paths
        ]

    def done_stages(self) -> list[str]:
        """Names of the stages that have completion records in this run folder."""
        from pyarrow import fs as pafs

        base = self.root.join("_done")
        if not fs.exists(base):
            return []
        infos = base.fs.get_file_info(pafs.FileSelector(base.path, recursive=False))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def shard_errors(self, stage: str, index: int) -> list[ErrorRecord]:
        """The error rows of one shard (none when the file is missing)."""
        loc = self.errors_loc(stage, index)
        return from_table(fs.read_table(loc), ErrorRecord) if fs.exists(loc) else []

    def any_done(self, stage: str) -> ShardDone | None:
        """One completion record of `stage` (the first by name), or None."""
        paths = sorted(fs.list_files(self.root.join("_done", stage), ".json"))
        if not paths:
            return None
        return ShardDone.model_validate_json(fs.read_bytes(fs.Location(self.root.fs, paths[0])))

    def shard_indices(self, output_dir: str) -> list[int]:
        paths = fs.list_files(self.root.join(output_dir), ".parquet")
        found = (shard_index(p) for p in paths if "/_" not in p[len(self.root.path):])
        return sorted(i for i in found if i is not None)

    def read_shard(self, output_dir: str, index: int, model: type[M]) -> list[M]:
        return from_table(fs.read_table(self.data_loc(output_dir, index)), model)

    def read_all(self, output_dir: str, model: type[M]) -> list[M]:
        indices = self.shard_indices(output_dir)
        return [r for i in indices for r in self.read_shard(output_dir, i, model)]

    def read_errors(self, stage: str | None = None) -> list[ErrorRecord]:
        base = self.root.join("_errors", stage) if stage else self.root.join("_errors")
        out: list[ErrorRecord] = []
        for p in fs.list_files(base, ".parquet"):
            out.extend(from_table(fs.read_table(fs.Location(self.root.fs, p)), ErrorRecord))
        return out

    def sweep_temp_files(self, *relpaths: str) -> int:
        """Delete temp files a killed writer left below `relpaths` (local run folders only;
        object stores have none). Call before workers start writing."""
        if not self.root.is_local:
            return 0
        from pathlib import Path

        n = 0
        for rel in relpaths:
            base = Path(self.root.join(rel).path)
            for p in base.rglob("*.tmp-*") if base.is_dir() else ():
                p.unlink(missing_ok=True)
                n += 1
        return n

    def exists(self, relpath: str) -> bool:
        return fs.exists(self.root.join(relpath))

    def read_json(self, relpath: str) -> object:
        return json.loads(fs.read_bytes(self.root.join(relpath)))
