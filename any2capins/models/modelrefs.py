"""Model references shared by every stage that loads a model: the marker that says a folder
holds a tiny random test model (written by `any2capins models tiny`), so every output made
with one is flagged `tiny_model`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_MARKER = "any2capins_tiny.json"


def is_tiny(model: str | None) -> bool:
    """True when `model` is a folder written by `any2capins models tiny` (random weights)."""
    return bool(model) and (Path(str(model)) / TINY_MARKER).is_file()


def mark_tiny(folder: str | Path, info: dict[str, Any]) -> None:
    """Mark `folder` as a tiny random model (`info`: what it is, for people)."""
    (Path(folder) / TINY_MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
