"""`make demo`'s chain end to end against the scripted OpenAI-compatible server: ingest ->
extract (tiny random models) -> captions -> review (auto-accept) -> short prompts -> export,
with complete captions. One clip's caption fails on purpose, so the dataset card must count it
as left out and say why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from conditions_helpers import tiny_overrides

from any2capins.cli import main
from any2capins.io.shards import ShardStore
from any2capins.models.captions import SECTIONS, MergedCaption

CLIPS = ("people_selfie_1s.mp4", "vp9_bear.webm", "vp8_flower_cc0.webm")


def test_demo_chain_gives_complete_instances(tmp_path: Path, example_clips: Path, llm_server,
                                             monkeypatch, capsys) -> None:
    server = llm_server
    server.reset()
    monkeypatch.setenv("A2C_DEMO_KEY", "sk-demo")
    src, run = tmp_path / "src", tmp_path / "run"
    src.mkdir()
    for name in CLIPS:
        shutil.copy(example_clips / name, src / name)
    base = ["--set", "runtime.executor=local", "--set", "runtime.progress=false",
            "--set", "runtime.max_item_retries=0"]
    llm = [f"{part}.{k}" for part in ("captions", "shortprompts") for k in (
        "backend=openai", f"llm.base_url={server.url}", "llm.model=test-model",
        "llm.api_key_env=A2C_DEMO_KEY", "llm.backoff_s=0.01", "llm.timeout_s=30")]
    sets = [x for item in [*tiny_overrides(), *llm, "captions.images.max_side=96",
                           "captions.resources.batch_size=1", "captions.llm.max_retries=1",
                           "camera.count=8", "camera.max_side=160",
                           # few frames per clip: the chain is under test, not the models
                           "depth.sampling.fps=1", "depth.sampling.max_frames=3",
                           "pose.sampling.fps=1", "pose.sampling.max_frames=3",
                           "export.plots=false"]
            for x in ("--set", item)]
    assert main(["ingest", str(src), "--out", str(run), *base]) == 0
    assert main(["extract", "--run", str(run), *base, *sets]) == 0
    # the first clip's dense section fails for good (500 on each of its 2 attempts)
    server.queue("dense", "500", "500")
    assert main(["captions", "--run", str(run), *base, *sets]) == 0
    store = ShardStore(str(run))
    errs = store.read_errors("captions")
    assert len(errs) == 1 and errs[0].error_class == "ServerError" and errs[0].retriable
    captioned = store.read_all("captions/merged", MergedCaption)
    assert len(captioned) == len(CLIPS) - 1 and all(m.missing == [] for m in captioned)
    for cmd in (["review", "enqueue"], ["review", "auto-accept", "--annotator", "demo-bot"],
                ["review", "export"]):
        assert main([*cmd, "--run", str(run), *base]) == 0
    assert main(["shortprompts", "--run", str(run), *base, *sets]) == 0
    assert main(["export", "--run", str(run), *base, *sets]) == 0
    out = capsys.readouterr().out

    rows = pq.read_table(run / "instances").to_pylist()
    ok_clips = {m.clip_id for m in captioned}
    assert rows and {r["clip_id"] for r in rows} == ok_clips
    for r in rows:
        assert r["caption_complete"] and all(r[s] and len(r[s].split()) >= 3 for s in SECTIONS)
        assert r["caption_text"].count("\n") == 5 and r["short_prompt_words"] >= 5
        prov = r["provenance"]
        assert prov["caption_backend"] == prov["shortprompt_backend"] == "openai"
        assert prov["automatic_review"] and prov["reviewer"] == "demo-bot"
        assert {"name": "captions", "value": "test-model"} in prov["models"]
    # every short prompt and caption section went to the scripted server, none elsewhere
    assert {r.body["model"] for r in server.requests} == {"test-model"}
    assert server.count("shortprompt") >= len(rows)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["left_out"]["clips"] == len(CLIPS)
    assert stats["left_out"]["exported_clips"] == len(CLIPS) - 1
    assert stats["left_out"]["left_out"] == {"caption_error": 1}
    card = (run / "README.md").read_text()
    assert "2 of 3 clips are in the dataset." in card
    assert "- 1 left out: caption failed" in card
    assert "1 left out: caption failed" in out  # the export summary says it too
