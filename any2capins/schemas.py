"""Generated schemas of every table the pipeline writes: `schemas/<table>.schema.json` (JSON
Schema of the record model) and `schemas/<table>.arrow.txt` (the Arrow schema the Parquet
files carry). `any2capins schemas --check` (and a test) fails when they drift from the code.
`any2capins docs` writes the generated pages of docs/ (see any2capins.docsgen).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from pydantic import BaseModel

# table (folder below RUN_DIR) -> record model
TABLES: dict[str, str] = {
    "clips": "any2capins.models.clips:ClipRecord",
    "_errors": "any2capins.models.common:ErrorRecord",
    "_done": "any2capins.models.common:ShardDone",
    "conditions.depth": "any2capins.models.conditions:DepthRecord",
    "conditions.pose": "any2capins.models.conditions:PoseRecord",
    "conditions.refs": "any2capins.models.conditions:RefsRecord",
    "conditions.camera": "any2capins.models.camera:CameraRecord",
    "captions.sections": "any2capins.models.captions:ClipSections",
    "captions.merged": "any2capins.models.captions:MergedCaption",
    "review.decisions": "any2capins.models.review:ApprovedCaption",
    "review.audit": "any2capins.models.review:DecisionRecord",
    "shortprompts": "any2capins.models.instances:ShortPromptRecord",
    "instances": "any2capins.models.instances:InstanceRecord",
}


def _model(ref: str) -> type[BaseModel]:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def render() -> dict[str, str]:
    """File name -> content of every generated schema file."""
    from any2capins.io.arrow import arrow_schema

    out = {}
    for table, ref in TABLES.items():
        model = _model(ref)
        out[f"{table}.schema.json"] = json.dumps(model.model_json_schema(), indent=2) + "\n"
        out[f"{table}.arrow.txt"] = f"# {ref}\n{arrow_schema(model).to_string()}\n"
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


def report_drift(folder: Path, stale: list[str], target: str) -> int:
    """`--check` output shared by `schemas` and `docs`: one line per stale file, what to run;
    exit status 1 when anything is stale."""
    for name in stale:
        print(f"stale: {folder / name}")
    if stale:
        print(f"run `make {target}` (any2capins {target}) and commit the result")
    return 1 if stale else 0


def run(args: argparse.Namespace) -> int:
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
