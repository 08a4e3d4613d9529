"""Shared fixtures: bundled clips, a session-scoped small Ray cluster, run folders.

Stage-specific fixtures (tiny models, the local LLM server) live in their own conftest
modules or test files and are session-scoped too, so each is built once per test run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "clips"
TEST_VIDEOS = ROOT / "tests" / "data" / "videos"

# Keep Ray and torch quiet and small on 2-core machines.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def example_clips() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def test_videos() -> Path:
    return TEST_VIDEOS


@pytest.fixture(scope="session")
def clip(request: pytest.FixtureRequest) -> Path:
    return EXAMPLES / "vp9_bear.webm"


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One small embedded Ray cluster for the whole session (ray.init costs ~4 s)."""
    import ray

    temp = Path("/tmp") / f"a2c-ray-{os.getpid()}"  # short path: Ray's socket names are limited
    # Ray workers inherit the driver's environment: let them import test-only stage modules.
    tests_dir = str(Path(__file__).parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (tests_dir, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(temp),
             ignore_reinit_error=True, log_to_driver=False,
             object_store_memory=200 * 2**20)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def mixed_src(tmp_path: Path, example_clips: Path, test_videos: Path) -> Path:
    """A folder with good clips, the corrupt fixture and broken files of every kind."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    shutil.copy(example_clips / "vp9_bear.webm", src / "bear.webm")
    shutil.copy(test_videos / "mjpeg_dandi_stub_0.3s.avi", src / "sub" / "mjpeg.avi")
    shutil.copy(test_videos / "corrupt_vp9_invalid_bitstream.webm", src / "corrupt.webm")
    (src / "zero.mp4").write_bytes(b"")
    (src / "notavideo.mp4").write_bytes(b"this is a text file, not a video\n" * 20)
    data = (example_clips / "people_selfie_1s.mp4").read_bytes()
    (src / "sub" / "truncated.mp4").write_bytes(data[: len(data) // 3])
    return src


@pytest.fixture(scope="session")
def llm_server():
    """The scriptable OpenAI-compatible HTTP server on 127.0.0.1 (tests/llm_server.py)."""
    from llm_server import ScriptedLLMServer

    server = ScriptedLLMServer().start()
    yield server
    server.stop()


class S3:
    """A real S3 API on 127.0.0.1 (moto's server mode). moto keeps its state per process, so
    every test gets buckets of its own (`bucket()`), never a fixed name another test uses."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.endpoint = endpoint
        self.env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")

    def bucket(self, prefix: str = "b") -> str:
        import uuid

        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def s3(s3_server: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The session's S3 server, with the AWS environment pointing at it for this test."""
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    return s3_server
