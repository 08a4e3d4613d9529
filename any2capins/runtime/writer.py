"""Shard files written as items finish, so a stage's memory is bounded by the items in flight,
not by the shard: rows are appended in row groups to a temp file that is renamed when the shard
ends. For an object store (s3://) the temp file is local and uploaded when the shard ends.
Readers see either nothing or the whole file, as with `fs.write_table_atomic`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from any2capins.io import fs
from any2capins.io.arrow import arrow_schema, to_table


class ShardWriter:
    """Appends rows of `model` to the shard file at `loc`; `close()` makes it visible,
    `abort()` leaves nothing behind. Rows are buffered up to `group_rows` per row group."""

    def __init__(self, loc: fs.Location, model: type[BaseModel], group_rows: int = 8) -> None:
        self.loc = loc
        self.model = model
        self.group_rows = max(1, group_rows)
        self.rows = 0
        self._buffer: list[BaseModel] = []
        self._writer: Any = None
        self._sink: Any = None
        self._tmp: str | None = None

    def add(self, rows: Iterable[BaseModel]) -> None:
        self._buffer.extend(rows)
        if len(self._buffer) >= self.group_rows:
            self._flush()

    def _open(self) -> None:
        import pyarrow.parquet as pq

        if self.loc.is_local:
            Path(self.loc.path).parent.mkdir(parents=True, exist_ok=True)
            self._tmp = f"{self.loc.path}.tmp-{uuid.uuid4().hex[:8]}"
        else:
            Path(fs.CACHE_DIR).mkdir(parents=True, exist_ok=True)
            self._tmp = str(Path(fs.CACHE_DIR) / f"shard-upload-{uuid.uuid4().hex}.parquet")
        self._sink = open(self._tmp, "wb")  # noqa: SIM115, PTH123 - closed in close/abort
        self._writer = pq.ParquetWriter(self._sink, arrow_schema(self.model),
                                        compression="zstd")

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is None:
            self._open()
        self._writer.write_table(to_table(self._buffer, self.model))
        self.rows += len(self._buffer)
        self._buffer = []

    def close(self) -> None:
        """Write what is buffered and make the file visible (an empty shard has no row group:
        an empty row group trips some readers)."""
        self._flush()
        if self._writer is None:
            self._open()
        self._writer.close()
        self._sink.flush()
        os.fsync(self._sink.fileno())
        self._sink.close()
        if self.loc.is_local:
            Path(self._tmp).replace(self.loc.path)
        else:
            self._upload()
        self._writer = self._sink = self._tmp = None

    def _upload(self) -> None:
        """The finished local file to the object store (one upload), then removed."""
        parent = self.loc.path.rsplit("/", 1)[0]
        self.loc.fs.create_dir(parent, recursive=True)
        try:
            with Path(self._tmp).open("rb") as src, \
                    self.loc.fs.open_output_stream(self.loc.path) as dst:
                while chunk := src.read(8 << 20):
                    dst.write(chunk)
        finally:
            Path(self._tmp).unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop the file being written (a crash or an interrupt: the shard stays not done)."""
        try:
            if self._writer is not None:
                self._writer.close()
            if self._sink is not None and not self._sink.closed:
                self._sink.close()
        except Exception:  # noqa: BLE001, S110 - aborting must not mask the original error
            pass
        if self._tmp is not None:
            Path(self._tmp).unlink(missing_ok=True)
        self._writer = self._sink = self._tmp = None
