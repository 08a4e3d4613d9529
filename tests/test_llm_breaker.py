"""The LLM circuit breaker: a server that dies mid-run stops the run quickly, leaves retriable
error rows, makes the command exit 1 with one line, and a rerun with the server back finishes
the job; answers that are problems (4xx, invalid JSON, 429) never open it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import test_captions
from llm_server import ScriptedLLMServer
from pydantic import BaseModel
from run_builders import ClipSpec, build_run
from test_captions import CLIPS, SECRET, errors, merged, rows
from test_captions_llm import dead_url

from any2capins.cli import main
from any2capins.config.captions import LLMConfig
from any2capins.io.shards import ShardStore
from any2capins.llm.breaker import UNAVAILABLE, CircuitBreaker
from any2capins.llm.client import LLMSession, call_structured, make_client
from any2capins.models.instances import ShortPromptRecord

template_run = test_captions.template_run
run_dir = test_captions.run_dir
KEY = "sk-breaker-test-key"


@dataclass
class DyingServer(ScriptedLLMServer):
    """The scripted server, which can die: once `die_after` completions were answered, every
    request is dropped without an answer (the client sees the connection close, as when the
    process is killed); `drops` > 0 drops only that many, then it answers again (a blip)."""

    die_after: int | None = None
    drops: int | None = None  # None: dead for good
    dropped: int = 0

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            dying = self.die_after is not None and len(self.requests) >= self.die_after \
                and (self.drops is None or self.drops > 0)
            if dying:
                self.dropped += 1
                if self.drops is not None:
                    self.drops -= 1
        if not dying:
            super()._handle(h)
            return
        h.rfile.read(int(h.headers.get("content-length", 0)))
        h.close_connection = True  # no answer, connection closed

    def revive(self) -> None:
        self.die_after = self.drops = None


@pytest.fixture
def dying(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("A2C_TEST_KEY", SECRET)
    monkeypatch.setenv("A2C_BRK_KEY", KEY)
    server = DyingServer().start()
    yield server
    server.stop()


def captions(run: Path, url: str, *extra: str) -> int:
    args = ["captions", "--run", str(run)]
    for item in ("runtime.executor=local", "runtime.progress=false",
                 "runtime.max_item_retries=1", f"captions.llm.base_url={url}",
                 "captions.llm.api_key_env=A2C_TEST_KEY", "captions.llm.timeout_s=10",
                 "captions.llm.backoff_s=0.01", "captions.images.max_side=96",
                 "captions.llm.max_retries=2", "captions.llm.breaker_probe_s=0.05",
                 "captions.resources.batch_size=1",
                 "captions.llm.preflight_images=false",  # request counts below are exact
                 *extra):
        args += ["--set", item]
    return main(args)


# -- captions: the server dies mid-run --------------------------------------------------------

def test_server_dying_mid_run_stops_fast_exits_1_and_a_rerun_finishes(
        run_dir: Path, dying: DyingServer, capsys) -> None:
    dying.die_after = 4  # 4 sections answered (the preflight is a GET), then it is gone
    t0 = time.perf_counter()
    code = captions(run_dir, dying.url, "captions.llm.max_concurrency=1",
                    "captions.llm.breaker_after=2")
    seconds = time.perf_counter() - t0
    out, err = capsys.readouterr()
    # (3) exit 1, one line on stderr naming URL, model and cause, no traceback
    assert code == 1, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("any2capins captions: failed: LLM server ")
    assert dying.url in lines[0] and "gpt-4o-mini" in lines[0]
    assert "ConnectionError" in lines[0] and "rerun the same command when it is back" in lines[0]
    assert f"; {len(CLIPS)} clips left retriable;" in lines[0]
    # (1) bounded: 2 calls x 3 attempts, 1 probe; the runner's item retry sends nothing
    sections_left = 6 * len(CLIPS) - 4
    assert dying.dropped == 2 * 3 + 1 < sections_left * 3, dying.dropped
    assert seconds < 30
    # (2) retriable error rows, nothing ok falsely
    errs = errors(run_dir)
    assert len(errs) == len(CLIPS) and rows(run_dir) == []
    assert all(e.retriable and e.error_class == UNAVAILABLE for e in errs)
    assert merged(run_dir) == []
    record = json.loads((run_dir / "run.json").read_text())
    stop = next(s for s in record["summaries"] if s["stage"] == "captions-llm-unavailable")
    assert stop["left_retriable"] == len(CLIPS) and stop["url"] == dying.url
    # (4) the server is back: a plain rerun finishes every clip, no duplicates, no errors
    dying.revive()
    dying.requests.clear()
    assert captions(run_dir, dying.url) == 0
    assert errors(run_dir) == []
    done = rows(run_dir)
    assert sorted(r.clip_id for r in done) == sorted({r.clip_id for r in done})
    assert len(done) == len(merged(run_dir)) == len(CLIPS)
    assert all(m.missing == [] for m in merged(run_dir))
    assert dying.count() == 6 * len(CLIPS) - 4  # the 4 good sections came from the cache


def test_a_blip_is_survived_by_the_probe(run_dir: Path, dying: DyingServer, capsys) -> None:
    """The server drops 3 requests (one call's attempts), then answers: the breaker opens,
    its probe gets an answer, the calls go on and the command succeeds."""
    dying.die_after, dying.drops = 2, 3
    code = captions(run_dir, dying.url, "captions.llm.max_concurrency=1",
                    "captions.llm.breaker_after=1", "captions.sections=[style,camera]")
    assert code == 0, capsys.readouterr()
    assert errors(run_dir) == [] and len(rows(run_dir)) == len(CLIPS)
    retried = [s.retries for r in rows(run_dir) for s in r.sections if s.retries]
    assert retried == [["ConnectionError", "ConnectionError", "breaker_probe"]]
    # every request that reached the server is counted: the 3 dropped ones and the probe
    sent = json.loads((run_dir / "captions" / "usage.json").read_text())["this_run"]["calls"]
    assert sent == dying.count() + dying.dropped == 2 * len(CLIPS) + 4


def test_closed_port_after_preflight_fails_fast(run_dir: Path, capsys, monkeypatch) -> None:
    """Connection refused (nothing listens): the first calls fail, then nothing is sent."""
    monkeypatch.setenv("A2C_TEST_KEY", SECRET)
    code = captions(run_dir, dead_url(), "captions.llm.preflight=false",
                    "captions.llm.breaker_probe_s=0")
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "Connection error" in err
    errs = errors(run_dir)
    assert len(errs) == len(CLIPS) and all(e.retriable for e in errs)
    usage = json.loads((run_dir / "captions" / "usage.json").read_text())
    # default concurrency 16: the 6 sections of the first clip are in flight at once and
    # each ends after its 3 attempts; the second clip sends nothing
    assert usage["this_run"]["calls"] <= 6 * 3


# -- short prompts: many instances, the server dies ------------------------------------------

SPECS = [[ClipSpec(f"{i:016x}") for i in range(6)]]  # 6 clips x 8 condition sets


def shortprompts(run: Path, url: str, *extra: str) -> int:
    args = ["shortprompts", "--run", str(run)]
    for item in ("runtime.executor=local", "runtime.progress=false",
                 "runtime.max_item_retries=1", "shortprompts.backend=openai",
                 f"shortprompts.llm.base_url={url}", "shortprompts.llm.api_key_env=A2C_BRK_KEY",
                 "shortprompts.llm.backoff_s=0.01", "shortprompts.llm.max_retries=2",
                 "shortprompts.llm.max_concurrency=4", "shortprompts.llm.breaker_probe_s=0",
                 *extra):
        args += ["--set", item]
    return main(args)


def test_shortprompts_stop_fast_and_resume(tmp_path: Path, dying: DyingServer, capsys) -> None:
    build_run(str(tmp_path), SPECS)
    dying.die_after = 10
    assert shortprompts(tmp_path, dying.url) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stopped answering" in err[0] and "prompts left retriable" in err[0]
    store = ShardStore(str(tmp_path))
    written = store.read_all("shortprompts", ShortPromptRecord)
    errs = store.read_errors("shortprompts")
    assert len(written) + len(errs) == 48 and len(written) >= 10 - 4
    assert all(e.retriable for e in errs) and any(e.error_class == UNAVAILABLE for e in errs)
    # bounded by the calls started before the breaker opened: the 4 in flight plus the 2
    # that failed before them, 3 attempts each; never 3 attempts per instance
    assert dying.dropped <= (4 + 3 - 1) * 3 < 3 * len(errs)
    dying.revive()
    assert shortprompts(tmp_path, dying.url) == 0
    final = store.read_all("shortprompts", ShortPromptRecord)
    assert store.read_errors("shortprompts") == []
    assert len(final) == len({r.instance_id for r in final}) == 48


def test_without_the_breaker_every_instance_pays_its_retries(tmp_path: Path,
                                                              dying: DyingServer) -> None:
    """The contrast: a threshold out of reach makes every instance run its 3 attempts."""
    build_run(str(tmp_path), SPECS)
    dying.die_after = 10
    assert shortprompts(tmp_path, dying.url, "shortprompts.llm.breaker_after=1000",
                        "runtime.max_item_retries=0") == 0  # (the old behaviour: "success")
    errs = ShardStore(str(tmp_path)).read_errors("shortprompts")
    # (up to 4 requests in flight may be answered past die_after)
    assert dying.dropped == 3 * len(errs) and len(errs) >= 48 - 10 - 4


# -- unit: what opens the breaker --------------------------------------------------------------

class Answer(BaseModel):
    caption: str


def run_calls(server: ScriptedLLMServer, n: int, **cfg: object) -> tuple[CircuitBreaker, list]:
    """`n` sequential calls through one session; its breaker and the outcomes."""
    llm = LLMConfig(base_url=server.url, api_key_env=None, backoff_s=0.0, max_retries=1,
                    max_reasks=0, breaker_probe_s=0, **cfg)
    session = LLMSession(make_client(llm, "k"), llm, "test")
    breaker = session.breaker

    async def go() -> list:
        try:
            return [await call_structured(session, [{"role": "user", "content": "x"}], Answer,
                                          "dense") for _ in range(n)]
        finally:
            await session.close()

    return breaker, asyncio.run(go())


@pytest.mark.parametrize("behaviour", ["invalid", "429", "mismatch", "refusal", "unknown_model"])
def test_answer_problems_and_4xx_never_open_the_breaker(llm_server, behaviour: str) -> None:
    llm_server.reset()
    if behaviour == "unknown_model":
        llm_server.known_models = {"other"}
    else:
        llm_server.queue("dense", *[behaviour] * 20)
    breaker, outs = run_calls(llm_server, 5, breaker_after=1)
    llm_server.reset()
    assert breaker.state == "closed" and breaker.failures == 0
    assert all(o.error_class not in (None, UNAVAILABLE) for o in outs)
    assert all(o.attempts >= 1 for o in outs)  # every call was sent


def test_5xx_opens_it_and_a_success_resets_the_count(llm_server) -> None:
    llm_server.reset()
    # 500 500 (call 1 fails), ok (call 2), 500 500 (call 3 fails): never two in a row
    llm_server.queue("dense", "500", "500", "ok", "500", "500")
    breaker, outs = run_calls(llm_server, 3, breaker_after=2)
    assert [o.error_class for o in outs] == ["ServerError", None, "ServerError"]
    assert breaker.state == "closed" and breaker.failures == 1
    llm_server.reset()
    llm_server.queue("dense", *["500"] * 4)
    breaker, outs = run_calls(llm_server, 4, breaker_after=2)
    sent = llm_server.count()
    llm_server.reset()
    assert breaker.dead and sent == 4  # calls 3 and 4 were never sent
    assert [o.error_class for o in outs] == ["ServerError", UNAVAILABLE, UNAVAILABLE,
                                             UNAVAILABLE]
    assert all(o.retriable for o in outs) and [o.attempts for o in outs] == [2, 2, 0, 0]
    assert llm_server.url in outs[2].message and "last cause: ServerError" in outs[2].message
