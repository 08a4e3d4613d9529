"""The ingest stage: hash, probe and split each discovered video into shots, write `clips/`.

`plan_ingest` persists the source listing with its shard assignment in
`RUN_DIR/ingest/sources.parquet`, so a resumed or repeated run assigns every clip to the same
shard (no duplicates, no gaps); clips that appear later in SRC are appended as new shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from any2capins.config.ingest import IngestConfig
from any2capins.errors import DecodeError, InputError
from any2capins.ingest.layout import LISTING, read_layout
from any2capins.ingest.shots import ShotScan, detect_shots
from any2capins.ingest.sources import discover
from any2capins.io import fs
from any2capins.io.probe import ProbeResult, probe
from any2capins.io.shards import ShardStore
from any2capins.models.clips import ClipRecord, SourceRecord
from any2capins.models.tables import folder
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, ShardTask, Stage

log = logging.getLogger(__name__)


def clip_id_for(content_sha256: str, span: tuple[float, float] | None = None) -> str:
    """Deterministic clip id: content hash, plus the span when cut from a longer video."""
    if span is None:
        return content_sha256[:16]
    key = f"{content_sha256}:{span[0]:.3f}-{span[1]:.3f}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def sha256_file(path: str, chunk_mb: int = 8) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_mb << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class ProbeStage(Stage[SourceRecord, ClipRecord]):
    """Hash, probe and (with `shots.detect`) split each source file into shots: one clip row
    per kept shot, a ShotTooShort error row per dropped shot, or one error row for a file that
    cannot be read or decoded. Duplicate content is resolved after the stage, across shards
    (`ingest.duplicates`)."""

    name = "ingest"
    input_model = SourceRecord
    output_model = ClipRecord
    output_dir = folder("clips")
    fan_out = True

    def __init__(self, config: IngestConfig) -> None:
        super().__init__(config.resources)
        self.config = config

    def item_key(self, item: SourceRecord) -> tuple[str | None, str]:
        return None, item.uri

    def fingerprint(self) -> dict[str, Any]:
        # only what changes the rows (shard and read sizes never do), and the detector's version
        out: dict[str, Any] = {"shots": self.config.shots.model_dump(mode="json")}
        if out["shots"]["dense_cuts"] == "resolve":
            # added later with this default: no key, so run folders ingested before keep their
            # fingerprints (a rerun would otherwise redo ingest and, through the shard
            # identities, every stage after it); `--force` applies it to them
            del out["shots"]["dense_cuts"]
        if self.config.shots.detect:
            from importlib.metadata import PackageNotFoundError, version

            try:
                out["scenedetect"] = version("scenedetect-headless")
            except PackageNotFoundError:
                out["scenedetect"] = "missing"
        return out

    def process_batch(self, batch: Sequence[SourceRecord],
                      inputs: Inputs | None = None) -> list[list[ClipRecord | Failure]]:
        return [self._one(item) for item in batch]

    def _one(self, item: SourceRecord) -> list[ClipRecord | Failure]:
        try:
            path = fs.local_copy(item.uri)
            digest, size = sha256_file(path, self.config.hash_chunk_mb)
        except (OSError, pa.ArrowException) as exc:
            return [Failure("UnreadableFile", f"cannot read {item.uri}: {exc}")]
        if size == 0:
            return [Failure("EmptyFile", "file is empty (0 bytes)")]
        try:
            p = probe(path)
        except DecodeError as exc:
            return [Failure("DecodeError", str(exc))]
        whole = ClipRecord(clip_id=clip_id_for(digest), uri=item.uri, size_bytes=size,
                           content_sha256=digest, **_probe_fields(p))
        if not self.config.shots.detect:
            return [whole]
        try:
            scan = detect_shots(path, self.config.shots, getattr(p, "stream_index", None))
        except DecodeError as exc:
            return [Failure("ShotDetectionError", f"shot detection failed: {exc}")]
        if scan.skipped_packets:
            log.warning("%s: %d packet(s) did not decode during shot detection (skipped): %s",
                        item.uri, scan.skipped_packets, "; ".join(scan.messages))
        if scan.note:  # dense detector cuts re-examined (camera motion, flashes, dissolves)
            log.info("%s: %s", item.uri, scan.note)
        return shot_rows(whole, scan, self.config.shots.min_len_s)


def _probe_fields(p: ProbeResult) -> dict[str, Any]:
    """The probe's facts under ClipRecord's names (every field the record has)."""
    data = dataclasses.asdict(p)
    data["probe_backend"] = data.pop("backend")
    return {k: v for k, v in data.items() if k in ClipRecord.model_fields}


def shot_rows(whole: ClipRecord, scan: ShotScan, min_len_s: float) -> list[ClipRecord | Failure]:
    """One clip row per kept shot (a span clip, id from content hash + span, duration and frame
    count of the span) and a ShotTooShort failure per dropped shot. A video that stays one
    shot is the whole-file clip `whole`: no span, the id of the content hash alone."""
    if len(scan.shots) == 1 and not scan.dropped:
        return [whole]
    out: list[ClipRecord | Failure] = []
    for shot in scan.shots:
        span = (shot.start_s, shot.end_s)
        out.append(ClipRecord.model_validate({
            **whole.model_dump(), "clip_id": clip_id_for(whole.content_sha256, span),
            "span_start_s": shot.start_s, "span_end_s": shot.end_s,
            "num_frames": shot.num_frames, "duration_s": round(shot.duration_s, 6),
        }))
    for shot in scan.dropped:
        would_be = clip_id_for(whole.content_sha256, (shot.start_s, shot.end_s))
        out.append(Failure("ShotTooShort", (
            f"shot {shot.start_s:.3f}-{shot.end_s:.3f} s ({shot.num_frames} frames, "
            f"{shot.duration_s:.3f} s) is shorter than ingest.shots.min_len_s={min_len_s}; "
            f"dropped (it would have been clip {would_be})")))
    return out


def plan_ingest(src: str, run_dir: str, config: IngestConfig) -> list[ShardTask]:
    """Shard tasks for SRC, reusing (and extending) the persisted listing of RUN_DIR."""
    listing = discover(src, config.extensions)
    store = ShardStore(run_dir)
    known: dict[str, tuple[int, int]] = {}
    if store.exists(LISTING):
        table = fs.read_table(store.root.join(LISTING))
        for uri, index, shard in zip(*(table.column(c).to_pylist()
                                       for c in ("uri", "index", "shard")), strict=True):
            known[uri] = (index, shard)
    new = [u for u in listing.uris if u not in known]
    if known and new:
        log.info("%d new clip(s) since this run's last ingest; appended as new shards", len(new))
    next_index = max((i for i, _ in known.values()), default=-1) + 1
    # after every shard in use, overflow shards of long videos included (ingest/layout.py)
    used = [s for _, s in known.values()] + list(read_layout(store).values())
    next_shard = max(used, default=-1) + 1
    for k, uri in enumerate(new):
        known[uri] = (next_index + k, next_shard + k // config.clips_per_shard)
    if new or not store.exists(LISTING):
        rows = sorted(known.items(), key=lambda kv: kv[1][0])
        store.write_table(LISTING, pa.table({
            "uri": [u for u, _ in rows],
            "index": [i for _, (i, _) in rows],
            "shard": [s for _, (_, s) in rows],
        }))
    if not known:
        raise InputError(f"no clips found in {src}")
    by_shard: dict[int, list[SourceRecord]] = {}
    for uri, (index, shard) in sorted(known.items(), key=lambda kv: kv[1][0]):
        by_shard.setdefault(shard, []).append(SourceRecord(uri=uri, index=index))
    return [ShardTask(index=s, rows=tuple(rows)) for s, rows in sorted(by_shard.items())]
