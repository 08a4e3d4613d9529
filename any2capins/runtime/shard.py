"""Processing one shard with the stages of one worker: read the inputs once, hand each batch
its frames and side-table rows, turn failures into rows, write each stage's shard as items
finish, then its error rows and completion record.

The same function runs in-process and in a Ray actor, so both executors produce identical
shards. Items go through all the worker's stages a batch at a time (clip-major), so memory is
bounded by the batch in flight (plus the one being decoded ahead), not by the shard.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from any2capins.errors import StageError
from any2capins.io.shards import ShardStore
from any2capins.models.common import ErrorRecord, ShardDone, utc_now
from any2capins.models.tables import table_of_folder
from any2capins.runtime.frames import ClipFrames, FrameSource
from any2capins.runtime.inputs import Inputs, ShardTables
from any2capins.runtime.stage import Failure, Gate, ShardTask, Stage
from any2capins.runtime.writer import ShardWriter

# (items, {clip_id: {stage: request}}) -> where the frames of those items come from
SourceFactory = Callable[[list[BaseModel], dict[str, dict[str, Any]]], FrameSource]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_inputs(stage: Stage, store: ShardStore, task: ShardTask) -> list[BaseModel]:
    if task.rows is not None:
        return list(task.rows)
    if task.input_dir is None:
        raise StageError(f"{stage.name}: shard {task.index} has neither rows nor an input folder")
    return list(store.read_shard(task.input_dir, task.index, stage.input_model))


def run_batch(stage: Stage, batch: Sequence[BaseModel], inputs: Inputs,
              max_retries: int) -> list[object]:
    """Results for a batch; a batch that raises is split so one bad item fails alone."""
    try:
        results = list(stage.process_batch(batch, inputs))
        if len(results) != len(batch):
            raise StageError(
                f"{stage.name}.process_batch returned {len(results)} results for {len(batch)} items"
            )
    except Exception as exc:  # noqa: BLE001 - any item error must become data, not a crash
        if len(batch) == 1:
            return [Failure.from_exception(exc)]
        return [r for item in batch for r in run_batch(stage, [item], inputs, max_retries)]
    return [_retry(stage, item, res, inputs, max_retries)
            for item, res in zip(batch, results, strict=True)]


def _retry(stage: Stage, item: BaseModel, res: object, inputs: Inputs, max_retries: int) -> object:
    attempts = 1
    while isinstance(res, Failure) and res.retriable and attempts <= max_retries:
        attempts += 1
        res = run_batch(stage, [item], inputs, 0)[0]
    if isinstance(res, Failure) and attempts > 1:
        return Failure(res.error_class, res.message, res.retriable, res.detail, attempts)
    return res


@dataclass
class _StageRun:
    """One stage's part of a shard being processed."""

    stage: Stage
    task: ShardTask
    todo: set[tuple[str | None, str]] | None  # None: every item
    writer: ShardWriter
    table: str | None
    gate: Gate | None = None
    errors: list[ErrorRecord] = field(default_factory=list)
    failed: set[tuple[str | None, str]] = field(default_factory=set)
    skipped: int = 0
    outputs: int = 0
    seconds: float = 0.0

    def wants(self, item: BaseModel) -> bool:
        return self.todo is None or self.stage.item_key(item) in self.todo

    def gated(self, item: BaseModel, tables: ShardTables) -> bool:
        """The pass's gate leaves `item` out of this stage."""
        if self.gate is None:
            return False
        row = tables.row(self.gate.table, getattr(item, "clip_id", ""))
        return row is not None and not row.get(self.gate.kept, True)


