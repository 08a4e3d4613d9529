"""Export: instance rows, deterministic ids and split, the dataset card, and the consumers
(pyarrow, Hugging Face datasets, polars, DuckDB, Ray Data) reading the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_builders import ClipSpec, build_run, jpeg
from test_shortprompts import SPECS, run_shortprompts

from any2capins.config import load_config
from any2capins.export.card import write_card
from any2capins.export.stage import ExportStage, split_for
from any2capins.io.shards import ShardStore
from any2capins.models.instances import InstanceRecord, ShortPromptRecord
from any2capins.runtime import ShardTask, run_stage

FIELDS = {"instance_id", "clip_id", "conditions", "short_prompt", "dense", "caption_text",
          "provenance", "split", "ref_images"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    build_run(str(run), SPECS)
    run_shortprompts(run)
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false",
                           "export.test_fraction=0.5"])
    store = ShardStore(str(run))
    tasks = [ShardTask(index=i, input_dir="shortprompts") for i in store.shard_indices("clips")]
    summary = run_stage(ExportStage(cfg.export), tasks, str(run), cfg.runtime)
    assert summary.errors == 0
    write_card(store)
    return run


def test_instances_equal_approved_clips_times_sets(exported: Path) -> None:
    store = ShardStore(str(exported))
    rows = store.read_all("instances", InstanceRecord)
    prompts = store.read_all("shortprompts", ShortPromptRecord)
    assert len(rows) == len(prompts) == 17
    assert len({r.instance_id for r in rows}) == 17
    a = [r for r in rows if r.clip_id == "a" * 16]
    assert len(a) == 8
    ident = next(r for r in a if r.condition_set == "identity")
    assert len(ident.ref_images) == 2 and ident.ref_stitched is not None
    assert ident.ref_images[0][:2] == b"\xff\xd8"  # JPEG
    # 'image N' is the refs rank's N-th subject (the stitched order), not the N-th sharpest
    assert ident.ref_images == [jpeg((200, 0, 0)), jpeg((200, 10, 0))]
    cam = next(r for r in a if r.condition_set == "camera")
    assert cam.camera_status == "ok" and cam.ref_images == []
    assert [ref.type for ref in cam.condition_refs] == ["camera"]
    assert cam.condition_refs[0].path == "conditions/camera/shard-00000.parquet"
    assert cam.caption_complete and cam.caption_text.startswith("1. Dense caption:")
    assert cam.provenance.reviewer == "ann"
    # conservative: the caption's digest used every condition of the clip, tiny ones included
    assert cam.provenance.tiny_models is True
    versions = {v.name: v.value for v in cam.provenance.prompt_versions}
    assert versions["shortprompt"] == "rules-1"
    for r in rows:  # the split is per clip, deterministic
        assert r.split == split_for(r.clip_id, 0.5, "any2capins")
    assert len({(r.clip_id, r.split) for r in rows}) == len({r.clip_id for r in rows})


def test_dataset_card_and_stats(exported: Path) -> None:
    stats = json.loads((exported / "stats.json").read_text())
    assert stats["instances"] == 17 and stats["clips"] == 3
    by_type = stats["by_condition_type"]
    # clip a: 2 crops in each of its 4 identity sets; clip c: 1 crop in 4 sets
    assert by_type["identity"] == {"instances": 8, "conditions": 12, "avg_duration_s": 4.0,
                                   "total_duration_h": round(8 * 4.0 / 3600, 4)}
    assert by_type["depth"]["instances"] == 9
    card = (exported / "README.md").read_text()
    assert "| identity | 8 | 12 |" in card
    for png in ("condition_mix", "caption_words", "short_prompt_words", "camera_motion"):
        data = (exported / "card" / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def _files(run: Path) -> list[str]:
    return sorted(str(p) for p in (run / "instances").glob("shard-*.parquet"))


def test_pyarrow_and_polars_and_duckdb_read_the_same_rows(exported: Path) -> None:
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds

    table = ds.dataset(_files(exported), format="parquet").to_table()
    assert table.num_rows == 17 and set(table.column_names) >= FIELDS
    frame = pl.read_parquet(_files(exported))
    assert frame.height == 17 and set(frame.columns) >= FIELDS
    ids = sorted(table.column("instance_id").to_pylist())
    assert sorted(frame["instance_id"].to_list()) == ids
    con = duckdb.connect()
    got = con.execute(f"SELECT instance_id FROM read_parquet({_files(exported)!r}) "
                      "ORDER BY instance_id").fetchall()
    assert [g[0] for g in got] == ids
    n_test = con.execute(f"SELECT count(*) FROM read_parquet({_files(exported)!r}) "
                         "WHERE split = 'test'").fetchone()[0]
    assert n_test == sum(1 for s in table.column("split").to_pylist() if s == "test")


def test_hugging_face_datasets_reads_the_same_rows(exported: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    dset = load_dataset("parquet", data_files=_files(exported), split="train",
                        cache_dir=str(tmp_path / "hf"))
    assert dset.num_rows == 17 and set(dset.column_names) >= FIELDS
    row = next(r for r in dset if r["condition_set"] == "identity" and r["clip_id"] == "a" * 16)
    assert len(row["ref_images"]) == 2


@pytest.mark.ray
def test_ray_data_reads_the_same_rows(exported: Path, ray_cluster) -> None:
    import ray.data

    ds = ray.data.read_parquet(_files(exported))
    assert ds.count() == 17
    assert set(ds.schema().names) >= FIELDS


def test_missing_refs_are_not_faked(tmp_path: Path) -> None:
    """A clip whose approved caption is missing from its shard becomes an error row."""
    build_run(str(tmp_path), [[ClipSpec("e" * 16)]])
    run_shortprompts(tmp_path)
    (tmp_path / "review" / "decisions" / "shard-00000.parquet").unlink()
    build_run(str(tmp_path / "other"), [[ClipSpec("f" * 16)]])
    (tmp_path / "review" / "decisions" / "shard-00000.parquet").write_bytes(
        (tmp_path / "other" / "review" / "decisions" / "shard-00000.parquet").read_bytes())
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false"])
    summary = run_stage(ExportStage(cfg.export), [ShardTask(0, "shortprompts")], str(tmp_path),
                        cfg.runtime)
    errors = ShardStore(str(tmp_path)).read_errors("export")
    assert summary.ok == 0 and summary.errors == 8
    assert {e.error_class for e in errors} == {"MissingInput"}


def test_instances_carry_the_span_of_a_shot_clip(tmp_path: Path) -> None:
    """A clip that is one shot of a longer video: its instances say which part of `uri`."""
    from any2capins.io import fs
    from any2capins.io.arrow import to_table
    from any2capins.models.clips import ClipRecord

    build_run(str(tmp_path), [[ClipSpec("e" * 16)]])
    run_shortprompts(tmp_path)
    store = ShardStore(str(tmp_path))
    clips = store.read_shard("clips", 0, ClipRecord)
    shot = clips[0].model_copy(update={"span_start_s": 1.199, "span_end_s": 3.499,
                                       "duration_s": 2.3})
    fs.write_table_atomic(store.data_loc("clips", 0), to_table([shot], ClipRecord))
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false"])
    run_stage(ExportStage(cfg.export), [ShardTask(0, "shortprompts")], str(tmp_path), cfg.runtime)
    rows = store.read_all("instances", InstanceRecord)
    assert rows and {(r.span_start_s, r.span_end_s, r.duration_s) for r in rows} == {
        (1.199, 3.499, 2.3)}


def test_commands_end_to_end(tmp_path: Path, capsys) -> None:
    from any2capins.cli import main

    build_run(str(tmp_path), SPECS)
    local = ["--set", "runtime.executor=local", "--set", "runtime.progress=false"]
    assert main(["export", "--run", str(tmp_path), *local]) == 2  # no short prompts yet
    assert "any2capins shortprompts" in capsys.readouterr().err
    assert main(["shortprompts", "--run", str(tmp_path), "--set", "shortprompts.backend=rules",
                 *local]) == 0
    assert main(["export", "--run", str(tmp_path), "--set", "export.plots=false", *local]) == 0
    out = capsys.readouterr().out
    assert "17 ok" in out and "| identity | 8 | 12 |" in out
    assert (tmp_path / "README.md").is_file() and not (tmp_path / "card").exists()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["command"] == "export" and record["summaries"][0]["outputs"] == 17


def test_dataset_card_shows_caption_quality_from_review(exported: Path, tmp_path: Path) -> None:
    """The figures `review export` leaves in review/stats.json (from human decisions) appear
    in the dataset card and its stats.json: an untouched section scores 100, an edited one
    less."""
    import shutil
    from datetime import UTC, datetime

    from any2capins.models.review import DecisionRecord
    from any2capins.review.quality import caption_quality

    run = tmp_path / "run"
    shutil.copytree(exported, run)
    text = {"dense": "a dog runs across a green field under a blue sky",
            "style": "bright natural light"}
    edited = {**text, "dense": "a brown dog runs across a wide green field"}
    now = datetime.now(UTC)
    decisions = [DecisionRecord(decision_id=1, item_id=1, clip_id="c1", version="v",
                                action="accept", annotator="ann", automatic=False,
                                decided_at=now, before=text, after=text),
                 DecisionRecord(decision_id=2, item_id=2, clip_id="c2", version="v",
                                action="edit", annotator="ann", automatic=False,
                                decided_at=now, before=text, after=edited,
                                edited_sections=["dense"])]
    store = ShardStore(str(run))
    store.write_json("review/stats.json", {"caption_quality": caption_quality(decisions)})
    write_card(store, plots=False)
    card = (run / "README.md").read_text()
    assert "## Caption quality (human review)" in card and "over 2 human approvals" in card
    style = next(line for line in card.splitlines() if line.startswith("| style |"))
    assert style.endswith("| 100.00 | 100.00 | 100.00 |")  # BLEU-2, ROUGE-L, chrF untouched
    dense = next(line for line in card.splitlines() if line.startswith("| dense |"))
    assert "| 50% |" in dense and "100.00 |" not in dense.split("| 50% |")[1]
    assert json.loads((run / "stats.json").read_text())["caption_quality"]["items"] == 2
