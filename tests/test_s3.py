"""s3:// sources and run folders against a real S3 API on 127.0.0.1 (moto's server mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from any2capins.config import load_config
from any2capins.ingest.stage import ProbeStage, plan_ingest
from any2capins.io.shards import ShardStore
from any2capins.models import ClipRecord
from any2capins.runtime import run_stage


@pytest.fixture(scope="module")
def s3(example_clips: Path, test_videos: Path):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    import boto3

    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    for bucket in ("raw", "runs"):
        client.create_bucket(Bucket=bucket)
    client.upload_file(str(example_clips / "vp9_bear.webm"), "raw", "clips/a/bear.webm")
    client.upload_file(str(test_videos / "mjpeg_dandi_stub_0.3s.avi"), "raw", "clips/mjpeg.avi")
    client.upload_file(str(test_videos / "corrupt_vp9_invalid_bitstream.webm"), "raw",
                       "clips/corrupt.webm")
    yield client
    mp.undo()
    server.stop()


@pytest.mark.parametrize("src", ["s3://raw/clips", "s3://raw/clips/**.webm"])
def test_ingest_from_s3_into_s3_run_folder(s3, src: str) -> None:
    run = f"s3://runs/{'glob' if '*' in src else 'folder'}"
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false"])
    tasks = plan_ingest(src, run, cfg.ingest)
    summary = run_stage(ProbeStage(cfg.ingest), tasks, run, cfg.runtime)
    store = ShardStore(run)
    clips = store.read_all("clips", ClipRecord)
    errors = store.read_errors("ingest")
    expected_ok = {"s3://raw/clips/a/bear.webm"} | (
        {"s3://raw/clips/mjpeg.avi"} if "*" not in src else set())
    assert {c.uri for c in clips} == expected_ok
    assert [e.uri for e in errors] == ["s3://raw/clips/corrupt.webm"]
    assert summary.items == len(clips) + len(errors)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="runs")["Contents"]]
    assert any(k.endswith("clips/shard-00000.parquet") for k in keys)
    assert any("_done/ingest/shard-00000.json" in k for k in keys)
    again = run_stage(ProbeStage(cfg.ingest), plan_ingest(src, run, cfg.ingest), run, cfg.runtime)
    assert again.shards_skipped == len(tasks) and again.shards_run == 0