def process_shard(stages: Sequence[Stage], tasks: dict[str, ShardTask], store: ShardStore,
                  frames: SourceFactory | None, max_retries: int = 1, *,
                  gate: Gate | None = None) -> list[ShardDone]:
    """Process and write one shard for every stage in `tasks` (all read the same input shard;
    `stages` in dependency order). With `task.retry`, only the items with those keys are
    processed for that stage; the shard's other rows and error rows are kept. `gate`: items
    the pass leaves out of its (not exempt) stages, counted as skipped."""
    started, t0 = utc_now(), time.perf_counter()
    active = [s for s in stages if s.name in tasks]
    first = tasks[active[0].name]
    items = load_inputs(active[0], store, first)
    columns, lengths = side_columns(active)
    if gate is not None:
        columns[gate.table] = {gate.kept, gate.reasons} | (columns.get(gate.table) or set())
    tables = ShardTables(store, first.index, columns, lengths,
                         whole={gate.table} if gate is not None else None)
    runs = [_start(s, tasks[s.name], store, gate) for s in active]
    source = frames(items, _requests(runs, items, tables)) if frames is not None else None
    try:
        for run in runs:
            run.stage.begin_shard(first.index, Inputs(run.stage.name, first.index, tables, {}, {}))
        _process_items(runs, items, tables, source, max_retries)
        return [_finish(run, store, items, started, time.perf_counter() - t0) for run in runs]
    except BaseException:
        for run in runs:
            run.writer.abort()
        raise
    finally:
        if source is not None:
            source.close()


def side_columns(stages: Sequence[Stage]) -> tuple[dict[str, set[str] | None],
                                                 dict[str, set[str]]]:
    """What the stages read of each side table: (columns, None for all; list columns read as
    their lengths)."""
    cols: dict[str, set[str] | None] = {}
    lengths: dict[str, set[str]] = {}
    for stage in stages:
        for side in stage.side_tables():
            have = cols.get(side.table, set())
            if side.columns is None or (side.table in cols and have is None):
                cols[side.table] = None
            else:
                cols[side.table] = set(have or ()) | set(side.columns)
            lengths.setdefault(side.table, set()).update(side.lengths)
    return cols, lengths


