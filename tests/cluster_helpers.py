"""A Ray cluster started apart, as a user starts one: `ray start --head --block` in its own
temp dir, on 127.0.0.1 and free ports, with token authentication on (Ray 2.60 turns it on when
a token exists; the token lives in a HOME of its own). Used by tests/test_cluster.py and
bench/cluster.py. Stopped by terminating the one `ray start --block` process it started."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartedCluster:
    """One head node with `num_cpus` CPUs and custom resources (e.g. {"fake_gpu": 2})."""

    def __init__(self, num_cpus: int = 2, resources: str = '{"fake_gpu": 2}',
                 pythonpath: str = "") -> None:
        # short paths: Ray's socket names are limited to ~100 characters
        self.base = Path(tempfile.mkdtemp(prefix="a2c-rs-", dir="/tmp"))
        self.home = self.base / "home"
        (self.home / ".ray").mkdir(parents=True)
        (self.home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
        self.cwd = self.base / "cwd"  # where the cluster's processes start
        self.cwd.mkdir()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.num_cpus, self.resources, self.pythonpath = num_cpus, resources, pythonpath
        self.proc: subprocess.Popen | None = None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a driver meant to attach: the cluster's address and token."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update({"HOME": str(self.home), "RAY_ADDRESS": self.address,
                    "RAY_TMPDIR": str(self.base), "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
                    "RAY_DEDUP_LOGS": "0", **extra})
        return env

    def start(self, timeout: float = 120) -> StartedCluster:
        ports = {f"--{name}": str(free_port()) for name in (
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port")}
        cmd = [RAY, "start", "--head", "--block", f"--port={self.port}",
               "--node-ip-address=127.0.0.1", f"--temp-dir={self.base / 'ray'}",
               f"--num-cpus={self.num_cpus}", f"--resources={self.resources}",
               "--include-dashboard=false", "--disable-usage-stats",
               *(f"{k}={v}" for k, v in ports.items())]
        env = self.env(PYTHONPATH=self.pythonpath)
        env.pop("RAY_ADDRESS")
        self.log = (self.base / "ray-start.log").open("w")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                text = (self.base / "ray-start.log").read_text()
                self.stop()
                raise RuntimeError(f"ray start exited: {text[-2000:]}")
            if "Ray runtime started" in (self.base / "ray-start.log").read_text():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("ray start did not come up in time")

    def stop(self) -> None:
        """Terminate the `ray start --block` process we started (it stops its own children),
        then, if needed, its process group (a session of its own: nobody else's)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        time.sleep(0.5)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of that session only
        shutil.rmtree(self.base, ignore_errors=True)
