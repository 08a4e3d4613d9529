"""Ingest on real fixtures: probe values against PyAV, bad input as error rows, manifests."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import pyav_facts, write_clip

from any2capins.config import load_config
from any2capins.errors import InputError
from any2capins.ingest.run import run_ingest
from any2capins.ingest.sources import discover
from any2capins.ingest.stage import sha256_file
from any2capins.io.shards import ShardStore
from any2capins.models import ClipRecord

LOCAL = ["runtime.executor=local", "runtime.progress=false"]


def ingest(src: str | Path, run: Path, *overrides: str):
    """The ingest command's path (stage, duplicates, per-video table); its stage summary."""
    cfg = load_config([], [*LOCAL, *overrides])
    return run_ingest(str(src), str(run), cfg).summary


@pytest.mark.parametrize(
    "name",
    ["people_bedroom_kids_jumping.mp4", "people_his_girl_friday_pd.mp4", "vp9_bear.webm",
     "vp8_flower_cc0.webm", "people_selfie_1s.mp4"],
)
def test_probe_matches_pyav(tmp_path: Path, example_clips: Path, name: str) -> None:
    src = example_clips / name
    summary = ingest(src, tmp_path / "run")
    assert (summary.items, summary.outputs, summary.errors) == (1, 1, 0)
    (rec,) = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    ref = pyav_facts(src)
    assert rec.num_frames == ref["num_frames"]
    assert rec.fps == pytest.approx(ref["fps"], rel=1e-3)
    assert (rec.width, rec.height) == (ref["width"], ref["height"])
    assert rec.codec == ref["codec"]
    assert rec.has_audio == ref["has_audio"]
    assert rec.duration_s == pytest.approx(ref["num_frames"] / ref["fps"], rel=1e-3)
    digest, size = sha256_file(str(src))
    assert rec.size_bytes == size == src.stat().st_size
    assert rec.clip_id == digest[:16]


def test_bad_files_become_error_rows_and_counts_add_up(tmp_path: Path, mixed_src: Path) -> None:
    summary = ingest(mixed_src, tmp_path / "run", "ingest.clips_per_shard=2")
    store = ShardStore(str(tmp_path / "run"))
    clips = store.read_all("clips", ClipRecord)
    errors = store.read_errors("ingest")
    assert summary.items == 6 == len(clips) + len(errors)
    assert sorted(Path(c.uri).name for c in clips) == ["bear.webm", "mjpeg.avi"]
    by_name = {Path(e.uri).name: e for e in errors}
    assert set(by_name) == {"corrupt.webm", "zero.mp4", "notavideo.mp4", "truncated.mp4"}
    assert by_name["zero.mp4"].error_class == "EmptyFile"
    for name in ("corrupt.webm", "notavideo.mp4", "truncated.mp4"):
        assert by_name[name].error_class == "DecodeError", by_name[name]
        assert "Traceback" not in by_name[name].message
    # every shard has its completion record with the same counts
    done = store.done_records("ingest")
    assert sum(d.input_rows for d in done) == 6
    assert sum(d.error_rows for d in done) == 4


def test_unreadable_file_is_an_error_row(tmp_path: Path, example_clips: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(example_clips / "vp9_bear.webm", src / "ok.webm")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"uri\n{src / 'ok.webm'}\n{tmp_path / 'gone.webm'}\n")
    summary = ingest(manifest, tmp_path / "run")
    errors = ShardStore(str(tmp_path / "run")).read_errors("ingest")
    assert summary.outputs == 1
    assert [e.error_class for e in errors] == ["UnreadableFile"]
    assert "gone.webm" in errors[0].message


def test_rotation_metadata_is_honoured(tmp_path: Path) -> None:
    frames = np.zeros((6, 32, 64, 3), np.uint8)
    frames[:, :16, :16, 0] = 255
    clip = write_clip(tmp_path / "rot.mp4", frames, rotation=90)
    ingest(clip, tmp_path / "run")
    (rec,) = ShardStore(str(tmp_path / "run")).read_all("clips", ClipRecord)
    assert rec.rotation == 90
    assert (rec.width, rec.height) == (32, 64)  # display size, portrait


def test_manifests_csv_and_parquet(tmp_path: Path, example_clips: Path) -> None:
    names = ["vp9_bear.webm", "people_selfie_1s.mp4"]
    csv_path = tmp_path / "m.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uri", "note"])
        for n in names:
            w.writerow([str(example_clips / n), "x"])
        w.writerow([str(example_clips / names[0]), "duplicate"])
    listing = discover(str(csv_path), [])
    assert listing.uris == sorted(str(example_clips / n) for n in names)
    assert listing.duplicates == [str(example_clips / names[0])]
    pq_path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"uri": [str(example_clips / n) for n in names]}), pq_path)
    assert discover(str(pq_path), []).uris == listing.uris


def test_manifest_relative_paths_resolve_against_its_folder(tmp_path: Path, example_clips: Path):
    shutil.copy(example_clips / "vp9_bear.webm", tmp_path / "bear.webm")
    (tmp_path / "m.csv").write_text("uri\nbear.webm\n")
    assert discover(str(tmp_path / "m.csv"), []).uris == [str(tmp_path / "bear.webm")]


def test_manifest_without_uri_column_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path\na.mp4\n")
    with pytest.raises(InputError, match=r"no 'uri' column.*path"):
        discover(str(tmp_path / "m.csv"), [])


def test_glob_and_missing_sources(tmp_path: Path, example_clips: Path) -> None:
    uris = discover(str(example_clips / "*.webm"), []).uris
    assert [Path(u).name for u in uris] == ["vp8_flower_cc0.webm", "vp9_bear.webm"]
    with pytest.raises(InputError, match="not found"):
        discover(str(tmp_path / "nope"), [".mp4"])
    with pytest.raises(InputError, match="matched no files"):
        discover(str(tmp_path / "*.mp4"), [".mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video files"):
        discover(str(tmp_path / "empty"), [".mp4"])


def test_listing_is_persisted_and_new_clips_append(tmp_path: Path, example_clips: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(example_clips / "vp9_bear.webm", src / "a.webm")
    shutil.copy(example_clips / "people_selfie_1s.mp4", src / "b.mp4")
    run = tmp_path / "run"
    first = ingest(src, run, "ingest.clips_per_shard=1")
    assert (first.shards_run, first.outputs) == (2, 2)
    shutil.copy(example_clips / "vp8_flower_cc0.webm", src / "0_first_in_sort_order.webm")
    # a changed clips_per_shard must not reshuffle shards that exist
    second = ingest(src, run, "ingest.clips_per_shard=5")
    assert (second.shards_run, second.shards_skipped, second.outputs) == (1, 2, 1)
    clips = ShardStore(str(run)).read_all("clips", ClipRecord)
    assert sorted(Path(c.uri).name for c in clips) == [
        "0_first_in_sort_order.webm", "a.webm", "b.mp4"]
    assert len({c.clip_id for c in clips}) == 3
