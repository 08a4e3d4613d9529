"""Curation through the commands: `extract` scores every clip first and leaves the filtered ones
out of its heavy stages (no rows, no error rows); near-duplicates are found across the run;
captions and short prompts skip them; the dataset card counts them by reason; `filter` runs
alone; `filter.enabled: false` turns it all off; a rerun redoes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import curation_media as media
import pytest
from conditions_helpers import tiny_overrides

from any2capins.cli import main
from any2capins.io.shards import ShardStore
from any2capins.models.quality import QualityRecord

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "clips"
HEAVY = ("depth", "pose", "refs", "camera")


def _sets(*extra: str) -> list[str]:
    over = [o for o in tiny_overrides() if not o.startswith("filter.enabled")]
    return [a for o in [*over, "runtime.executor=local", "camera.count=6",
                        "camera.max_side=96", "sheet.during_extract=true",
                        "sheet.thumb_height=48", *extra] for a in ("--set", o)]


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("curation-src")
    media.dark_clip(d / "dark.mp4")
    media.frozen_clip(d / "frozen.mp4")
    media.text_clip(d / "text.mp4")
    media.duplicate_copy(d / "reupload.mp4", "vp9_bear.webm")
    for name in ("vp9_bear.webm", "people_selfie_1s.mp4"):
        shutil.copy(EXAMPLES / name, d / name)
    return d


@pytest.fixture(scope="module")
def run(src: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("curation-run") / "run"
    assert main(["ingest", str(src), "--out", str(run), "--set", "runtime.executor=local",
                 "--set", "ingest.clips_per_shard=3"]) == 0
    assert main(["extract", "--run", str(run), *_sets()]) == 0
    return run


def _ids(store: ShardStore, folder: str) -> set[str]:
    from any2capins.io import fs

    return {c for i in store.shard_indices(folder)
            for c in fs.read_table(store.data_loc(folder, i), columns=["clip_id"]).column(0)
            .to_pylist()}


def _quality(run: Path) -> dict[str, QualityRecord]:
    store = ShardStore(str(run))
    rows = [r for i in store.shard_indices("quality")
            for r in store.read_shard("quality", i, QualityRecord)]
    return {Path(r.uri).stem: r for r in rows}


def test_reasons_and_duplicates(run: Path) -> None:
    q = _quality(run)
    assert q["dark"].reasons == ["dark"] and q["text"].reasons == ["text"]
    assert q["reupload"].reasons == ["duplicate"]
    assert q["reupload"].duplicate_of == q["vp9_bear"].clip_id
    # the frozen clip is one frame of the bear clip held: static, and a near-duplicate of it
    assert q["frozen"].reasons == ["static", "duplicate"]
    assert q["frozen"].duplicate_of == q["vp9_bear"].clip_id
    assert q["vp9_bear"].kept and q["people_selfie_1s"].kept
    assert not any(q[n].kept for n in ("dark", "frozen", "text", "reupload"))


def test_filtered_clips_reach_no_heavy_stage(run: Path) -> None:
    store = ShardStore(str(run))
    q = _quality(run)
    kept = {r.clip_id for r in q.values() if r.kept}
    for name in HEAVY:
        assert _ids(store, f"conditions/{name}") == kept, name
        assert store.read_errors(name) == [], name
        done = store.done_records(name)
        assert sum(d.skipped_items for d in done) == len(q) - len(kept)
        assert all(d.input_rows == d.ok_items + d.error_rows + d.skipped_items for d in done)
    # the sheet still shows a filtered clip, with its verdict
    assert (run / "sheets" / f"{q['text'].clip_id}.png").stat().st_size > 1000


def test_captions_shortprompts_and_card_leave_them_out(run: Path, capsys) -> None:
    sets = _sets("captions.backend=rules", "shortprompts.backend=rules")
    for cmd in (["captions"], ["review", "enqueue"]):
        assert main([*cmd, "--run", str(run), *sets]) == 0
    assert main(["review", "auto-accept", "--run", str(run), "--annotator", "bot",
                 "--allow-incomplete", *sets]) == 0
    for cmd in (["review", "export"], ["shortprompts"], ["export"]):
        assert main([*cmd, "--run", str(run), *sets]) == 0
    store = ShardStore(str(run))
    q = _quality(run)
    assert _ids(store, "captions/sections") == {r.clip_id for r in q.values() if r.kept}
    card = (run / "README.md").read_text()
    for reason in ("dark or mostly black", "no motion", "burned-in text", "near-duplicate"):
        assert reason in card, reason
    assert "2 of 6 clips are in the dataset" in card


def test_rerun_redoes_nothing_and_filter_runs_alone(run: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["extract", "--run", str(run), *_sets()]) == 0
    out = capsys.readouterr().out
    assert "redone" not in out and " 0 run / " in out
    assert main(["filter", "--run", str(run), *_sets()]) == 0
    assert "4 of 6 clips left out (dark 1, static 1, text 1, duplicate 2)" in \
        capsys.readouterr().out


def test_filters_off_keep_every_clip(src: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["ingest", str(src), "--out", str(run), "--set", "runtime.executor=local"]) == 0
    assert main(["extract", "--run", str(run), "--stages", "depth",
                 *_sets("filter.enabled=false")]) == 0
    store = ShardStore(str(run))
    assert not store.shard_indices("quality")
    assert sum(d.output_rows for d in store.done_records("depth")) == 6


@pytest.mark.ray
def test_on_ray_filtered_clips_are_not_even_decoded(run: Path, tmp_path: Path, monkeypatch,
                                                     ray_cluster) -> None:
    """Under Ray the gate also keeps the decode tasks away from filtered clips."""
    log = tmp_path / "decode.log"
    monkeypatch.setenv("ANY2CAPINS_DECODE_LOG", str(log))
    sets = _sets("captions.backend=rules", "runtime.executor=ray")
    assert main(["captions", "--run", str(run), "--force", *sets]) == 0
    opened = {Path(line.split(" ", 1)[1]).stem for line in log.read_text().splitlines()}
    q = _quality(run)
    assert opened == {n for n, r in q.items() if r.kept}
