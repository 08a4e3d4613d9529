"""A scriptable OpenAI-compatible chat-completions server on 127.0.0.1, for tests and the bench.

It answers `POST /v1/chat/completions` with a valid structured answer built from the request's
JSON schema (`response_format`, or the ```json block of the system prompt in json_text mode),
after `delay` seconds. Tests script misbehaviour per section with `queue(section, *behaviours)`:

    ok          a valid answer                     429       rate limited (retry-after: 0)
    500         internal server error              timeout   sleeps `hang_s`, then answers
    invalid     not JSON                           length    truncated, finish_reason 'length'
    refusal     message.refusal set                mismatch  valid JSON, wrong fields
    fenced      a valid answer inside ```json fences
    empty       schema-valid, every string ""      blank     schema-valid, strings are spaces

Server-wide settings, as real servers differ: `models` (what `GET /v1/models` lists; None:
404, no models endpoint), `known_models` (a completion for another model is a 404),
`api_key` (any other bearer token is a 401), `reject_json_schema` (a request with a
json_schema response_format is a 400, as servers without structured output answer).

Every completion request is recorded (`requests`: parsed body, headers, section, behaviour),
`GET`s apart (`gets`). Answered completions report usage: fixed `prompt_tokens` /
`completion_tokens`, or with `estimate_usage` an estimate from the request and the answer
(text characters / 4; per image 85 + 170 per 512-px tile, OpenAI's rule for detailed images).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SCHEMA_BLOCK = re.compile(r"```json\s*(\{.*?\})\s*```", re.DOTALL)
_FILLER_TEXT = ("the subject moves through a bright open space while light falls across the "
                "scene and the details stay clear and steady")
FILLER = _FILLER_TEXT.split(" ")


class _Server(ThreadingHTTPServer):
    # class attributes: listen() runs in the constructor, so a backlog set on the instance
    # afterwards is never used (the default, 5, refused connections under concurrent load)
    daemon_threads = True
    request_queue_size = 256


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]
    section: str | None
    behaviour: str
    time: float


def section_of(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(section name, JSON schema) the request asks for."""
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        js = rf["json_schema"]
        return js.get("name"), js.get("schema")
    system = next((m["content"] for m in body.get("messages", []) if m["role"] == "system"), "")
    m = _SCHEMA_BLOCK.search(system if isinstance(system, str) else "")
    if not m:
        return None, None
    schema = json.loads(m.group(1))
    title = schema.get("title", "").removesuffix("Section")
    return re.sub(r"(?<!^)([A-Z])", r"_\1", title).lower() or None, schema


