"""s3:// sources and run folders against a real S3 API on 127.0.0.1 (moto's server mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from any2capins.config import load_config
from any2capins.ingest.stage import ProbeStage, plan_ingest
from any2capins.io.shards import ShardStore
from any2capins.models import ClipRecord
from any2capins.runtime import run_stage


@pytest.mark.parametrize("pattern", ["clips", "clips/**.webm"])
def test_ingest_from_s3_into_s3_run_folder(s3, example_clips: Path, test_videos: Path,
                                           pattern: str) -> None:
    raw, runs = s3.bucket("raw"), s3.bucket("runs")
    s3.client.upload_file(str(example_clips / "vp9_bear.webm"), raw, "clips/a/bear.webm")
    s3.client.upload_file(str(test_videos / "mjpeg_dandi_stub_0.3s.avi"), raw, "clips/mjpeg.avi")
    s3.client.upload_file(str(test_videos / "corrupt_vp9_invalid_bitstream.webm"), raw,
                          "clips/corrupt.webm")
    src, run = f"s3://{raw}/{pattern}", f"s3://{runs}/r"
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false"])
    tasks = plan_ingest(src, run, cfg.ingest)
    summary = run_stage(ProbeStage(cfg.ingest), tasks, run, cfg.runtime)
    store = ShardStore(run)
    clips = store.read_all("clips", ClipRecord)
    errors = store.read_errors("ingest")
    expected_ok = {f"s3://{raw}/clips/a/bear.webm"} | (
        {f"s3://{raw}/clips/mjpeg.avi"} if "*" not in src else set())
    assert {c.uri for c in clips} == expected_ok
    assert [e.uri for e in errors] == [f"s3://{raw}/clips/corrupt.webm"]
    assert summary.items == len(clips) + len(errors)
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=runs)["Contents"]]
    assert "r/clips/shard-00000.parquet" in keys
    assert "r/_done/ingest/shard-00000.json" in keys
    again = run_stage(ProbeStage(cfg.ingest), plan_ingest(src, run, cfg.ingest), run, cfg.runtime)
    assert again.shards_skipped == len(tasks) and again.shards_run == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("side", ["out", "src"])
def test_an_unreachable_endpoint_is_one_line_exit_2_and_nothing_created(
        tmp_path: Path, example_clips: Path, monkeypatch: pytest.MonkeyPatch, capsys,
        side: str) -> None:
    """AWS_ENDPOINT_URL pointing at nothing: one line naming the endpoint and the bucket,
    exit 2, no run folder and no local log folder (an s3:// run logs below the cwd)."""
    from any2capins.cli import main

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    for k, v in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    src, out = (str(example_clips), "s3://nowhere-bucket/x") if side == "out" else \
        ("s3://nowhere-bucket/clips", str(tmp_path / "run"))
    code = main(["ingest", src, "--out", out, "--set", "runtime.executor=local"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert endpoint in err[0] and "'nowhere-bucket'" in err[0] and "cannot reach" in err[0]
    assert list(work.iterdir()) == [] and not (tmp_path / "run").exists()


def test_a_missing_bucket_is_one_line_exit_2(s3, example_clips: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from any2capins.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["ingest", str(example_clips), "--out", "s3://no-such-bucket-1f2e/x",
                 "--set", "runtime.executor=local"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert s3.endpoint in err[0] and "'no-such-bucket-1f2e'" in err[0]
    assert "does not exist" in err[0] and list(tmp_path.iterdir()) == []