def _requests(runs: list[_StageRun], items: list[BaseModel],
              tables: ShardTables) -> dict[str, dict[str, Any]]:
    """Per clip, the frame requests of the stages that will process it."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        request = run.stage.frames()
        if request is None:
            continue
        for item in items:
            if run.wants(item) and not run.gated(item, tables):
                out.setdefault(getattr(item, "clip_id", ""), {})[run.stage.name] = request
    return out


def _start(stage: Stage, task: ShardTask, store: ShardStore, gate: Gate | None) -> _StageRun:
    writer = ShardWriter(store.data_loc(stage.output_dir, task.index), stage.output_model)
    table = table_of_folder(stage.output_dir)
    run = _StageRun(stage, task, set(task.retry) if task.retry is not None else None, writer,
                    table.name if table else None,
                    gate if gate is not None and gate.applies(stage.name) else None)
    if task.retry is not None:  # the rows of the items not retried are kept, first
        clips = {c for c, _ in task.retry if c is not None}
        kept = [r for r in store.read_shard(stage.output_dir, task.index, stage.output_model)
                if not (stage.fan_out and getattr(r, "clip_id", None) in clips)
                and (stage.fan_out or stage.item_key(r) not in task.retry)]
        writer.add(kept)
        run.outputs += len(kept)
    return run


def _process_items(runs: list[_StageRun], items: list[BaseModel], tables: ShardTables,
                   source: FrameSource | None, max_retries: int) -> None:
    size = max(r.stage.resources.batch_size for r in runs)
    chunks = [items[k : k + size] for k in range(0, len(items), size)]
    for n, chunk in enumerate(chunks):
        frames: dict[str, ClipFrames] = {}
        if source is not None:
            frames = source.get([getattr(i, "clip_id", "") for i in chunk])
            if n + 1 < len(chunks):
                source.prefetch([getattr(i, "clip_id", "") for i in chunks[n + 1]])
        tables.begin_batch(getattr(i, "clip_id", "") for i in chunk)
        scratch: dict[Any, Any] = {}
        for run in runs:
            inputs = Inputs(run.stage.name, run.task.index, tables, frames, scratch)
            _run_chunk(run, chunk, inputs, max_retries)


def _run_chunk(run: _StageRun, chunk: list[BaseModel], inputs: Inputs, max_retries: int) -> None:
    """One stage over the items of a chunk it has to do: skips counted, failures as rows,
    rows streamed to its shard file and shown to the stages after it."""
    stage, tables = run.stage, inputs.tables
    t0 = time.perf_counter()
    todo = []
    for item in chunk:
        if not run.wants(item):
            continue
        if run.gated(item, tables):
            run.skipped += 1
        else:
            todo.append(item)
    for k in range(0, len(todo), stage.resources.batch_size):
        batch = todo[k : k + stage.resources.batch_size]
        rows: list[BaseModel] = []
        for item, res in zip(batch, run_batch(stage, batch, inputs, max_retries), strict=True):
            for r in _output_rows(stage, res):
                if isinstance(r, Failure):
                    run.errors.append(_error_row(stage, run.task.index, item, r))
                    run.failed.add(stage.item_key(item))
                else:
                    rows.append(r)
        run.writer.add(rows)
        run.outputs += len(rows)
        if run.table is not None:
            tables.produced(run.table, stage.output_model, rows)
            failed = [stage.item_key(i)[0] for i in batch if stage.item_key(i) in run.failed]
            tables.forget(run.table, [c for c in failed if c])
    run.seconds += time.perf_counter() - t0


def _finish(run: _StageRun, store: ShardStore, items: list[BaseModel], started: Any,
            wall: float) -> ShardDone:
    stage, task = run.stage, run.task
    usage = stage.take_usage()
    run_usage, errors, retried = usage, run.errors, 0
    if task.retry is not None:
        errors = [e for e in store.shard_errors(stage.name, task.index)
                  if (e.clip_id, e.uri) not in task.retry] + run.errors
        before = task.previous.usage if task.previous else None
        usage = before + usage if before and usage else (before or usage)
        retried = len(run.todo or ())
    failed = {(e.clip_id, e.uri) for e in errors}
    skipped = run.skipped + (task.previous.skipped_items if task.retry and task.previous else 0)
    done = ShardDone(
        stage=stage.name, shard=task.index, input_rows=len(items),
        ok_items=sum(stage.item_key(i) not in failed for i in items) - skipped,
        output_rows=run.outputs, error_rows=len(errors), skipped_items=skipped,
        started=started, finished=utc_now(), seconds=round(run.seconds or wall, 4),
        worker=worker_id(), usage=usage, output_dir=stage.output_dir,
        retriable_errors=sum(e.retriable for e in errors), retried=retried,
        run_usage=run_usage, **_provenance_fields(task, store),
    )
    run.writer.close()
    store.write_shard_records(index=task.index, errors=errors, done=done)
    return done


def _provenance_fields(task: ShardTask, store: ShardStore) -> dict[str, object]:
    """The completion record's fields saying what the shard was made from. The input shards'
    identities are read now, when the stage is done: a stage of the same pass may have
    written one of them after this task was planned (the sheet after the conditions)."""
    prov = task.provenance
    if prov is None:
        return {}
    upstream = {}
    for name, ident in prov.upstream:
        rec = store.done(name, task.index)
        upstream[name] = rec.identity() if rec is not None else ident
    return {"fingerprint": prov.fingerprint, "upstream": upstream,
            "settings": json.dumps(prov.settings, sort_keys=True, default=str)}


def _output_rows(stage: Stage, res: object) -> list[BaseModel | Failure]:
    """The rows of one item's result: a record or a Failure; for fan-out stages a list of
    them (possibly empty: an item that yields nothing is still processed, not lost)."""
    rows = res if stage.fan_out and isinstance(res, list) else [res]
    out: list[BaseModel | Failure] = []
    for r in rows:
        if isinstance(r, Failure | stage.output_model):
            out.append(r)
        else:
            got = type(r).__name__
            out.append(Failure("StageError", f"expected {stage.output_model.__name__}, got {got}"))
    return out


def _error_row(stage: Stage, shard: int, item: BaseModel, failure: Failure) -> ErrorRecord:
    clip_id, uri = stage.item_key(item)
    return ErrorRecord(
        stage=stage.name, shard=shard, clip_id=clip_id, uri=uri,
        error_class=failure.error_class, message=failure.message[:2000],
        retriable=failure.retriable, attempts=failure.attempts, detail=failure.detail,
    )
