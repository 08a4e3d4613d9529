"""Arrow schemas derived from the pydantic record models, and record <-> table conversion.

One source of truth: a stage's output table always has the schema of its record model, even
when the shard is empty, and `schemas/` is generated from the same function.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

import pyarrow as pa
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    dt.datetime: pa.timestamp("us", tz="UTC"),
    dt.date: pa.date32(),
}


def arrow_type(annotation: Any) -> pa.DataType:  # noqa: PLR0911 - one return per type kind
    """Arrow type of one field annotation (Optional[T] maps to T; nullability is per field)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) != 1:
            raise TypeError(f"unions other than Optional[T] have no Arrow type: {annotation}")
        return arrow_type(non_none[0])
    if origin is Literal:
        kinds = {type(a) for a in args}
        return _SCALARS[kinds.pop()] if len(kinds) == 1 else pa.string()
    if origin in (list, Sequence, tuple) or annotation in (list, tuple):
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return pa.list_(arrow_type(args[0]))
        if origin is tuple and args:
            return pa.list_(arrow_type(args[0]), len(args))
        return pa.list_(arrow_type(args[0]))
    if origin is dict:
        return pa.map_(arrow_type(args[0]), arrow_type(args[1]))
    if typing.get_origin(annotation) is typing.Annotated:
        return arrow_type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(_fields(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return pa.string()
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"no Arrow type for annotation {annotation!r}")


def _fields(model: type[BaseModel]) -> list[pa.Field]:
    out = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        nullable = typing.get_origin(ann) in (typing.Union, types.UnionType) and type(
            None
        ) in typing.get_args(ann)
        meta = {"description": info.description} if info.description else None
        out.append(pa.field(name, arrow_type(ann), nullable=nullable, metadata=meta))
    return out


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """Arrow schema of a record model (field descriptions kept as field metadata)."""
    return pa.schema(_fields(model), metadata={"model": model.__name__})


def to_table(records: Iterable[BaseModel], model: type[BaseModel]) -> pa.Table:
    """Table of records with exactly the model's schema (also for zero records)."""
    rows = [r.model_dump(mode="python") for r in records]
    return pa.Table.from_pylist(rows, schema=arrow_schema(model))


def from_table(table: pa.Table, model: type[M]) -> list[M]:
    """Validated records from a table (extra columns are an error: the schema is the contract)."""
    # Map columns (dict[str, str] fields) come back as dicts, not lists of pairs.
    rows = table.to_pylist(maps_as_pydicts="strict")
    return [model.model_validate(row) for row in rows]
