"""A fake Hugging Face Hub on 127.0.0.1: the part of the hub API that huggingface_hub's
`model_info`, `snapshot_download` and `hf_hub_download` use, serving repositories made of
local files. Point the client at it with HF_ENDPOINT=server.url.

    GET  /api/models/{org}/{name}[/revision/{rev}]   repo info: sha, siblings
    GET  /api/models/{org}/{name}/tree/{rev}[/path]  file listing (one page)
    HEAD /{org}/{name}/resolve/{rev}/{file}          X-Repo-Commit, ETag, Content-Length
    GET  /{org}/{name}/resolve/{rev}/{file}          the file's bytes

Unknown repositories answer 401 with X-Error-Code: RepoNotFound (as the hub does for
anonymous requests), unknown files 404 EntryNotFound. Every request is logged in `requests`
as (method, path), so tests can count downloads.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> None:
        self.repos[repo_id] = dict(files)

    def add_folder(self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None) -> None:
        """A repository holding every file of `folder` (flat), plus `extra` files."""
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        self.add_repo(repo_id, {**files, **(extra or {})})

    def sha(self, repo_id: str) -> str:
        return hashlib.sha1(repo_id.encode()).hexdigest()  # an id, not security

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def downloads(self) -> list[str]:
        """Paths of the file contents served (GET .../resolve/...)."""
        return [p for m, p in self.requests if m == "GET" and "/resolve/" in p]

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.requests.append(("HEAD", self.path))
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path))
                hub._answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- routing --------------------------------------------------------------------------

    def _answer(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = "/".join(parts[2:4])
            rest = parts[4:]
            if repo not in self.repos:
                return self._send(h, 401, b'{"error": "Repository not found"}',
                                  {"X-Error-Code": "RepoNotFound"}, body)
            if not rest or rest[0] == "revision":
                return self._json(h, self._info(repo), body)
            if rest[0] == "tree":
                prefix = "/".join(rest[2:])
                return self._json(h, self._tree(repo, prefix), body)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, name = "/".join(parts[:2]), "/".join(parts[4:])
            if repo not in self.repos:
                return self._send(h, 401, b"", {"X-Error-Code": "RepoNotFound"}, body)
            data = self.repos[repo].get(name)
            headers = {"X-Repo-Commit": self.sha(repo)}
            if data is None:
                return self._send(h, 404, b"", {**headers, "X-Error-Code": "EntryNotFound"},
                                  body)
            etag = hashlib.sha256(data).hexdigest()
            return self._send(h, 200, data, {**headers, "ETag": f'"{etag}"',
                                             "Content-Type": "application/octet-stream"}, body)
        return self._send(h, 404, b"", {}, body)

    def _info(self, repo: str) -> dict:
        return {"id": repo, "modelId": repo, "sha": self.sha(repo), "private": False,
                "siblings": [{"rfilename": n} for n in sorted(self.repos[repo])]}

    def _tree(self, repo: str, prefix: str) -> list[dict]:
        return [{"type": "file", "path": n, "size": len(d),
                 "oid": hashlib.sha1(d).hexdigest()}  # git's blob id style
                for n, d in sorted(self.repos[repo].items())
                if not prefix or n.startswith(prefix + "/")]

    def _json(self, h: BaseHTTPRequestHandler, payload: object, body: bool) -> None:
        self._send(h, 200, json.dumps(payload).encode(), {"Content-Type": "application/json"},
                   body)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str],
              body: bool) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if body:
            h.wfile.write(data)


class SilentPort:
    """A TCP port that accepts connections and never answers (a firewall that drops the
    request): counts the connections it accepted."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted: list[object] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop = True
        for conn in self.accepted:
            conn.close()  # type: ignore[attr-defined]
        self.sock.close()


def closed_port() -> str:
    """http://127.0.0.1:PORT where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
