"""Generated schemas of every table the pipeline writes: `schemas/<table>.schema.json` (JSON
Schema of the record model) and `schemas/<table>.arrow.txt` (the Arrow schema the Parquet
files carry). `any2capins schemas --check` (and a test) fails when they drift from the code.
`any2capins docs` writes the generated pages of docs/ (see any2capins.docsgen).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def render() -> dict[str, str]:
    """File name -> content of every generated schema file, one pair per table of the run
    folder (`models.tables`)."""
    from any2capins.io.arrow import arrow_schema
    from any2capins.models.tables import TABLES

    out = {}
    for name, table in TABLES.items():
        model = table.record_model()
        out[f"{name}.schema.json"] = json.dumps(model.model_json_schema(), indent=2) + "\n"
        out[f"{name}.arrow.txt"] = f"# {table.model}\n{arrow_schema(model).to_string()}\n"
    return out


def drift(folder: Path) -> list[str]:
    """Files in `folder` that differ from what the code generates (missing ones included)."""
    stale = [name for name, text in render().items()
             if not (folder / name).is_file() or (folder / name).read_text() != text]
    generated = set(render())
    extra = [p.name for p in folder.glob("*") if p.suffix in (".json", ".txt")
             and p.name not in generated]
    return sorted(stale + extra)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("schemas", parents=[common],
                              help="write (or --check) the generated table schemas")
    p.add_argument("--out", default="schemas", help="folder (default: schemas)")
    p.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    p.set_defaults(handler=run)
    d = subparsers.add_parser("docs", parents=[common],
                              help="write (or --check) the generated docs: configuration "
                              "reference, output tables, benchmarks page")
    d.add_argument("--out", default="docs", help="folder (default: docs)")
    d.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    d.set_defaults(handler=run_docs)


def run_docs(args: argparse.Namespace) -> int:
    from any2capins.docsgen import run as run_docsgen

    return run_docsgen(args)


def run(args: argparse.Namespace) -> int:
    from any2capins.docsgen import report_drift

    folder = Path(args.out)
    if args.check:
        return report_drift(folder, drift(folder), "schemas")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        if old.suffix in (".json", ".txt"):
            old.unlink()
    for name, text in render().items():
        (folder / name).write_text(text)
    print(f"wrote {len(render())} files to {folder}/")
    return 0
