"""Captions against servers that behave like real third-party ones (issue 12): preflight,
empty answers, servers that reject json_schema, usage that adds up, logged retries, the
per-shard call cache, the public client API."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
import test_captions
from test_captions import CLIPS, captions, errors, merged, rows

from any2capins.cli import main
from any2capins.io.shards import ShardStore
from any2capins.llm.cache import MAX_SEGMENTS, ShardCache

# the fixtures of test_captions: a copied run folder with two ingested clips, the server
template_run = test_captions.template_run
run_dir = test_captions.run_dir
server = test_captions.server


def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens (a port just bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def usage(run: Path) -> dict:
    return json.loads((run / "captions" / "usage.json").read_text())


def cache_lines(run: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((run / "captions" / "_cache").rglob("*.jsonl"))
            for line in p.read_text().splitlines()]


# -- 2. preflight -----------------------------------------------------------------------------

def test_dead_server_stops_before_any_work_naming_url_and_model(run_dir: Path, server, capsys):
    url = dead_url()
    code = main(["captions", "--run", str(run_dir), "--set", "runtime.executor=local",
                 "--set", f"captions.llm.base_url={url}", "--set", "captions.llm.model=qwen-vl",
                 "--set", "captions.llm.api_key_env=null"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and url in err[0] and "qwen-vl" in err[0] and "unreachable" in err[0]
    assert not (run_dir / "captions").exists()  # nothing was started


def test_refused_key_and_unknown_model_exit_2(run_dir: Path, server, capsys) -> None:
    server.api_key = "the-right-key"
    assert captions(run_dir, server) == 2
    err = capsys.readouterr().err
    assert "unauthorised (401)" in err and server.url in err and "$A2C_TEST_KEY" in err
    server.api_key = None
    server.models, server.known_models = ["other-model"], {"other-model"}
    assert captions(run_dir, server) == 2
    err = capsys.readouterr().err
    assert "gpt-4o-mini" in err and "not in the server's models list" in err
    assert server.count() == 1 and server.requests[0].body["max_tokens"] == 1  # the 1-token try


@pytest.mark.parametrize("models", [None, ["/models/qwen2-vl-2b-q4.gguf"]])
def test_servers_without_a_usable_models_list_pass_by_a_one_token_completion(
        run_dir: Path, server, models) -> None:
    """llama.cpp's server lists its file name and answers to any model name; others have no
    models endpoint at all: a 1-token completion decides."""
    server.models = models
    assert captions(run_dir, server, "captions.sections=[style]") == 0
    assert server.gets and server.requests[0].body["max_tokens"] == 1
    assert server.count() == 1 + len(CLIPS)
    run = usage(run_dir)["this_run"]  # the preflight's completion is counted, as preflight
    assert run["calls"] == server.count() and run["preflight"]["calls"] == 1


@pytest.mark.parametrize("status", [500, 400])
def test_a_server_that_cannot_read_images_stops_before_any_work(run_dir: Path, server, capsys,
                                                                 status: int) -> None:
    """llama.cpp without --mmproj answers text but 500 to every request with an image; vLLM
    with a text-only model 400. Captions send frames: exit 2 at once with one line, instead of
    one failed call (and the breaker, and retries) per clip."""
    server.text_only = status
    assert captions(run_dir, server, "captions.llm.preflight_images=true") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and server.url in err[0] and "not a request with an image" in err[0]
    assert "mmproj" in err[0] and "preflight_images=false" in err[0]
    assert server.count() == 1 and server.requests[0].body["max_tokens"] == 1
    assert not (run_dir / "captions").exists()  # nothing was started


def test_a_vision_server_passes_the_image_preflight(run_dir: Path, server) -> None:
    assert captions(run_dir, server, "captions.llm.preflight_images=true",
                    "captions.sections=[style]") == 0
    probe = server.requests[0].body
    assert probe["max_tokens"] == 1
    assert probe["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/jpeg;base64,")
    assert server.count() == 1 + len(CLIPS) and errors(run_dir) == []


def test_this_run_counts_every_request_the_server_saw(run_dir: Path, server, capsys) -> None:
    """The preflight's completions (here: the model is not listed, and the image test) are
    requests the server answers and bills: `this_run` counts them, `preflight` names them, the
    rows do not (they hold what each caption cost)."""
    server.models = None
    assert captions(run_dir, server, "captions.llm.preflight_images=true") == 0
    report = usage(run_dir)
    run, pre = report["this_run"], report["this_run"]["preflight"]
    assert server.count() == 2 + 6 * len(CLIPS) == run["calls"]
    assert pre["calls"] == 2 and pre["prompt_tokens"] == 2 * server.prompt_tokens
    assert run["prompt_tokens"] == report["all_rows"]["prompt_tokens"] + pre["prompt_tokens"]
    assert report["all_rows"]["calls"] == 6 * len(CLIPS)
    assert f"{run['calls']} requests (2 preflight)" in capsys.readouterr().out
    record = json.loads((run_dir / "run.json").read_text())
    llm = next(s for s in record["summaries"] if s["stage"] == "captions-llm")
    assert llm["usage"]["calls"] == run["calls"] and llm["preflight"]["calls"] == 2
    server.requests.clear()  # a rerun: nothing to do, only the preflight is sent (and counted)
    assert captions(run_dir, server, "captions.llm.preflight_images=true") == 0
    again = usage(run_dir)["this_run"]
    assert again["calls"] == server.count() == again["preflight"]["calls"] == 2


def test_no_base_url_means_no_request(run_dir: Path, server, capsys) -> None:
    code = main(["captions", "--run", str(run_dir), "--set", "runtime.executor=local",
                 "--set", "captions.llm.api_key_env=A2C_TEST_KEY"])
    assert code == 2 and "captions.llm.base_url is not set" in capsys.readouterr().err
    assert server.count() == 0 and not server.gets


# -- 3. empty or useless answers --------------------------------------------------------------

@pytest.mark.parametrize("behaviour", ["empty", "blank"])
def test_empty_answer_is_reasked_with_the_reason(run_dir: Path, server, behaviour: str) -> None:
    server.queue("dense", behaviour)
    assert captions(run_dir, server, "captions.sections=[dense,style]") == 0
    assert errors(run_dir) == []
    reask = [r for r in server.requests if r.section == "dense" and len(r.body["messages"]) > 2]
    assert len(reask) == 1
    assert "at least 3 words" in reask[0].body["messages"][-1]["content"]
    dense = [next(s for s in r.sections if s.section == "dense") for r in rows(run_dir)]
    assert sorted(s.retries for s in dense) == [[], ["reask:EmptyAnswer"]]
    assert all(len(s.text.split()) >= 3 for s in dense)


def test_persistently_empty_answers_are_error_rows_and_never_cached(run_dir: Path,
                                                                     server) -> None:
    server.queue("main_object", "empty", "empty", "empty")
    assert captions(run_dir, server, "captions.resources.batch_size=1",
                    "captions.llm.max_reasks=2") == 0
    errs = errors(run_dir)
    assert len(errs) == 1 and errs[0].error_class == "EmptyAnswer"
    detail = json.loads(errs[0].detail)["sections"]["main_object"]
    assert json.loads(detail["raw_completion"]) == {"caption": "", "subjects": []}
    assert detail["retries"] == ["reask:EmptyAnswer", "reask:EmptyAnswer"]
    assert len(merged(run_dir)) == len(CLIPS) - 1
    texts = [e["v"]["text"] for e in cache_lines(run_dir)]
    assert len(texts) == 6 * len(CLIPS) - 1 and all(t.strip() for t in texts)
    # an empty answer is not transient: a plain rerun leaves the error row; a forced one asks
    # again for exactly the missing section (nothing empty came from the cache)
    server.requests.clear()
    assert captions(run_dir, server) == 0
    assert server.count() == 0 and len(errors(run_dir)) == 1
    server.queue("main_object", "empty", "empty", "empty")
    assert captions(run_dir, server, "captions.llm.max_reasks=2", force=True) == 0
    assert server.count() == 3 and {r.section for r in server.requests} == {"main_object"}
    server.requests.clear()
    assert captions(run_dir, server, force=True) == 0
    assert server.count() == 1 and errors(run_dir) == []
    assert all(m.missing == [] for m in merged(run_dir))


# -- 4. structured output through the public API, with fallback --------------------------------

def test_server_rejecting_json_schema_falls_back_once(run_dir: Path, server, caplog) -> None:
    server.reject_json_schema = True
    with caplog.at_level(logging.INFO):
        assert captions(run_dir, server, "captions.resources.batch_size=1") == 0
    assert errors(run_dir) == [] and all(m.missing == [] for m in merged(run_dir))
    said = [r for r in caplog.records if "rejected response_format json_schema" in r.message]
    # once per worker (one, in-process), not once per batch: the next batches (batch_size 1:
    # one per clip) go straight to json_text
    assert len(said) == 1
    rejected = [r for r in server.requests if r.behaviour == "reject_schema"]
    assert 1 <= len(rejected) <= 6  # only the first clip's sections in flight
    answered = [r for r in server.requests if r.behaviour != "reject_schema"]
    assert len(answered) == 6 * len(CLIPS)
    assert all("response_format" not in r.body and "```json" in r.body["messages"][0]["content"]
               for r in answered)
    modes = {s.structured_output for r in rows(run_dir) for s in r.sections}
    assert modes == {"json_text"}
    assert usage(run_dir)["this_run"]["structured_output"] == {"json_text": 6 * len(CLIPS)}


def test_requests_go_through_the_public_create_method(run_dir: Path, server,
                                                      monkeypatch) -> None:
    from openai.resources.chat.completions import AsyncCompletions

    seen: list[dict] = []
    original = AsyncCompletions.create

    async def spy(self, **kwargs):
        seen.append(kwargs)
        return await original(self, **kwargs)

    monkeypatch.setattr(AsyncCompletions, "create", spy)
    assert captions(run_dir, server, "captions.sections=[camera]",
                    "captions.llm.preflight=false") == 0
    assert len(seen) == server.count() == len(CLIPS)
    assert seen[0]["response_format"]["json_schema"]["name"] == "camera"


# -- 5. usage that adds up; retries logged ------------------------------------------------------

def test_usage_this_run_and_all_rows_add_up(run_dir: Path, server) -> None:
    n = 6 * len(CLIPS)
    assert captions(run_dir, server) == 0
    first = usage(run_dir)
    assert first["this_run"]["calls"] == first["all_rows"]["calls"] == n == server.count()
    paid = first["all_rows"]["prompt_tokens"]
    assert paid == first["this_run"]["prompt_tokens"] == n * server.prompt_tokens
    assert captions(run_dir, server) == 0  # nothing to do: nothing sent
    again = usage(run_dir)
    assert again["this_run"]["calls"] == 0 and again["this_run"]["prompt_tokens"] == 0
    assert again["this_run"]["cached_calls"] == 0 and again["all_rows"]["prompt_tokens"] == paid
    assert captions(run_dir, server, force=True) == 0  # every answer from the cache
    forced = usage(run_dir)
    assert forced["this_run"]["calls"] == 0 and forced["this_run"]["cached_calls"] == n
    assert forced["all_rows"]["prompt_tokens"] == paid  # the rows keep their original cost
    assert forced["all_rows"]["calls"] == n


def test_retries_are_logged_and_recorded(run_dir: Path, server, caplog) -> None:
    server.hang_s = 4.0
    server.queue("camera", "500", "timeout")
    server.queue("style", "429")
    server.queue("action", "invalid")
    with caplog.at_level(logging.INFO, logger="any2capins.llm"):
        assert captions(run_dir, server, "captions.resources.batch_size=1",
                        "captions.llm.timeout_s=2") == 0
    lines = [r.message for r in caplog.records if r.levelno == logging.INFO]
    assert any("camera: retry 1/4 after ServerError" in m for m in lines)
    assert any("camera: retry 2/4 after Timeout" in m for m in lines)
    assert any("style: retry 1/4 after RateLimited" in m for m in lines)
    assert any("action: re-ask 1/2 after InvalidJSON" in m for m in lines)
    expect = {"RateLimited": 1, "ServerError": 1, "Timeout": 1}
    assert usage(run_dir)["this_run"]["retries"] == expect
    assert usage(run_dir)["this_run"]["reasks"] == {"InvalidJSON": 1}
    record = json.loads((run_dir / "run.json").read_text())
    llm = next(s for s in record["summaries"] if s["stage"] == "captions-llm")
    assert llm["retries"] == expect and llm["usage"]["calls"] == 6 * len(CLIPS) + 4


def test_transient_failures_are_retriable_and_a_plain_rerun_retries_them(run_dir: Path,
                                                                          server) -> None:
    server.queue("background", "500", "500")
    assert captions(run_dir, server, "captions.llm.max_retries=1",
                    "captions.resources.batch_size=1") == 0
    errs = errors(run_dir)
    assert len(errs) == 1 and errs[0].retriable and errs[0].error_class == "ServerError"
    server.requests.clear()
    assert captions(run_dir, server) == 0  # no --force
    assert server.count() == 1 and server.requests[0].section == "background"
    assert errors(run_dir) == [] and len(merged(run_dir)) == len(CLIPS)


# -- 7. the per-shard cache -------------------------------------------------------------------

def test_cache_is_a_few_segments_per_shard(run_dir: Path, server) -> None:
    assert captions(run_dir, server, "captions.resources.batch_size=1") == 0
    files = sorted((run_dir / "captions" / "_cache").rglob("*"))
    segs = [p for p in files if p.is_file()]
    assert [p.parent.name for p in segs] == ["shard-00000"] * len(CLIPS)  # one per batch
    assert len(cache_lines(run_dir)) == 6 * len(CLIPS)


def test_shard_cache_refuses_empty_values_skips_damage_and_compacts(tmp_path: Path) -> None:
    cache = ShardCache(str(tmp_path))
    assert cache.open(3) == 0
    assert not cache.put("k-empty", {"text": "  ", "data_json": "{}"})
    assert not cache.put("k-none", {})
    for i in range(MAX_SEGMENTS + 2):
        assert cache.put(f"k{i}", {"text": f"answer number {i}"})
        assert cache.flush() == 1
    folder = tmp_path / "shard-00003"
    assert len(list(folder.iterdir())) == MAX_SEGMENTS + 2
    with (folder / "seg-zz-damaged.jsonl").open("w") as f:
        f.write('{"k": "bad", "v": {"text": ""}}\nnot json\n')
    again = ShardCache(str(tmp_path))
    assert again.open(3) == MAX_SEGMENTS + 2  # damaged and empty lines skipped
    assert again.get("k5") == {"text": "answer number 5"} and again.get("bad") is None
    assert len(list(folder.iterdir())) == 1  # compacted into one segment
    assert ShardCache(str(tmp_path)).open(3) == MAX_SEGMENTS + 2
    assert ShardCache(str(tmp_path)).open(4) == 0  # shards do not see each other's answers


def test_interrupted_first_run_resumes_without_redoing_done_shards(run_dir: Path,
                                                                   server) -> None:
    """Issue 11: only the shard that did not finish is redone (no settings record gate)."""
    import pyarrow.parquet as pq

    store = ShardStore(str(run_dir))
    table = pq.read_table(run_dir / "clips" / "shard-00000.parquet")
    store.write_table("clips/shard-00001.parquet", table.slice(1))
    store.write_table("clips/shard-00000.parquet", table.slice(0, 1))
    assert captions(run_dir, server) == 0
    (run_dir / "_done" / "captions" / "shard-00001.json").unlink()  # as if killed before it
    server.requests.clear()
    assert captions(run_dir, server) == 0
    assert server.count() == 0  # shard 1's answers were flushed to its cache segment
    assert usage(run_dir)["this_run"]["cached_calls"] == 6
