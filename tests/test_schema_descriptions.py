"""Every output column is described: a trainer reading the Parquet tables finds the meaning,
unit and null meaning of each column (and nested field) in docs/schemas.md, so no column of
the generated schema tables may have an empty description."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from any2capins import docsgen
from any2capins.models.tables import TABLES

SCHEMAS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"
_CELL_SPLIT = re.compile(r"(?<!\\)\|")  # cell borders; `\|` is a pipe inside a cell


def undescribed(model: type[BaseModel]) -> list[str]:
    """Columns (nested fields as `a[].b`) of a record model that render without a
    description: neither the field's own `description=` nor a common-column text."""
    return [column for column, _, text in docsgen._record_rows(model) if not text.strip()]


def page_rows(text: str) -> list[tuple[str, str, list[str]]]:
    """(table, row line, cells) of every row of the column tables of a schemas page."""
    rows, table, in_table = [], "", False
    for line in text.splitlines():
        if line.startswith("## "):
            table, in_table = line[3:].strip("` "), False
        elif line.startswith("| column | type | description |"):
            in_table = True
        elif in_table and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in _CELL_SPLIT.split(line)[1:-1]]
            rows.append((table, line, cells))
        elif not line.startswith("|"):
            in_table = False
    return rows


def test_every_output_column_has_a_description() -> None:
    missing = [f"{name}: {column}" for name, table in TABLES.items()
               for column in undescribed(table.record_model())]
    assert not missing, ("output columns without a description (add `Field(..., "
                         f"description=...)` to the record model): {missing}")


def test_generated_schema_page_has_no_blank_description() -> None:
    rows = page_rows(SCHEMAS_PAGE.read_text(encoding="utf-8"))
    assert {table for table, _, _ in rows} == set(TABLES)  # the parser saw every table
    assert len(rows) >= 300  # every column and nested field, not just a few
    blank = [line for _, line, cells in rows if len(cells) != 3 or not cells[2]]
    assert not blank, f"rows of docs/schemas.md without a description: {blank}"


def test_rendered_tables_have_no_blank_description() -> None:
    rows = page_rows(docsgen.render_schemas())
    assert not [line for _, line, cells in rows if not cells[2]]


class _Inner(BaseModel):
    described: int = Field(description="Has one.")
    bare: float


class _Outer(BaseModel):
    clip_id: str  # described by the common-column text
    items: list[_Inner] = Field(description="A list of structs.")
    nested: _Inner | None = None


def test_the_check_finds_undescribed_columns_at_any_depth() -> None:
    assert undescribed(_Outer) == ["items[].bare", "nested", "nested.bare"]
    rows = page_rows("## `t`\n\n| column | type | description |\n|---|---|---|\n"
                     "| `a` | string | A \\| B. |\n| `b` | int64 |  |\n\nafter\n| x |\n")
    assert [cells for _, _, cells in rows] == [["`a`", "string", "A \\| B."],
                                               ["`b`", "int64", ""]]
