"""Processing one shard: read inputs, run batches, turn failures into rows, write atomically.

Shared by every executor so that in-process and Ray runs produce identical shards.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence

from pydantic import BaseModel

from any2capins.errors import StageError
from any2capins.io.shards import ShardStore
from any2capins.models.common import ErrorRecord, ShardDone, TokenUsage, utc_now
from any2capins.runtime.stage import Failure, ShardTask, Stage


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_inputs(stage: Stage, store: ShardStore, task: ShardTask) -> list[BaseModel]:
    if task.rows is not None:
        return list(task.rows)
    if task.input_dir is None:
        raise StageError(f"{stage.name}: shard {task.index} has neither rows nor an input folder")
    return list(store.read_shard(task.input_dir, task.index, stage.input_model))


def run_batch(stage: Stage, batch: Sequence[BaseModel], max_retries: int) -> list[object]:
    """Results for a batch; a batch that raises is split so one bad item fails alone."""
    try:
        results = list(stage.process_batch(batch))
        if len(results) != len(batch):
            raise StageError(
                f"{stage.name}.process_batch returned {len(results)} results for {len(batch)} items"
            )
    except Exception as exc:  # noqa: BLE001 - any item error must become data, not a crash
        if len(batch) == 1:
            return [Failure.from_exception(exc)]
        return [r for item in batch for r in run_batch(stage, [item], max_retries)]
    return [_retry(stage, item, res, max_retries) for item, res in zip(batch, results, strict=True)]


def _retry(stage: Stage, item: BaseModel, res: object, max_retries: int) -> object:
    attempts = 1
    while isinstance(res, Failure) and res.retriable and attempts <= max_retries:
        attempts += 1
        res = run_batch(stage, [item], 0)[0]
    if isinstance(res, Failure) and attempts > 1:
        return Failure(res.error_class, res.message, res.retriable, res.detail, attempts)
    return res


def process_shard(
    stage: Stage, store: ShardStore, task: ShardTask, max_retries: int = 1
) -> ShardDone:
    """Process and write one shard; returns its completion record. With `task.retry`, only the
    items with those keys are processed; the shard's other rows and error rows are kept."""
    started, t0 = utc_now(), time.perf_counter()
    items = load_inputs(stage, store, task)
    stage.shard_context = task.context
    stage.begin_shard(task.index, store.run_dir)
    todo = items if task.retry is None else [i for i in items if stage.item_key(i) in task.retry]
    outputs: list[BaseModel] = []
    errors: list[ErrorRecord] = []
    size = stage.resources.batch_size
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        for item, res in zip(batch, run_batch(stage, batch, max_retries), strict=True):
            rows = _output_rows(stage, res)
            errors.extend(_error_row(stage, task.index, item, r) for r in rows
                          if isinstance(r, Failure))
            outputs.extend(r for r in rows if not isinstance(r, Failure))
    usage = stage.take_usage()
    run_usage, retried = usage, 0
    if task.retry is not None:
        outputs, errors, usage = _merge_kept(stage, store, task, outputs, errors, usage)
        retried = len(todo)
    failed = {(e.clip_id, e.uri) for e in errors}
    done = ShardDone(
        stage=stage.name, shard=task.index, input_rows=len(items),
        ok_items=sum(stage.item_key(i) not in failed for i in items),
        output_rows=len(outputs), error_rows=len(errors), started=started, finished=utc_now(),
        seconds=round(time.perf_counter() - t0, 4), worker=worker_id(), usage=usage,
        output_dir=stage.output_dir, retriable_errors=sum(e.retriable for e in errors),
        retried=retried, run_usage=run_usage, **_provenance_fields(task),
    )
    store.write_shard(output_dir=stage.output_dir, model=stage.output_model, index=task.index,
                      rows=outputs, errors=errors, done=done)
    return done


def _provenance_fields(task: ShardTask) -> dict[str, object]:
    """The completion record's fields saying what the shard was made from."""
    prov = task.provenance
    if prov is None:
        return {}
    return {"fingerprint": prov.fingerprint, "upstream": dict(prov.upstream),
            "settings": json.dumps(prov.settings, sort_keys=True, default=str)}


def _merge_kept(  # noqa: PLR0917 - private helper of process_shard
    stage: Stage, store: ShardStore, task: ShardTask, outputs: list[BaseModel],
    errors: list[ErrorRecord], usage: TokenUsage | None,
) -> tuple[list[BaseModel], list[ErrorRecord], TokenUsage | None]:
    """A retry's new rows joined with what the shard keeps: the rows and error rows of the
    items not retried (for fan-out stages, rows of a retried clip are dropped: it is redone
    whole). Usage adds the previous writes' usage, so the record covers the whole shard."""
    retried = task.retry or frozenset()
    clips = {clip for clip, _ in retried if clip is not None}
    kept = [r for r in store.read_shard(stage.output_dir, task.index, stage.output_model)
            if not (stage.fan_out and getattr(r, "clip_id", None) in clips)]
    kept_errors = [e for e in store.shard_errors(stage.name, task.index)
                   if (e.clip_id, e.uri) not in retried]
    before = task.previous.usage if task.previous else None
    total = before + usage if before and usage else (before or usage)
    return kept + outputs, kept_errors + errors, total


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
