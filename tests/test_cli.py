"""The command line: fast help, clear errors, the ingest command end to end on Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from any2capins.cli import main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "transformers", "pycolmap", "cv2", "decord", "openai", "av")


def test_help_is_light_and_lists_commands() -> None:
    code = (
        "import sys; from any2capins.cli import build_parser; p = build_parser(); "
        f"p.format_help(); print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"heavy modules imported by the CLI: {out.stdout}"
    help_text = subprocess.run([sys.executable, "-m", "any2capins.cli", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "ingest" in help_text


def test_bad_config_key_exits_2_naming_the_key(tmp_path: Path, capsys, example_clips) -> None:
    rc = main(["ingest", str(example_clips), "--out", str(tmp_path), "--set", "ingest.nope=1"])
    assert rc == 2
    assert "ingest.nope" in capsys.readouterr().err


def test_missing_source_exits_2(tmp_path: Path, capsys) -> None:
    rc = main(["ingest", str(tmp_path / "missing"), "--out", str(tmp_path / "run")])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.ray
def test_ingest_command_on_ray_with_demo_profile(tmp_path: Path, ray_cluster, mixed_src,
                                                 capsys) -> None:
    run = tmp_path / "run"
    rc = main(["ingest", str(mixed_src), "--out", str(run), "--config",
               str(ROOT / "pipelines" / "demo.yaml"), "--set", "runtime.progress=false"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "6 items" in out and "2 ok" in out and "4 errors" in out
    record = json.loads((run / "run.json").read_text())
    assert record["command"] == "ingest"
    assert record["config"]["profile"] == "demo"
    assert record["config"]["ingest"]["clips_per_shard"] == 2
    assert sorted(p.name for p in (run / "clips").glob("*.parquet")) == [
        "shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    assert list((run / "logs").glob("*-ingest.log"))
    assert main(["status", "--run", str(run)]) == 0
    assert "ingest" in capsys.readouterr().out


def test_config_command_prints_resolved_yaml(capsys) -> None:
    assert main(["config", "--config", str(ROOT / "pipelines" / "demo.yaml")]) == 0
    assert "profile: demo" in capsys.readouterr().out


def test_each_command_logs_into_its_own_run_folder(tmp_path: Path, example_clips) -> None:
    import logging

    local = ["--set", "runtime.executor=local", "--set", "runtime.progress=false"]
    clip = str(example_clips / "vp9_bear.webm")
    assert main(["ingest", clip, "--out", str(tmp_path / "a"), *local]) == 0
    assert main(["ingest", clip, "--out", str(tmp_path / "b"), *local]) == 0
    logging.getLogger("any2capins.test").warning("after both commands")
    (log_a,) = (tmp_path / "a" / "logs").glob("*.log")
    (log_b,) = (tmp_path / "b" / "logs").glob("*.log")
    assert "ingest" in log_a.read_text() and "ingest" in log_b.read_text()
    assert "after both commands" not in log_a.read_text() + log_b.read_text()
    assert str(tmp_path / "b") not in log_a.read_text()


def test_python_warnings_go_to_the_log_not_the_console(tmp_path: Path, capsys) -> None:
    import logging
    import os
    import warnings

    from any2capins.runlog import QUIET_ENV, quiet_console

    before = {k: os.environ.get(k) for k in QUIET_ENV}
    log_file = logging.FileHandler(tmp_path / "cmd.log")  # what RunContext adds
    logging.getLogger().addHandler(log_file)
    try:
        with quiet_console(verbose=False):
            warnings.warn("a library's chatter", UserWarning, stacklevel=1)
            assert all(os.environ.get(k) for k in QUIET_ENV)  # libraries' own bars are off
    finally:
        logging.getLogger().removeHandler(log_file)
        log_file.close()
    assert "a library's chatter" in (tmp_path / "cmd.log").read_text()
    assert "chatter" not in capsys.readouterr().err
    assert {k: os.environ.get(k) for k in QUIET_ENV} == before  # put back afterwards


def test_library_chatter_goes_to_the_log_file_not_the_console(tmp_path: Path,
                                                              example_clips) -> None:
    """A command on its own embedded Ray cluster (a real console process): the console gets
    our summary lines only; Ray's notices and its workers' output are in the command's log
    file. With --verbose the log is on stderr too."""
    import os
    import shutil

    temp = Path("/tmp") / f"a2c-cli-{os.getpid()}"  # short: Ray's socket paths are limited
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    clip = str(example_clips / "vp9_bear.webm")

    def ingest(run: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "any2capins.cli", "ingest", clip, "--out", str(run),
             "--set", "runtime.executor=ray", "--set", "runtime.num_cpus=1",
             "--set", f"runtime.temp_dir={temp}", "--set", "ingest.resources.workers=1",
             *extra], check=False, capture_output=True, text=True, env=env, timeout=300)

    try:
        quiet = ingest(tmp_path / "quiet")
        loud = ingest(tmp_path / "loud", "--verbose")
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert quiet.stderr == "", quiet.stderr
    assert quiet.stdout.splitlines()[0].startswith("ingest ")
    (log,) = (tmp_path / "quiet" / "logs").glob("*.log")
    text = log.read_text()
    assert " ray." in text  # Ray's own records (its start, its token notice) are logged
    assert "INFO:ray." in loud.stderr and "INFO:any2capins" in loud.stderr

