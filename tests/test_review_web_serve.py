"""`any2capins review serve` as annotators' leads start it: the real command in its own
process, with the pipeline's heavy packages blocked (the core install: no torch, Ray, model
code or PyAV). It binds 127.0.0.1, prints the URL, serves the queue, says why there is no
preview, keeps tokens out of its output, and stops on Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

from review_web_helpers import SELFIE, Client, build_web_run, probe_record

from any2capins.cli import main

HEAVY = ("torch", "ray", "transformers", "pycolmap", "cv2", "decord", "openai", "av")
SERVE = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {heavy!r}:
            raise ImportError('blocked heavy module ' + name)
sys.meta_path.insert(0, Block())
from any2capins.cli import main
sys.exit(main(['review', 'serve', '--run', {run!r}, '--port', '{port}']))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path, text: str, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        if proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}): {content}")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_serve_command_on_the_core_install(tmp_path, capsys):
    clip = probe_record(SELFIE, "selfie0000000001")
    web = build_web_run(tmp_path / "run", [clip])
    assert main(["review", "users", "add", "lena", "--run", str(web.run), "--role", "lead",
                 "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    port = _free_port()
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    code = SERVE.format(heavy=HEAVY, run=str(web.run), port=port)
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=stdout, stderr=stderr)
    try:
        printed = _wait_for(out, "review server for", proc)
        assert f"http://127.0.0.1:{port}/" in printed and "1 items to review" in printed
        _wait_for(err, "Uvicorn running on", proc)
        c = Client(port)
        assert c.login(token).status == 200
        item = c.request("GET", "/api/next").json()
        overlays = c.request("GET", item["overlays"]).json()
        assert overlays["pose"]["tracks"]  # conditions need no heavy package
        assert "previews need PyAV" in overlays["preview_error"]
        video = c.request("GET", item["media"])
        assert video.status == 404 and "previews need PyAV" in video.json()["message"]
        assert c.request("GET", "/dashboard", headers={"Accept": "text/html"}).status == 200
        sid = c.cookie
        c.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    logs = out.read_text() + err.read_text()
    assert proc.returncode in (0, 130)
    assert "GET /api/next" in logs and "login: lena (lead)" in logs
    assert token not in logs and sid not in logs
    assert "Traceback" not in logs
