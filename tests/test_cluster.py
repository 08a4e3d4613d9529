"""Runs on a Ray cluster started apart (`ray start --head`, token auth on), with commands run
from another working folder and relative paths; placement with custom resources standing in
for GPUs; clear one-line failures; clean interrupts under Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import StartedCluster, free_port
from stage_fixtures import Squared

from any2capins.errors import ConfigError
from any2capins.io.shards import ShardStore

HERE = Path(__file__).parent
CLI = str(Path(sys.executable).with_name("any2capins"))
CLIPS = HERE.parent / "examples" / "clips"

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def apart() -> Iterator[StartedCluster]:
    """One cluster for this module: 2 CPUs and 2 'fake_gpu' (a custom resource)."""
    cluster = StartedCluster(num_cpus=2, resources='{"fake_gpu": 2}',
                             pythonpath=os.pathsep.join([str(HERE), str(HERE.parent)])).start()
    yield cluster
    cluster.stop()


def _cli(cwd: Path, env: dict[str, str], *args: str, timeout: float = 300):
    extra = [] if args[0] == "models" else ["--set", "runtime.progress=false"]
    return subprocess.run([CLI, *args, *extra], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _lines(text: str) -> list[str]:
    """Lines a user reads: Ray's own C++ warnings (gcs_client retries) are not ours."""
    return [ln for ln in text.splitlines() if ln.strip() and " gcs_client.cc:" not in ln]


