"""schemas/ is generated from the record models; this fails when they drift apart."""

from __future__ import annotations

from pathlib import Path

from any2capins.schemas import drift, render

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schemas_match_the_code() -> None:
    stale = drift(ROOT / "schemas")
    assert not stale, f"stale schema files {stale}: run `make schemas` and commit"


def test_drift_is_detected(tmp_path: Path) -> None:
    for name, text in render().items():
        (tmp_path / name).write_text(text)
    assert drift(tmp_path) == []
    (tmp_path / "clips.arrow.txt").write_text("changed")
    (tmp_path / "old.schema.json").write_text("{}")
    assert drift(tmp_path) == ["clips.arrow.txt", "old.schema.json"]