@dataclass
class ScriptedLLMServer:
    delay: float = 0.0
    hang_s: float = 3.0
    words: int = 40
    prompt_tokens: int = 100
    completion_tokens: int = 20
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    record_bodies: bool = True
    models: list[str] | None = field(default_factory=lambda: ["gpt-4o-mini", "test-model"])
    known_models: set[str] | None = None
    api_key: str | None = None
    reject_json_schema: bool = False
    # HTTP status for any request holding an image (a text-only server): 500 with llama.cpp's
    # words (no --mmproj), 400 with vLLM's (a text-only model); None reads images
    text_only: int | None = None
    estimate_usage: bool = False
    section_words: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._script: dict[str, deque[str]] = defaultdict(deque)
        self._answers: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- control ---------------------------------------------------------------------------
    def start(self) -> ScriptedLLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body are separate writes

            def do_POST(self) -> None:
                server._handle(self)

            def do_GET(self) -> None:
                server._handle_get(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def queue(self, section: str, *behaviours: str) -> None:
        """Next requests for `section` ('*' = any section) behave as listed, then 'ok'."""
        with self._lock:
            self._script[section].extend(behaviours)

    def queue_answers(self, section: str, *answers: dict[str, Any]) -> None:
        """Next answers for `section` carry these fields (one per request), then defaults."""
        with self._lock:
            self._answers[section].extend(answers)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._answers.clear()
            self.requests.clear()
            self.overrides.clear()
            self.gets.clear()
            self.delay = 0.0
            self.models = ["gpt-4o-mini", "test-model"]
            self.known_models = self.api_key = None
            self.reject_json_schema = False
            self.text_only = None

    def count(self, section: str | None = None) -> int:
        return sum(1 for r in self.requests if section is None or r.section == section)

    # -- serving ---------------------------------------------------------------------------
    def _next(self, section: str | None) -> str:
        with self._lock:
            for key in (section or "", "*"):
                if self._script.get(key):
                    return self._script[key].popleft()
        return "ok"

    def _refused(self, h: BaseHTTPRequestHandler) -> bool:
        """Answer 401 when the server wants a key and the request has another."""
        if self.api_key is None or h.headers.get("authorization") == f"Bearer {self.api_key}":
            return False
        _send(h, 401, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
        return True

    def _handle_get(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.gets.append(h.path)
        if self._refused(h):
            return
        if not h.path.rstrip("/").endswith("/models") or self.models is None:
            _send(h, 404, {"error": {"message": f"no route {h.path}", "type": "not_found"}})
            return
        _send(h, 200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.models]})

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("content-length", 0))) or b"{}")
        section, schema = section_of(body)
        behaviour = self._next(section)
        if self.known_models is not None and body.get("model") not in self.known_models:
            behaviour = "unknown_model"
        elif self.reject_json_schema and (body.get("response_format") or {}).get(
                "type") == "json_schema":
            behaviour = "reject_schema"
        if self.text_only and _has_image(body):
            behaviour = "no_images"
        with self._lock:
            self.requests.append(Recorded(body if self.record_bodies else {}, dict(h.headers),
                                          section, behaviour, time.time()))
        if self._refused(h):
            return
        if self.delay:
            time.sleep(self.delay)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._respond(h, behaviour, section, schema, body)  # client may have given up

    def _respond(self, h: BaseHTTPRequestHandler, behaviour: str, section: str | None,
                 schema: dict[str, Any] | None, body: dict[str, Any]) -> None:
        if behaviour == "429":
            return _send(h, 429, {"error": {"message": "slow down", "type": "rate_limit"}},
                         {"retry-after": "0"})
        if behaviour == "500":
            return _send(h, 500, {"error": {"message": "boom", "type": "server_error"}})
        if behaviour == "unknown_model":
            return _send(h, 404, {"error": {"message": f"model '{body.get('model')}' not found",
                                            "type": "not_found"}})
        if behaviour == "no_images":
            words = ("image input is not supported - hint: if this is unexpected, you may need "
                     "to provide the mmproj" if self.text_only >= 500 else
                     f"{body.get('model')} is not a multimodal model")
            return _send(h, self.text_only, {"error": {"code": self.text_only, "message": words,
                                                       "type": "server_error"}})
        if behaviour == "reject_schema":
            return _send(h, 400, {"error": {"message": "response_format type json_schema is not "
                                            "supported", "type": "invalid_request_error"}})
        if behaviour == "timeout":
            time.sleep(self.hang_s)
        answer = self.answer(section, schema)
        if behaviour in ("empty", "blank"):
            answer = {k: ("" if behaviour == "empty" else "   ") if isinstance(v, str) else
                      ([] if isinstance(v, list) else v) for k, v in answer.items()}
        content: str | None = json.dumps(answer)
        finish, refusal = "stop", None
        if behaviour == "invalid":
            content = "Sure! Here is the caption: " + content[:-1]
        elif behaviour == "length":
            content, finish = content[: len(content) // 2], "length"
        elif behaviour == "refusal":
            content, refusal = None, "I can't help with that."
        elif behaviour == "mismatch":
            content = json.dumps({"text": "wrong field", "extra": 1})
        elif behaviour == "fenced":
            content = f"```json\n{content}\n```"
        return _send(h, 200, {
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "test"),
            "choices": [{"index": 0, "finish_reason": finish, "message": {
                "role": "assistant", "content": content, "refusal": refusal}}],
            "usage": self._usage(body, content)})

    def _usage(self, body: dict[str, Any], content: str | None) -> dict[str, int]:
        prompt, completion = self.prompt_tokens, self.completion_tokens
        if self.estimate_usage:
            prompt, completion = estimate_prompt_tokens(body), -(-len(content or "") // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    def answer(self, section: str | None, schema: dict[str, Any] | None) -> dict[str, Any]:
        """A valid answer for `schema`, with the section's overrides applied."""
        out: dict[str, Any] = {}
        for name, prop in ((schema or {}).get("properties") or {}).items():
            kind = prop.get("type")
            if kind == "string":
                n = self.section_words.get(section or "", self.words)
                out[name] = " ".join((FILLER * (n // len(FILLER) + 1))[:n])
            elif kind == "integer":
                out[name] = 1
            elif kind == "array":
                out[name] = ["person"]
            else:
                out[name] = None
        out.update(self.overrides.get(section or "", {}))
        with self._lock:
            queued = self._answers.get(section or "")
            if queued:
                out.update(queued.popleft())
        return out


def _has_image(body: dict[str, Any]) -> bool:
    return any(isinstance(m.get("content"), list) and
               any(p.get("type") == "image_url" for p in m["content"])
               for m in body.get("messages", []))


def _image_tokens(data_url: str) -> int:
    """OpenAI's estimate for one detailed image: 85 + 170 per 512-px tile after scaling the
    image into 2048 px and its short side to 768 px."""
    import base64
    import io

    from PIL import Image

    try:
        w, h = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).size
    except (ValueError, OSError, IndexError):
        return 85
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * (-(-int(w) // 512)) * (-(-int(h) // 512))


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Text characters / 4 plus the image estimate, over every message."""
    chars, images = 0, 0
    for msg in body.get("messages", []):
        content = msg.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for p in parts:
            if p.get("type") == "image_url":
                images += _image_tokens(p["image_url"]["url"])
            else:
                chars += len(p.get("text") or "")
    schema = (body.get("response_format") or {}).get("json_schema")
    chars += len(json.dumps(schema)) if schema else 0
    return -(-chars // 4) + images


def _send(h: BaseHTTPRequestHandler, code: int, payload: dict[str, Any],
          headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    h.send_response(code)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def main() -> None:
    """Serve standalone (the bench runs the server in its own process): prints the base URL,
    then serves until stdin closes or the process is terminated."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="scripted OpenAI-compatible server on 127.0.0.1")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--estimate-usage", action="store_true",
                    help="report usage estimated from request and answer (not fixed numbers)")
    ap.add_argument("--words", default="", metavar="SECTION=N,...",
                    help="words per answer text by section (e.g. dense=70,shortprompt=55)")
    args = ap.parse_args()
    words = {k: int(v) for k, v in (p.split("=") for p in args.words.split(",") if p)}
    server = ScriptedLLMServer(delay=args.delay, record_bodies=False,
                               estimate_usage=args.estimate_usage, section_words=words).start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()  # returns when the parent closes our stdin (or exits)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
