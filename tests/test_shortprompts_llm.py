"""Short prompts through the openai client against the local OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_builders import ClipSpec, build_run
from test_shortprompts import SPECS

from any2capins.config import load_config
from any2capins.io.shards import ShardStore
from any2capins.models.instances import ShortPromptRecord
from any2capins.runtime import ShardTask, run_stage
from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

KEY = "sk-shortprompt-secret-123"
CAMERA_ONLY = [[ClipSpec("c" * 16, depth=False, tracks=None, camera="ok", crops=None)]]


@pytest.fixture
def server(llm_server, monkeypatch):
    llm_server.reset()
    monkeypatch.setenv("A2C_SP_KEY", KEY)
    return llm_server


def run(run_dir: Path, server, *overrides: str, force: bool = False):
    cfg = load_config([], ["shortprompts.backend=openai", "runtime.executor=local",
                           "runtime.progress=false", f"shortprompts.llm.base_url={server.url}",
                           "shortprompts.llm.api_key_env=A2C_SP_KEY",
                           "shortprompts.llm.backoff_s=0.01", *overrides])
    store = ShardStore(str(run_dir))
    tasks = [ShardTask(index=i, input_dir=INPUT_DIR) for i in store.shard_indices(INPUT_DIR)]
    stage = ShortPromptsStage(cfg.shortprompts, str(run_dir))
    return run_stage(stage, tasks, str(run_dir), cfg.runtime, force=force)


def test_one_call_per_instance_with_schema_and_rules(tmp_path: Path, server) -> None:
    build_run(str(tmp_path), SPECS)
    summary = run(tmp_path, server)
    rows = ShardStore(str(tmp_path)).read_all("shortprompts", ShortPromptRecord)
    assert summary.outputs == len(rows) == 17
    body = server.requests[0].body
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["prompt"]
    systems = {r.body["messages"][0]["content"] for r in server.requests}
    assert any("Never mention the camera" in s for s in systems)
    assert all("{" not in s.split("```")[0] for s in systems)  # placeholders were filled
    assert all({k.lower(): v for k, v in r.headers.items()}["authorization"] == f"Bearer {KEY}"
               for r in server.requests)
    assert {r.backend for r in rows} == {"openai"}
    # one request per instance; a transient transport error on a loaded machine may add a
    # retry, which must then be counted everywhere
    assert sum(r.attempts for r in rows) == server.count("shortprompt") == summary.usage.calls
    assert server.count("shortprompt") <= 17 + 2
    assert summary.usage.prompt_tokens == 100 * sum(
        1 for r in server.requests if r.behaviour == "ok")
    # a rerun (forced) is served by the cache: zero requests
    server.requests.clear()
    again = run(tmp_path, server, force=True)
    assert server.count() == 0 and again.usage.cached_calls == 17
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_rule_breaking_answer_is_re_asked_with_the_failed_checks(tmp_path: Path, server):
    build_run(str(tmp_path), CAMERA_ONLY)
    server.queue_answers("shortprompt", {"prompt": "The camera pans slowly left over a bed."})
    summary = run(tmp_path, server)
    (row,) = ShardStore(str(tmp_path)).read_all("shortprompts", ShortPromptRecord)
    assert summary.errors == 0 and row.attempts == 2 and "camera" not in row.prompt
    reask = server.requests[1].body["messages"]
    assert reask[-2]["role"] == "assistant" and "camera pans" in reask[-2]["content"]
    assert "camera_terms" in reask[-1]["content"]
    assert summary.usage.calls == 2  # both attempts counted


def test_persistent_rule_breaking_ends_in_an_error_row(tmp_path: Path, server) -> None:
    build_run(str(tmp_path), CAMERA_ONLY)
    bad = {"prompt": "A slow dolly shot toward the bed."}
    server.queue_answers("shortprompt", bad, bad, bad)
    summary = run(tmp_path, server)
    (err,) = ShardStore(str(tmp_path)).read_errors("shortprompts")
    assert summary.outputs == 0 and err.error_class == "ShortPromptInvalid"
    assert "camera_terms" in err.message and err.detail == bad["prompt"]
    assert err.attempts == 3 == server.count("shortprompt")


@pytest.mark.parametrize(("behaviours", "error"), [(["500"] * 3, "ServerError"),
                                                    (["invalid"] * 3, "InvalidJSON")])
def test_transport_and_answer_failures_are_retried_then_recorded(tmp_path, server, behaviours,
                                                                 error) -> None:
    build_run(str(tmp_path), CAMERA_ONLY)
    server.queue("shortprompt", *behaviours)
    summary = run(tmp_path, server, "shortprompts.llm.max_retries=2",
                  "shortprompts.llm.max_reasks=2")
    (err,) = ShardStore(str(tmp_path)).read_errors("shortprompts")
    assert summary.outputs == 0 and err.attempts == 3
    assert err.error_class == error


def test_missing_prompt_file_fails_at_start(tmp_path: Path) -> None:
    from any2capins.errors import ConfigError

    (tmp_path / "shortprompt").mkdir()
    cfg = load_config([], [f"shortprompts.prompts_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"shortprompts\.prompts_dir: prompt file missing"):
        ShortPromptsStage(cfg.shortprompts, str(tmp_path))


def test_missing_key_fails_at_start(tmp_path: Path, monkeypatch) -> None:
    from any2capins.cli import main

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    build_run(str(tmp_path), CAMERA_ONLY)
    rc = main(["shortprompts", "--run", str(tmp_path), "--set",
               "shortprompts.llm.api_key_env=NO_SUCH_KEY_VAR", "--set",
               "shortprompts.llm.base_url=http://127.0.0.1:9/v1"])
    assert rc == 2
    assert not (tmp_path / "shortprompts").exists()


def cli(run_dir: Path, *overrides: str, force: bool = False) -> int:
    from any2capins.cli import main

    args = ["shortprompts", "--run", str(run_dir), "--set", "runtime.executor=local",
            "--set", "runtime.progress=false", "--set", "runtime.max_item_retries=0"]
    for item in ("shortprompts.backend=openai", "shortprompts.llm.api_key_env=A2C_SP_KEY",
                 "shortprompts.llm.backoff_s=0.01", *overrides):
        args += ["--set", item]
    return main([*args, "--force"] if force else args)


def test_no_default_endpoint_and_a_dead_server_exit_2(tmp_path: Path, server, capsys) -> None:
    from test_captions_llm import dead_url

    build_run(str(tmp_path), CAMERA_ONLY)
    assert cli(tmp_path) == 2
    assert "shortprompts.llm.base_url is not set" in capsys.readouterr().err
    url = dead_url()
    assert cli(tmp_path, f"shortprompts.llm.base_url={url}", "shortprompts.llm.model=m7") == 2
    err = capsys.readouterr().err
    assert url in err and "m7" in err and "unreachable" in err
    assert not (tmp_path / "shortprompts").exists() and server.count() == 0


def test_empty_prompt_is_reasked_then_an_error_row_never_cached(tmp_path: Path, server,
                                                                capsys) -> None:
    import json

    build_run(str(tmp_path), CAMERA_ONLY)
    server.queue("shortprompt", "empty")
    assert cli(tmp_path, f"shortprompts.llm.base_url={server.url}") == 0
    (row,) = ShardStore(str(tmp_path)).read_all("shortprompts", ShortPromptRecord)
    assert row.retries == ["reask:EmptyAnswer"] and row.words >= 5
    assert "at least 5 words" in server.requests[1].body["messages"][-1]["content"]
    assert "this run: 200+40 tokens, 2 requests, 0 cached; reask:EmptyAnswer 1" in \
        capsys.readouterr().out
    server.requests.clear()
    server.queue("shortprompt", "blank", "blank", "blank")
    assert cli(tmp_path, f"shortprompts.llm.base_url={server.url}",
               "shortprompts.llm.max_reasks=2", "shortprompts.llm.temperature=0.9") == 0
    (err,) = ShardStore(str(tmp_path)).read_errors("shortprompts")
    detail = json.loads(err.detail)
    assert err.error_class == "EmptyAnswer" and json.loads(detail["raw_completion"]) == {
        "prompt": "   "}
    assert detail["retries"] == ["reask:EmptyAnswer"] * 2
    cached = [json.loads(line)["v"]["prompt"] for p in (tmp_path / "shortprompts" / "_cache")
              .rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(cached) == 1 and all(len(c.split()) >= 5 for c in cached)


def test_the_preflight_request_is_counted_in_this_run(tmp_path: Path, server, capsys) -> None:
    """A server without a models list gets the preflight's 1-token completion: the run's usage
    (run.json and the printed line) counts it, as preflight, beside the prompt's request."""
    import json

    build_run(str(tmp_path), CAMERA_ONLY)
    server.models = None
    assert cli(tmp_path, f"shortprompts.llm.base_url={server.url}") == 0
    assert server.count() == 2 and server.requests[0].body["max_tokens"] == 1
    assert "200+40 tokens, 2 requests, 0 cached (1 preflight)" in capsys.readouterr().out
    record = json.loads((tmp_path / "run.json").read_text())
    llm = next(s for s in record["summaries"] if s["stage"] == "shortprompts-llm")
    assert llm["usage"]["calls"] == server.count() and llm["preflight"]["calls"] == 1


def test_server_rejecting_json_schema_falls_back_to_json_text(tmp_path: Path, server) -> None:
    build_run(str(tmp_path), SPECS)
    server.reject_json_schema = True
    summary = run(tmp_path, server)
    rows = ShardStore(str(tmp_path)).read_all("shortprompts", ShortPromptRecord)
    assert summary.errors == 0 and len(rows) == 17
    assert {r.structured_output for r in rows} == {"json_text"}
    answered = [r for r in server.requests if r.behaviour != "reject_schema"]
    assert all("```json" in r.body["messages"][0]["content"] for r in answered)
