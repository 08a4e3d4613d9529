"""Shards of bounded size: the shots of a long video spread over several clips/ shards with
deterministic names; reruns keep them byte for byte; new sources come after them; a source
redone with fewer shots leaves its surplus shards empty, never stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from shots_media import multi_shot

from any2capins.config import load_config
from any2capins.ingest.layout import read_layout
from any2capins.ingest.run import run_ingest
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord

LENGTHS = [20] * 7  # 7 shots of 0.8 s
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "clips"


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("layout") / "src"
    src.mkdir()
    multi_shot(src / "long.mp4", LENGTHS)
    shutil.copy(EXAMPLES / "vp9_bear.webm", src / "bear.webm")
    return src


def _ingest(src: Path, run: Path, *extra: str, force: bool = False):
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false",
                           "ingest.clips_per_shard=3", "ingest.shots.min_len_s=0.3", *extra])
    return run_ingest(str(src), str(run), cfg, force=force)


def _shards(run: Path) -> dict[int, list[str]]:
    store = ShardStore(str(run))
    return {i: [c.clip_id for c in store.read_shard("clips", i, ClipRecord)]
            for i in store.shard_indices("clips")}


def _records(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "_done" / "ingest").glob("*.json"))}


def test_long_video_spreads_over_bounded_shards(long_video: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = _ingest(long_video, run)
    shards = _shards(run)
    ids = [c for rows in shards.values() for c in rows]
    assert len(ids) == len(set(ids)) == len(LENGTHS) + 1  # 7 shots + the bear, each once
    assert len(shards) == -(-len(ids) // 3) and all(len(r) <= 3 for r in shards.values())
    store = ShardStore(str(run))
    done = {d.shard: d for d in store.done_records("ingest")}
    assert set(done) == set(shards)
    assert sum(d.input_rows for d in done.values()) == 2  # two source files, counted once
    assert sum(d.output_rows for d in done.values()) == len(ids)
    assert {d.part_of for i, d in done.items() if i != 0} == {0}
    assert read_layout(store) == {(0, 1): 1, (0, 2): 2}
    assert sum(v.clips for v in out.videos) == len(ids)
    before = _records(run)
    _ingest(long_video, run)  # a rerun rewrites nothing: later stages redo nothing
    assert _records(run) == before


def test_new_sources_come_after_and_fewer_shots_leave_empty_shards(long_video: Path,
                                                                  tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(long_video, src)
    run = tmp_path / "run"
    _ingest(src, run)
    shutil.copy(EXAMPLES / "people_selfie_1s.mp4", src / "selfie.mp4")
    _ingest(src, run)
    shards = _shards(run)
    assert max(shards) == 3 and len(shards[3]) == 1  # after the overflow shards 1 and 2
    # shot detection off: the long video is one clip now; its overflow shards empty out
    _ingest(src, run, "ingest.shots.detect=false", force=True)
    shards = _shards(run)
    assert shards[1] == [] and shards[2] == []
    ids = [c for rows in shards.values() for c in rows]
    assert len(ids) == len(set(ids)) == 3