@pytest.fixture(scope="module")
def work(apart: StartedCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder (not the cluster's) with 4 clips under src/ and tiny models."""
    work = tmp_path_factory.mktemp("work")
    (work / "src").mkdir()
    for name in ("vp9_bear.webm", "vp8_flower_cc0.webm", "people_selfie_1s.mp4",
                 "people_bedroom_kids_jumping.mp4"):
        shutil.copy(CLIPS / name, work / "src" / name)
    out = _cli(work, apart.env(), "models", "tiny", "models")
    assert out.returncode == 0, out.stderr
    return work


def test_attach_from_another_folder_with_relative_paths(apart: StartedCluster,
                                                        work: Path) -> None:
    """RAY_ADDRESS + the cluster's token: the run lands in the caller's folder, not in the
    cluster's; 4 workers asking 1 fake_gpu each on a 2 fake_gpu cluster run 2 at a time."""
    res = "{workers: 4, num_cpus: 0.25, resources: {fake_gpu: 1}}"
    out = _cli(work, apart.env(), "ingest", "src", "--out", "run",
               "--set", "ingest.clips_per_shard=1", "--set", f"ingest.resources={res}")
    assert out.returncode == 0, out.stderr
    store = ShardStore(str(work / "run"))
    done = store.done_records("ingest")
    assert len(done) == 4 and sum(d.ok_items for d in done) == 4
    assert len({d.worker for d in done}) <= 2  # at most 2 workers fit at once
    assert not list(apart.cwd.rglob("*.parquet")), "shards landed in the cluster's folder"
    logs = "".join(p.read_text() for p in (work / "run" / "logs").glob("*ingest.log"))
    assert "holds 2 of 4 workers" in logs
    assert "token authentication on" in logs
    # a model stage with a relative model folder, placed by a fractional custom resource
    depth = ["--set", "depth.model=models/depth", "--set", "depth.input_size=70",
             "--set", "depth.store_max_side=32", "--set", "depth.sampling.fps=2",
             "--set", "depth.resources={workers: 1, num_cpus: 1, resources: {fake_gpu: 0.5}}",
             "--set", "sheet.during_extract=false", "--set", "filter.enabled=false"]
    out = _cli(work, apart.env(), "extract", "--run", "run", "--stages", "depth", *depth)
    assert out.returncode == 0, out.stderr
    assert len(store.done_records("depth")) == 4
    settings = json.loads(store.done_records("depth")[0].settings)
    assert settings["config"]["model"] == str(work / "models" / "depth")  # made absolute


def test_cluster_without_gpus_for_a_gpu_stage_is_one_line(apart: StartedCluster,
                                                          work: Path) -> None:
    env = apart.env()
    out = _cli(work, env, "extract", "--run", "run", "--stages", "depth", "--set",
               "filter.enabled=false", "--set", "depth.device=cuda", "--set",
               "depth.model=models/depth")
    assert out.returncode == 2 and "depth.resources.num_gpus > 0" in out.stderr
    out = _cli(work, env, "extract", "--run", "run", "--stages", "depth", "--set",
               "filter.enabled=false", "--set", "depth.device=cuda", "--set",
               "depth.model=models/depth", "--set", "depth.resources.num_gpus=0.5")
    assert out.returncode == 2, out.stderr
    assert "no node of the cluster can hold one worker" in out.stderr
    assert "0.5 GPU (largest node has 0 GPU)" in out.stderr
    assert len(_lines(out.stderr)) == 1 and "Traceback" not in out.stderr


def test_unreachable_cluster_is_one_line_exit_2(apart: StartedCluster, work: Path) -> None:
    env = apart.env(RAY_ADDRESS=f"127.0.0.1:{free_port()}")
    out = _cli(work, env, "ingest", "src", "--out", "run-dead")
    assert out.returncode == 2
    assert "cannot reach the Ray cluster" in out.stderr and "Traceback" not in out.stderr
    assert len(_lines(out.stderr)) == 1


def test_missing_token_is_one_line_exit_2(apart: StartedCluster, work: Path,
                                          tmp_path: Path) -> None:
    env = apart.env(HOME=str(tmp_path))  # a HOME without the cluster's token
    out = _cli(work, env, "ingest", "src", "--out", "run-notoken",
               "--set", "runtime.connect_timeout_s=2")
    assert out.returncode == 2, out.stderr
    assert "token authentication" in out.stderr and "Traceback" not in out.stderr
    assert len(_lines(out.stderr)) == 1


def test_no_address_never_joins_a_running_cluster(apart: StartedCluster, work: Path) -> None:
    """With no address, Ray's plain init would join the cluster that `ray start` recorded in
    its temp dir; ours starts its own (which has no fake_gpu: the stage cannot be placed)."""
    assert (apart.base / "ray" / "ray_current_cluster").exists()
    env = apart.env()
    env.pop("RAY_ADDRESS")
    out = _cli(work, env, "ingest", "src", "--out", "run-own", "--set", "runtime.num_cpus=1",
               "--set", "ingest.resources={num_cpus: 0.5, resources: {fake_gpu: 1}}")
    assert out.returncode == 2, out.stderr
    assert "no node of the cluster can hold one worker" in out.stderr
    assert "1 fake_gpu (largest node has 0 fake_gpu)" in out.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_under_ray_stops_actors(apart: StartedCluster, tmp_path: Path, sig: int,
                                          code: int) -> None:
    run, setup_log = tmp_path / "run", tmp_path / "setup.log"
    cmd = [sys.executable, str(HERE / "resume_helpers.py"), str(run), "40", "2", "0.2", "ray",
           "--setup-log", str(setup_log)]
    env = apart.env(PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent)]))
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    store = ShardStore(str(run))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(store.done_records("square")) < 2:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "force=True" not in err
    assert len(_lines(err)) == 1 and "square: " in err
    records = store.done_records("square")
    assert 2 <= len(records) < 20, "the signal must land mid-run"
    for rec in records:  # nothing half-done
        assert len(store.read_shard("squares", rec.shard, Squared)) == rec.output_rows
    pids = [int(p) for p in setup_log.read_text().split()]
    assert pids
    deadline = time.time() + 60
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), "actors outlived the interrupted driver"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text(
    ).split()[2]


def test_device_check_names_the_host() -> None:
    """Where the model runs (a worker's setup), CUDA without a GPU is one ConfigError."""
    pytest.importorskip("torch")
    import socket

    import torch

    from any2capins.conditions.common import check_device, torch_dtype

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=f"depth.device=cuda .*{socket.gethostname()}"):
        check_device("cuda", "depth.device")
    assert check_device("cpu", "depth.device") == "cpu"
    assert torch_dtype("float16", "cuda", "depth.dtype") is torch.float16
    with pytest.raises(ConfigError, match="float16 is not supported on CPU"):
        torch_dtype("float16", "cpu", "depth.dtype")
