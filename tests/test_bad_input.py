"""Bad input at the command line: one line saying what to fix, exit 2, no traceback, and
nothing created (issue 15). Each case runs the real CLI: `main()` in-process where that is
enough, a subprocess where the process boundary matters (tracebacks, broken pipes, hangs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from review_helpers import make_caption, write_merged
from run_builders import ClipSpec, _done, clip_record

from any2capins.cli import main
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord

CLI = [sys.executable, "-m", "any2capins.cli"]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _one_line_exit_2(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _clips_only_run(run: Path) -> None:
    store = ShardStore(str(run))
    store.write_shard(output_dir="clips", model=ClipRecord, index=0,
                      rows=[clip_record(ClipSpec("c0ffee0000000001"))], errors=[],
                      done=_done("ingest", 0, 1))


def test_set_value_that_is_not_yaml(tmp_path: Path) -> None:
    out = subprocess.run([*CLI, "config", "--set", "runtime.num_cpus=[2"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    _one_line_exit_2(out.returncode, out.stderr, "runtime.num_cpus=[2", "not valid YAML")
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("action", [["stats"], ["claim", "--annotator", "ann"], ["audit"],
                                    ["export"], ["auto-accept", "--annotator", "bot"],
                                    ["release", "--annotator", "ann", "--item", "1"],
                                    ["enqueue"]])
def test_review_on_a_missing_run_creates_nothing(tmp_path: Path, capsys, monkeypatch,
                                                 action: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["review", action[0], "--run", "DOES_NOT_EXIST", *action[1:]])
    _one_line_exit_2(rc, capsys.readouterr().err, "DOES_NOT_EXIST")
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("action", [["stats"], ["audit"], ["export"],
                                    ["claim", "--annotator", "ann"]])
def test_review_on_a_run_without_queue_says_enqueue(tmp_path: Path, capsys,
                                                     action: list[str]) -> None:
    run = tmp_path / "run"
    write_merged(run, {0: [make_caption("c1")]})
    before = _tree(run)
    rc = main(["review", action[0], "--run", str(run), *action[1:]])
    _one_line_exit_2(rc, capsys.readouterr().err, "review enqueue")
    assert _tree(run) == before  # no review/queue.sqlite


def test_review_interactive_on_a_missing_run(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["review", "--run", "nope", "--annotator", "ann"])
    _one_line_exit_2(rc, capsys.readouterr().err, "no such run folder")
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("command", [
    ["shortprompts", "--set", "shortprompts.backend=rules"],
    ["export"],
    ["captions", "--backend", "rules"],
    ["extract", "--stages", "depth"],
    ["camera-txt"],
    ["sheet", "--all"],
    ["status"],
])
@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_stage_commands_on_a_folder_that_is_not_a_run(tmp_path: Path, capsys, command: list[str],
                                                      folder: str) -> None:
    run = tmp_path / folder
    if folder == "empty":
        run.mkdir()
    rc = main([command[0], "--run", str(run), *command[1:]])
    if folder == "empty" and command[0] == "status":
        # an empty folder is a valid answer for status (nothing done yet), not bad input
        assert rc == 0 and "no completed shards yet" in capsys.readouterr().out
    else:
        _one_line_exit_2(rc, capsys.readouterr().err, str(run))
    assert _tree(tmp_path) == ([] if folder == "missing" else ["empty"])  # no run.json, logs


def test_sheet_all_on_a_run_without_conditions(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    _clips_only_run(run)
    before = _tree(run)
    rc = main(["sheet", "--all", "--run", str(run)])
    _one_line_exit_2(rc, capsys.readouterr().err, "no condition shards", "extract")
    assert _tree(run) == before


def test_missing_local_model_folder_is_named(tmp_path: Path) -> None:
    """The hub client would say "Repo id must use alphanumeric chars"; we say which setting
    names which missing folder, before run.json or logs exist. (A subprocess: extract imports
    the stage modules, and the test wants the process's own stderr and exit code.)"""
    run = tmp_path / "run"
    _clips_only_run(run)
    before = _tree(run)
    out = subprocess.run([*CLI, "extract", "--run", str(run), "--stages", "depth",
                          "--set", "depth.model=./x", "--set", "runtime.executor=local"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    _one_line_exit_2(out.returncode, out.stderr, "depth.model: folder ./x does not exist")
    assert _tree(run) == before


def test_check_model_path_rules(tmp_path: Path) -> None:
    from any2capins.conditions.common import check_model_path, load_pretrained
    from any2capins.errors import ConfigError

    class NeverCalled:
        @staticmethod
        def from_pretrained(*_a, **_k):
            raise AssertionError("the loader must not be reached for a missing folder")

    for path in ("./x", "/abs/missing", "~/missing-model", "a/b/c"):
        with pytest.raises(ConfigError, match=r"depth\.model: folder .* does not exist"):
            load_pretrained(NeverCalled, path, "depth.model")
    for ok in ("org/name", "https://host/a/b.pth", str(tmp_path)):
        check_model_path(ok, "depth.model")  # hub ids, URLs, existing folders pass


def test_broken_pipe_ends_quietly(tmp_path: Path) -> None:
    """`any2capins review stats | head -1`: the reader is gone before we write."""
    run = tmp_path / "run"
    write_merged(run, {0: [make_caption(f"c{i}") for i in range(3)]})
    assert main(["review", "enqueue", "--run", str(run)]) == 0
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run([*CLI, "review", "stats", "--run", str(run)], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(write_end)
    assert out.stderr == "", out.stderr
    assert out.returncode == 141


def test_symlink_loops_are_walked_once(tmp_path: Path, example_clips: Path) -> None:
    """Two loops, a self link, a second link to a folder, a link to a file and a dangling link:
    the walk ends, and each file is listed once under its real path."""
    from any2capins.ingest.sources import discover

    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    clip = sorted(example_clips.glob("*.mp4"))[0]
    (src / "a" / "b" / "x.mp4").write_bytes(clip.read_bytes())
    (src / "a" / "y.mp4").write_bytes(clip.read_bytes()[: 1 << 16])
    (src / "a" / "b" / "up").symlink_to("..")  # loop 1
    (src / "a" / "b" / "top").symlink_to("../..")  # loop 2
    (src / "self").symlink_to(".")  # the self link (41 copies before)
    (src / "again").symlink_to("a")  # a second way into a/
    (src / "alias.mp4").symlink_to("a/b/x.mp4")
    (src / "dangling.mp4").symlink_to("nowhere.mp4")
    listing = discover(str(src), [".mp4"])
    assert listing.uris == [str(src / "a" / "b" / "x.mp4"), str(src / "a" / "y.mp4")]
    globbed = discover(str(src) + "/**/*.mp4", [".mp4"])
    assert globbed.uris == listing.uris


def test_linked_folder_outside_src_is_followed(tmp_path: Path, example_clips: Path) -> None:
    from any2capins.ingest.sources import discover

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clip = sorted(example_clips.glob("*.mp4"))[0]
    (outside / "z.mp4").write_bytes(clip.read_bytes())
    src = tmp_path / "src"
    src.mkdir()
    (src / "linked").symlink_to(outside)
    assert discover(str(src), [".mp4"]).uris == [str(src / "linked" / "z.mp4")]


def test_ingest_of_a_folder_with_loops_ends_with_each_clip_once(tmp_path: Path,
                                                                example_clips: Path) -> None:
    """Through the CLI, in a subprocess with a timeout: before the fix this hung."""
    import pyarrow.parquet as pq

    src = tmp_path / "src"
    src.mkdir()
    clip = sorted(example_clips.glob("*.mp4"))[0]
    (src / clip.name).symlink_to(clip)
    (src / "loop").symlink_to(".")
    (src / "loop2").symlink_to(src)
    run = tmp_path / "run"
    out = subprocess.run([*CLI, "ingest", str(src), "--out", str(run), "--set",
                          "runtime.executor=local", "--set", "runtime.progress=false"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    table = pq.read_table(run / "clips" / "shard-00000.parquet")
    assert table.column("uri").to_pylist() == [str(src / clip.name)]


@pytest.mark.parametrize("src", ["missing", "bad.csv", "bad.parquet", "nouri.csv", "empty"])
def test_ingest_of_a_bad_source_creates_no_run_folder(tmp_path: Path, capsys, src: str) -> None:
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\x00not utf-8")
    (tmp_path / "bad.parquet").write_text("not parquet")
    (tmp_path / "nouri.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty").mkdir()
    rc = main(["ingest", str(tmp_path / src), "--out", str(tmp_path / "run")])
    _one_line_exit_2(rc, capsys.readouterr().err, src)
    assert not (tmp_path / "run").exists()


def test_a_file_given_as_the_run_folder(tmp_path: Path, capsys, example_clips: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc = main(["ingest", str(example_clips), "--out", str(afile)])
    _one_line_exit_2(rc, capsys.readouterr().err, "is a file")
    rc = main(["status", "--run", str(afile)])
    _one_line_exit_2(rc, capsys.readouterr().err, "is a file")
    assert afile.read_text() == "x"


def test_models_tiny_into_an_impossible_folder(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc = main(["models", "tiny", str(afile / "models")])
    _one_line_exit_2(rc, capsys.readouterr().err, "cannot write")
