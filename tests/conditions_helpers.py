"""Helpers for the condition-stage tests: tiny models (built once per test process) and run
folders with `clips/` shards made from bundled clips plus one undecodable clip."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from any2capins.config.ingest import IngestConfig
from any2capins.ingest.stage import ProbeStage
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord, SourceRecord
from any2capins.models.common import ShardDone

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "clips"
SMALL_CLIPS = ("people_selfie_1s.mp4", "vp9_bear.webm")


@lru_cache(maxsize=1)
def tiny_models() -> dict[str, str]:
    """Tiny random models, written once per process (via the same code as `models tiny`)."""
    from any2capins.conditions.models_tiny import write_tiny_models
    from any2capins.curation.embedding import tiny_clip

    root = tempfile.mkdtemp(prefix="a2c-tiny-")
    atexit.register(shutil.rmtree, root, True)
    return write_tiny_models(Path(root), extra={"clip": tiny_clip})


def tiny_overrides() -> list[str]:
    """`--set` overrides running every condition stage on tiny models, small and fast."""
    m = tiny_models()
    det = ["threshold=0.3", "max_detections=3", "input_size=160", "frame_batch=4"]
    return [
        "runtime.progress=false",
        f"depth.model={m['depth']}", "depth.input_size=70", "depth.store_max_side=64",
        "depth.sampling.fps=4",
        f"pose.detector.model={m['detector']}", f"pose.vitpose.model={m['vitpose']}",
        f"pose.dwpose.model={m['dwpose']}",
        "pose.sampling.fps=4", "pose.sampling.max_frames=48", "pose.sampling.max_side=320",
        *(f"pose.detector.{d}" for d in det),
        # refs samples what pose samples: one detection pass per clip serves both
        f"refs.detector.model={m['detector']}", "refs.min_box_frac=0", "refs.sampling.fps=4",
        "refs.sampling.count=null", "refs.sampling.max_frames=48", "refs.sampling.max_side=320",
        *(f"refs.detector.{d}" for d in det),
        f"refs.sam2.model={m['sam2']}",
        # the curation filters have tests of their own (test_curation_*.py): off here, so the
        # synthetic fixture clips reach every condition stage
        "filter.enabled=false", f"filter.embedding.model={m['clip']}",
    ]


def probe_clip(path: Path, index: int = 0) -> ClipRecord:
    (rows,) = ProbeStage(IngestConfig()).process_batch([SourceRecord(uri=str(path), index=index)])
    res = rows[0]  # ingest fans out (one row per shot): the bundled clips are single shots
    if not isinstance(res, ClipRecord):
        raise RuntimeError(f"probe failed for {path}: {res}")
    return res


def write_clips(run_dir: Path, shards: list[list[ClipRecord]]) -> None:
    """Write `clips/` shards (with ingest completion records) as ingest would."""
    store = ShardStore(str(run_dir))
    now = datetime.now(UTC)
    for i, rows in enumerate(shards):
        done = ShardDone(stage="ingest", shard=i, input_rows=len(rows), ok_items=len(rows),
                         output_rows=len(rows),
                         error_rows=0, started=now, finished=now, seconds=0.0, worker="test")
        store.write_shard(output_dir="clips", model=ClipRecord, index=i, rows=rows, errors=[],
                          done=done)


def make_run(tmp: Path, *, bad: bool = True, names: tuple[str, ...] = SMALL_CLIPS) -> Path:
    """A run folder with one shard of good clips; `bad` adds a clip whose file is not a video
    (its metadata copied from a good clip, so only decoding fails)."""
    run = tmp / "run"
    src = tmp / "src"
    src.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, name in enumerate(names):
        shutil.copy(EXAMPLES / name, src / name)
        clips.append(probe_clip(src / name, i))
    if bad:
        broken = src / "broken.mp4"
        broken.write_bytes(b"not a video at all\n" * 50)
        clips.append(clips[0].model_copy(update={"clip_id": "badbadbadbadbad0",
                                                 "uri": str(broken)}))
    write_clips(run, [clips])
    return run


def batch_inputs(stage, clips: list[ClipRecord], run: Path, index: int = 0):
    """What the runtime hands `stage.process_batch` for `clips` of shard `index` of `run`:
    their frames (one decode per clip) and side-table rows, without setting the stage up (tests
    that put a scripted model in place first)."""
    from any2capins.config.sampling import DecodeSettings
    from any2capins.io.shards import ShardStore
    from any2capins.runtime.frames import DecodeStats, InlineFrames
    from any2capins.runtime.inputs import Inputs, ShardTables
    from any2capins.runtime.shard import side_columns

    tables = ShardTables(ShardStore(str(run)), index, *side_columns([stage]))
    frames = {}
    if stage.frames() is not None:
        source = InlineFrames({c.clip_id: c for c in clips},
                              {c.clip_id: {stage.name: stage.frames()} for c in clips},
                              DecodeSettings(), DecodeStats())
        frames = source.get([c.clip_id for c in clips])
        source.close()
    return Inputs(stage.name, index, tables, frames, {})
