"""Docs that stay true: the generated pages match the code, links resolve, and the commands,
make targets and config keys the docs name exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from any2capins import docsgen
from any2capins.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HAND_WRITTEN = sorted([ROOT / "README.md", *(p for p in DOCS.glob("*.md")
                                            if p.name not in docsgen.render())])


def test_committed_generated_docs_match_the_code() -> None:
    stale = docsgen.drift(DOCS)
    assert not stale, (f"stale generated docs: {stale}; run `make docs` (any2capins docs) "
                       "and commit the result")


def test_docs_command_writes_and_checks(tmp_path: Path, capsys) -> None:
    assert main(["docs", "--check", "--out", str(tmp_path)]) == 1  # nothing there yet
    assert main(["docs", "--out", str(tmp_path)]) == 0
    assert main(["docs", "--check", "--out", str(tmp_path)]) == 0
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text() + "hand edit\n")
    assert main(["docs", "--check", "--out", str(tmp_path)]) == 1
    assert "make docs" in capsys.readouterr().out


def test_every_config_key_has_a_description() -> None:
    missing = [k.path for k in docsgen.config_keys() if not docsgen.description(k)]
    assert not missing, f"config keys without a Field description: {missing}"


def test_configuration_reference_lists_every_key_with_its_real_default() -> None:
    text = docsgen.render_configuration()
    for key in docsgen.config_keys():
        if "." in key.path or key.default is not docsgen._SECTION:  # sections are headings
            assert f"| `{key.path}` |" in text, key.path
    # a section's own default (ingest runs 2 workers, the generic default is 1) is shown
    row = next(line for line in text.splitlines()
               if line.startswith("| `ingest.resources.workers`"))
    assert "| `2` |" in row


def test_schema_tables_cover_every_table_and_nested_field() -> None:
    from any2capins.models.tables import TABLES

    text = docsgen.render_schemas()
    for table in TABLES:
        assert f"## `{table}`" in text
    assert "| `tracks[].keypoints` |" in text  # list of structs expanded
    assert "| `clip_id` | string |" in text


def _record(name: str, **extra: object) -> dict:
    base = {"bench": name, "command": f".venv/bin/python bench/{name}.py",
            "date": "2026-01-02 03:04 UTC", "commit": "abc1234",
            "machine": {"cpus": 2, "memory_gb": 7.6, "python": "3.11.7", "load_avg": [1.5, 2, 3]},
            "notes": "what was measured", "figures": {"ratio": 1.23456, "items_per_s": 880},
            "table": [["measure", "result"], ["depth", "1.12"]]}
    return {**base, **extra}


def test_benchmarks_page_shows_figures_with_date_commit_and_load(tmp_path: Path) -> None:
    (tmp_path / "zeta.json").write_text(json.dumps(_record("zeta")))
    (tmp_path / "alpha.json").write_text(json.dumps(_record("alpha", commit="fff0000+dirty")))
    text = docsgen.render_benchmarks(tmp_path)
    assert text.index("## alpha") < text.index("## zeta")  # sorted, not by file time
    assert "2026-01-02 03:04 UTC" in text
    assert "`abc1234`" in text
    assert "`fff0000+dirty`" in text
    assert "1.5, 2, 3" in text
    assert "| `ratio` | 1.235 |" in text
    assert "| depth | 1.12 |" in text


def test_benchmarks_page_without_results_says_so(tmp_path: Path) -> None:
    assert "No results recorded yet" in docsgen.render_benchmarks(tmp_path)


def test_bench_results_round_trip(tmp_path: Path, monkeypatch) -> None:
    """What a benchmark writes through bench/results.py is what the page shows."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_results", ROOT / "bench" / "results.py")
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    folder = tmp_path / "bench" / "results"
    monkeypatch.setattr(results, "RESULTS_DIR", folder)
    path = results.write_results("demo", {"speedup": 2.0}, table=[["a", "b"], [1, 2]],
                                 notes="how it was measured")
    record = json.loads(path.read_text())
    assert record["machine"]["load_avg"] and record["date"] and record["commit"]
    text = docsgen.render_benchmarks(folder)
    assert "## demo" in text
    assert "how it was measured" in text
    assert "| `speedup` | 2 |" in text
    assert "| 1 | 2 |" in text


# --- hand-written docs: links, commands, make targets, config keys ---------------------------


def test_readme_is_a_short_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("doc", HAND_WRITTEN, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (doc.parent / target).exists():
            broken.append(target)
    assert not broken, f"{doc.name}: links to missing files: {broken}"


def _commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


@pytest.mark.parametrize("doc", HAND_WRITTEN, ids=lambda p: p.name)
def test_named_commands_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    # in code: `any2capins X`, a command line starting with it, or .venv/bin/any2capins X
    named = set(re.findall(r"(?:`|^|\$ |bin/)any2capins ([a-z][a-z0-9-]*)", text,
                           flags=re.MULTILINE))
    unknown = sorted(named - _commands())
    assert not unknown, f"{doc.name} names commands the CLI does not have: {unknown}"


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.MULTILINE))
    if re.search(r"^bench-%:", text, flags=re.MULTILINE):  # one pattern rule per bench script
        targets |= {f"bench-{p.stem}" for p in (ROOT / "bench").glob("*.py")}
    return targets


@pytest.mark.parametrize("doc", HAND_WRITTEN, ids=lambda p: p.name)
def test_named_make_targets_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    named = set(re.findall(r"`make ([a-z][\w-]*)", text)) | set(
        re.findall(r"^make ([a-z][\w-]*)", text, flags=re.MULTILINE))
    unknown = sorted(named - _make_targets())
    assert not unknown, f"{doc.name} names make targets the Makefile does not have: {unknown}"


def _function_names() -> set[str]:
    """Names of functions in any2capins/ (`export.parse_header` is code, not a setting)."""
    return {name for path in (ROOT / "any2capins").rglob("*.py")
            for name in re.findall(r"^\s*def (\w+)", path.read_text(encoding="utf-8"),
                                   flags=re.MULTILINE)}


def _config_paths() -> set[str]:
    return {k.path for k in docsgen.config_keys()}


@pytest.mark.parametrize("doc", HAND_WRITTEN, ids=lambda p: p.name)
def test_named_config_keys_exist(doc: Path) -> None:
    """`section.key` in backticks (or in --set) must be a real key: docs that name a removed
    or renamed setting fail here."""
    from any2capins.config import PipelineConfig

    sections = "|".join(PipelineConfig.model_fields)
    text = doc.read_text(encoding="utf-8")
    pattern = rf"(?:`|--set '?)((?:{sections})\.[a-z_][\w.]*)(?![\w(])"
    paths = _config_paths()
    files = (".yaml", ".md", ".py", ".json", ".txt", ".png", ".csv", ".parquet")
    unknown = sorted({m.rstrip(".") for m in re.findall(pattern, text)
                      if m.rstrip(".") not in paths and not m.endswith(files)
                      and m.rstrip(".").rsplit(".", 1)[-1] not in _function_names()})
    assert not unknown, f"{doc.name} names config keys that do not exist: {unknown}"
