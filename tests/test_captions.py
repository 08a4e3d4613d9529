"""Captions against the scripted OpenAI-compatible server on 127.0.0.1: request contents,
retries and error rows, usage of every attempt, the cache, API-key hygiene, json_text mode,
Ray workers."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from any2capins.captions.schemas import SECTION_MODELS, strict_schema
from any2capins.cli import main
from any2capins.io.shards import ShardStore
from any2capins.models.captions import SECTIONS, ClipSections, MergedCaption
from any2capins.models.common import ErrorRecord

SECRET = "sk-test-5ecret-do-not-leak-0123456789"
CLIPS = ("people_selfie_1s.mp4", "vp9_bear.webm")


@pytest.fixture(scope="module")
def template_run(tmp_path_factory: pytest.TempPathFactory, example_clips: Path) -> Path:
    """A run folder with two ingested clips (one shard), copied by each test."""
    src = tmp_path_factory.mktemp("src")
    for name in CLIPS:
        shutil.copy(example_clips / name, src / name)
    run = tmp_path_factory.mktemp("tmpl") / "run"
    assert main(["ingest", str(src), "--out", str(run), "--set", "runtime.executor=local",
                 "--set", "runtime.progress=false"]) == 0
    return run


@pytest.fixture
def run_dir(template_run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(template_run, dst)
    return dst


@pytest.fixture
def server(llm_server, monkeypatch: pytest.MonkeyPatch):
    llm_server.reset()
    monkeypatch.setenv("A2C_TEST_KEY", SECRET)
    yield llm_server
    llm_server.reset()


def captions(run: Path, server, *extra: str, force: bool = False) -> int:
    args = ["captions", "--run", str(run), "--set", "runtime.executor=local",
            "--set", "runtime.progress=false", "--set", "runtime.max_item_retries=0",
            "--set", f"captions.llm.base_url={server.url}",
            "--set", "captions.llm.api_key_env=A2C_TEST_KEY",
            "--set", "captions.llm.timeout_s=10", "--set", "captions.llm.backoff_s=0.01",
            "--set", "captions.images.max_side=96",
            # the image preflight adds one request; tests here count requests (it has its
            # own tests in test_captions_llm.py, and the demo chain runs it)
            "--set", "captions.llm.preflight_images=false"]
    for item in extra:
        args += ["--set", item]
    return main([*args, "--force"] if force else args)


def rows(run: Path) -> list[ClipSections]:
    return ShardStore(str(run)).read_all("captions/sections", ClipSections)


def merged(run: Path) -> list[MergedCaption]:
    return ShardStore(str(run)).read_all("captions/merged", MergedCaption)


def errors(run: Path) -> list[ErrorRecord]:
    return ShardStore(str(run)).read_errors("captions")


def test_requests_carry_schema_images_and_key(run_dir: Path, server) -> None:
    assert captions(run_dir, server, "captions.images.mode=separate",
                    "captions.images.count=3") == 0
    assert server.count() == len(CLIPS) * 6
    assert sorted({r.section for r in server.requests}) == sorted(SECTIONS)
    for req in server.requests:
        rf = req.body["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
        assert rf["json_schema"]["schema"] == strict_schema(SECTION_MODELS[req.section])
        assert rf["json_schema"]["schema"]["additionalProperties"] is False
        parts = req.body["messages"][1]["content"]
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert len(urls) == 3
        img = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
        assert img.format == "JPEG" and max(img.size) <= 96
        headers = {k.lower(): v for k, v in req.headers.items()}
        assert headers["authorization"] == f"Bearer {SECRET}"
        assert req.body["model"] == "gpt-4o-mini" and req.body["max_tokens"] == 600
    out = merged(run_dir)
    assert len(out) == len(CLIPS)
    for m in out:
        assert m.missing == [] and m.text is not None
        assert m.text.splitlines()[0].startswith("1. Dense caption: ")
        assert m.text.splitlines()[5].startswith("6. Action caption: ")
        assert set(m.prompt_versions) == set(SECTIONS)
    import pyarrow.csv as pacsv

    csv = pacsv.read_csv(run_dir / "captions" / "miradata.csv").to_pylist()
    assert [r["clip_id"] for r in csv] == [m.clip_id for m in out]
    assert csv[0]["camera_caption"] == out[0].camera and "action_caption" in csv[0]


def test_grid_mode_sends_one_image(run_dir: Path, server) -> None:
    assert captions(run_dir, server, "captions.images.mode=grid", "captions.images.count=4",
                    "captions.images.grid_columns=2", "captions.sections=[style]") == 0
    assert server.count() == len(CLIPS)
    parts = server.requests[0].body["messages"][1]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    img = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
    assert len(urls) == 1 and img.size[0] > 96  # two frames side by side
    assert all(m.missing == [s for s in SECTIONS if s != "style"] for m in merged(run_dir))


ANSWERED = {"invalid", "length", "refusal", "mismatch"}  # carry usage; 429/500/timeout don't


@pytest.mark.parametrize("behaviour", ["429", "500", "timeout", "invalid", "length", "refusal",
                                       "mismatch"])
def test_one_failure_is_retried_then_succeeds(run_dir: Path, server, behaviour: str) -> None:
    server.hang_s = 3.0  # > timeout_s 1 (10 s elsewhere: no spurious timeout on a busy machine)
    server.queue("camera", behaviour)
    assert captions(run_dir, server, "captions.sections=[camera,style]",
                    "captions.llm.timeout_s=1") == 0
    cam = [r for r in server.requests if r.section == "camera"]
    assert len(cam) == len(CLIPS) + 1  # one clip needed a second attempt
    assert errors(run_dir) == []
    by_clip = [next(s for s in r.sections if s.section == "camera") for r in rows(run_dir)]
    assert sorted(s.attempts for s in by_clip) == [1, 2]
    retried = next(s for s in by_clip if s.attempts == 2)
    answered = 2 if behaviour in ANSWERED else 1
    assert retried.usage.calls == 2
    assert retried.usage.prompt_tokens == answered * server.prompt_tokens
    assert retried.usage.completion_tokens == answered * server.completion_tokens
    if behaviour in {"invalid", "mismatch"}:  # the re-ask carries the validation error back
        reasks = [r for r in cam if len(r.body["messages"]) > 2]
        assert len(reasks) == 1
        msgs = reasks[0].body["messages"]
        assert msgs[-2]["role"] == "assistant" and "rejected" in msgs[-1]["content"]
        bad = "Sure!" if behaviour == "invalid" else '{"text"'
        assert msgs[-2]["content"].startswith(bad)  # the bad answer goes back as well
    done = ShardStore(str(run_dir)).done("captions", 0)
    assert done is not None and done.usage is not None
    assert done.usage.calls == 2 * len(CLIPS) + 1


@pytest.mark.parametrize(("behaviour", "error_class", "attempts"),
                         [("length", "Truncated", 3), ("500", "ServerError", 3),
                          ("refusal", "Refusal", 3), ("429", "RateLimited", 3),
                          ("timeout", "Timeout", 3), ("invalid", "InvalidJSON", 3),
                          ("mismatch", "SchemaMismatch", 3)])
def test_persistent_failure_becomes_error_row(run_dir: Path, server, behaviour: str,
                                              error_class: str, attempts: int) -> None:
    server.hang_s = 3.0  # > timeout_s 1
    server.queue("action", *[behaviour] * attempts)
    # batch_size 1: clips run one after the other, so the first one meets every failure
    assert captions(run_dir, server, "captions.sections=[action,style]",
                    "captions.llm.max_retries=2", "captions.llm.max_reasks=2",
                    "captions.resources.batch_size=1", "captions.llm.timeout_s=1") == 0
    errs = errors(run_dir)
    assert len(errs) == 1 and len(rows(run_dir)) == len(CLIPS) - 1  # inputs = rows + errors
    err = errs[0]
    assert err.error_class == error_class and err.attempts == attempts
    assert "action" in err.message
    detail = json.loads(err.detail or "{}")["sections"]
    assert detail["action"]["attempts"] == attempts
    raw = detail["action"]["raw_completion"]  # the last raw completion is kept
    if behaviour == "length":
        assert raw.startswith('{"caption"') and not raw.endswith("}")
    elif behaviour == "invalid":
        assert raw.startswith("Sure! Here is the caption:")
    elif behaviour in ("500", "429", "timeout", "refusal"):
        assert raw is None  # no answer text ever came
    assert detail["action"]["usage"]["calls"] == attempts
    usage = json.loads((run_dir / "captions" / "usage.json").read_text())
    assert usage["sections"]["action"]["calls"] == len(CLIPS) - 1 + attempts
    # the failed clip is redone on a forced rerun: its good section comes from the cache
    server.requests.clear()
    assert captions(run_dir, server, "captions.sections=[action,style]", force=True) == 0
    assert server.count() == 1 and server.requests[0].section == "action"
    assert errors(run_dir) == [] and len(rows(run_dir)) == len(CLIPS)


def test_rerun_makes_zero_requests_and_prompt_edit_redoes_one_section(
        run_dir: Path, server, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(Path(__file__).resolve().parents[1] / "prompts", prompts)
    opt = f"captions.prompts_dir={prompts}"
    assert captions(run_dir, server, opt) == 0
    first = {m.clip_id: m for m in merged(run_dir)}
    server.requests.clear()
    assert captions(run_dir, server, opt, force=True) == 0
    assert server.count() == 0
    assert all(s.cached for r in rows(run_dir) for s in r.sections)
    assert {m.clip_id: m.text for m in merged(run_dir)} == {k: m.text for k, m in first.items()}
    cam = prompts / "camera.yaml"
    cam.write_text(cam.read_text().replace("CAMERA caption.", "CAMERA caption (v2)."))
    assert captions(run_dir, server, opt) == 0  # no --force: the prompt change is detected
    assert server.count() == len(CLIPS) and {r.section for r in server.requests} == {"camera"}
    versions = {m.prompt_versions["camera"] for m in merged(run_dir)}
    assert versions != {first[next(iter(first))].prompt_versions["camera"]}


def test_backend_switch_redoes_shards_without_force(run_dir: Path, server) -> None:
    assert captions(run_dir, server, "captions.backend=rules") == 0
    assert server.count() == 0 and merged(run_dir)[0].backend == "rules"
    assert captions(run_dir, server) == 0  # openai now: the rules shards are not reused
    assert server.count() == 6 * len(CLIPS)
    assert {m.backend for m in merged(run_dir)} == {"openai"}
    server.requests.clear()
    assert captions(run_dir, server, "captions.llm.max_concurrency=3") == 0  # no text change
    assert server.count() == 0
    done = ShardStore(str(run_dir)).done("captions", 0)
    assert done is not None and json.loads(done.settings or "{}")["backend"] == "openai"


def test_api_key_never_written(run_dir: Path, server) -> None:
    server.queue("dense", "500", "500", "500", "500", "500")  # an error row too
    assert captions(run_dir, server, "captions.llm.max_retries=1") == 0
    assert errors(run_dir)
    assert any(r.headers.get("Authorization") == f"Bearer {SECRET}"
               or r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests)
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["config"]["captions"]["llm"]["api_key_env"] == "A2C_TEST_KEY"
    assert list((run_dir / "logs").glob("*captions.log"))


def test_missing_api_key_env_is_a_config_error(run_dir: Path, server, monkeypatch,
                                               capsys) -> None:
    monkeypatch.delenv("A2C_TEST_KEY")
    assert captions(run_dir, server) == 2
    assert "A2C_TEST_KEY" in capsys.readouterr().err
    assert server.count() == 0


def test_json_text_mode_parses_fences_and_reasks(run_dir: Path, server) -> None:
    server.queue("style", "fenced", "invalid")
    assert captions(run_dir, server, "captions.llm.structured_output=json_text",
                    "captions.sections=[style,action]") == 0
    assert errors(run_dir) == []
    for req in server.requests:
        assert "response_format" not in req.body
        assert "```json" in req.body["messages"][0]["content"]
    assert server.count("style") == len(CLIPS) + 1
    style = [next(s for s in r.sections if s.section == "style") for r in rows(run_dir)]
    assert sorted(s.attempts for s in style) == [1, 2]  # fenced JSON passed, invalid re-asked


def test_price_table_gives_cost(run_dir: Path, server) -> None:
    assert captions(run_dir, server, "captions.sections=[style]",
                    "captions.price={prompt_per_million: 2.0, completion_per_million: 10.0}") == 0
    usage = json.loads((run_dir / "captions" / "usage.json").read_text())
    n = len(CLIPS)
    expect = (n * server.prompt_tokens * 2.0 + n * server.completion_tokens * 10.0) / 1e6
    assert usage["sections"]["style"]["cost"] == pytest.approx(expect)
    assert usage["this_run"]["calls"] == n and usage["currency"] == "USD"


def test_many_requests_in_flight(run_dir: Path, server) -> None:
    # structural, not a speed test: with answers held for 2 s, every request must have arrived
    # before the first answer could return (a sequential client would need 12 x 2 s)
    server.delay = 2.0
    assert captions(run_dir, server, "captions.llm.max_concurrency=12",
                    "captions.llm.timeout_s=10") == 0
    times = sorted(r.time for r in server.requests)
    assert len(times) == 12 and times[-1] - times[0] < server.delay


@pytest.mark.ray
def test_ray_workers_share_the_cache(ray_cluster, run_dir: Path, server) -> None:
    store = ShardStore(str(run_dir))
    table = pq.read_table(run_dir / "clips" / "shard-00000.parquet")
    store.write_table("clips/shard-00001.parquet", table.slice(1))  # a second shard
    store.write_table("clips/shard-00000.parquet", table.slice(0, 1))
    args = ["captions.llm.api_key_env=null", "captions.resources.workers=2",
            "captions.llm.preflight_images=false"]  # exactly 12 section requests

    def ray_run(force: bool) -> int:
        return main(["captions", "--run", str(run_dir), "--set", "runtime.executor=ray",
                     "--set", "runtime.progress=false", "--set",
                     f"captions.llm.base_url={server.url}", "--set", "captions.llm.timeout_s=5",
                     *[x for a in args for x in ("--set", a)], *(["--force"] if force else [])])

    assert ray_run(False) == 0
    assert server.count() == 12 and len(rows(run_dir)) == 2
    server.requests.clear()
    assert ray_run(True) == 0
    assert server.count() == 0 and len(merged(run_dir)) == 2


def test_digests_reach_the_prompts_and_checks_flag_contradictions(run_dir: Path, server) -> None:
    from test_captions_checks import _camera_table, _pose, _refs, _track

    from any2capins.io.arrow import to_table
    from any2capins.models.clips import ClipRecord
    from any2capins.models.conditions import PoseRecord, RefsRecord

    store = ShardStore(str(run_dir))
    clip = store.read_shard("clips", 0, ClipRecord)[0]
    store.write_table("conditions/camera/shard-00000.parquet", _camera_table(
        clip.clip_id, "static", "The camera is static.", ["static"]))
    people = [_track(0, [[10, 40, 30, 80]] * 4), _track(1, [[120, 40, 140, 80]] * 4)]
    store.write_table("conditions/pose/shard-00000.parquet",
                      to_table([_pose(clip.clip_id, people)], PoseRecord))
    store.write_table("conditions/refs/shard-00000.parquet",
                      to_table([_refs(clip.clip_id, 2)], RefsRecord))
    server.overrides["camera"] = {"caption": "The camera pans quickly to the left across the "
                                  "room in a wide shot.", "motion_terms": ["pan left"]}
    assert captions(run_dir, server, "captions.images.mode=grid") == 0

    def user_text(section: str) -> list[str]:
        return [p["text"] for r in server.requests if r.section == section
                for p in r.body["messages"][1]["content"] if p["type"] == "text"]

    assert any("The camera is static. (solve status: static)" in t for t in user_text("camera"))
    assert any("2 track(s), at most 2 at once; person 1 stays roughly in place" in t
               for t in user_text("action"))
    n_images = {r.section: sum(p["type"] == "image_url" for p in r.body["messages"][1]["content"])
                for r in server.requests if "2 crop(s)" in json.dumps(r.body)}
    assert n_images == {"main_object": 3}  # the grid plus two reference crops
    flags = {m.clip_id: m.flags for m in merged(run_dir)}
    # the server says 1 person and a panning camera: both contradict the conditions
    assert {"camera_contradicts_motion", "people_count_mismatch"} <= set(flags[clip.clip_id])
    other = next(f for c, f in flags.items() if c != clip.clip_id)
    assert "camera_contradicts_motion" not in other and "people_count_mismatch" not in other


def test_s3_run_folder_and_cache(s3, example_clips: Path, server, tmp_path: Path,
                                 monkeypatch) -> None:
    """A real S3 API on 127.0.0.1 (moto server): one clip in a raw bucket, the run folder and
    the call cache in another."""
    raw, runs = s3.bucket("raw"), s3.bucket("runs")
    s3.client.upload_file(str(example_clips / "vp9_bear.webm"), raw, "clips/bear.webm")
    monkeypatch.chdir(tmp_path)  # logs of s3 runs go below the working directory
    run = f"s3://{runs}/cap"
    assert main(["ingest", f"s3://{raw}/clips", "--out", run, "--set", "runtime.executor=local",
                 "--set", "runtime.progress=false"]) == 0
    assert captions(run, server) == 0
    assert server.count() == 6
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=runs)["Contents"]]
    # the six answers of the shard's one batch: one segment object, not one object per call
    cache = [k for k in keys if "cap/captions/_cache/" in k and not k.endswith("/")]
    assert len(cache) == 1 and cache[0].startswith("cap/captions/_cache/shard-00000/seg-")
    lines = s3.client.get_object(Bucket=runs, Key=cache[0])["Body"].read().splitlines()
    assert len(lines) == 6
    assert any(k.endswith("captions/merged/shard-00000.parquet") for k in keys)
    server.requests.clear()
    assert captions(run, server, force=True) == 0
    assert server.count() == 0
    assert ShardStore(run).read_all("captions/merged", MergedCaption)[0].missing == []


def test_stage_pickle_never_carries_the_key(run_dir: Path, server) -> None:
    import pickle

    from any2capins.captions.writers import SectionsStage
    from any2capins.config import load_config

    cfg = load_config([], ["captions.llm.api_key_env=A2C_TEST_KEY"]).captions
    stage = SectionsStage(cfg, str(run_dir))
    stage.setup()
    assert stage._api_key == SECRET  # held in the worker's memory only
    assert SECRET.encode() not in pickle.dumps(stage)


def test_stitched_reference_image(run_dir: Path, server) -> None:
    from test_captions_checks import _refs

    from any2capins.io.arrow import to_table
    from any2capins.models.clips import ClipRecord
    from any2capins.models.conditions import RefsRecord

    store = ShardStore(str(run_dir))
    clip = store.read_shard("clips", 0, ClipRecord)[0]
    refs = _refs(clip.clip_id, 2)
    stitched = refs.model_copy(update={"stitched_jpeg": refs.crops[0].jpeg + b"\x00",
                                       "stitched_track_ids": [0, 1]})
    store.write_table("conditions/refs/shard-00000.parquet", to_table([stitched], RefsRecord))
    assert captions(run_dir, server, "captions.images.refs_mode=stitched",
                    "captions.sections=[main_object]") == 0
    req = next(r for r in server.requests if "side by side" in json.dumps(r.body))
    urls = [p["image_url"]["url"] for p in req.body["messages"][1]["content"]
            if p["type"] == "image_url"]
    assert len(urls) == 2  # the frame grid and the one stitched image
    assert base64.b64decode(urls[1].split(",", 1)[1]) == stitched.stitched_jpeg
