"""What the item page shows besides text: the clip's preview and its condition overlays.

`RunMedia` serves one run folder. At start it indexes `clips/` once (clip_id -> shard, reading
only the clip_id column); condition rows are then read from the same shard of each condition
table (shard N of a stage comes from shard N of clips), one row, only the columns drawn.
Previews (`io.preview`) are made on first request, once per clip even when requests race (a
lock per clip; at most `encoders` at a time), with the run's `decode:` settings from
RUN_DIR/run.json, and cached in `previews_dir` (RUN_DIR/review/previews for a local run).
Clip ids only ever come from the queue, and a file is served only for a clip of the index.

Times in the overlay JSON are the conditions' own: presentation seconds from the start of the
file's video stream. `time_offset` is the preview's first frame time: the page draws the
overlay of `t_video = currentTime + time_offset`.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from any2capins.config.sampling import DecodeSettings
from any2capins.errors import Any2CapInsError
from any2capins.io import fs
from any2capins.io.shards import ShardStore
from any2capins.models import skeleton, tables
from any2capins.models.clips import ClipRecord
from any2capins.review.errors import ReviewError

log = logging.getLogger(__name__)

_CLIP_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
DEPTH_TILE = 160  # longest side of one depth picture in the sprite
MIN_KEYPOINT_SCORE = 0.3  # keypoints drawn from this score (DWPose's, as skeleton.strokes)


class MediaError(ReviewError):
    """No preview or overlay can be served for this clip; the message says why."""

    kind = "media"


def run_decode_settings(run_dir: str) -> DecodeSettings:
    """The `decode:` settings the run's stages used (RUN_DIR/run.json), else the defaults."""
    store = ShardStore(run_dir)
    try:
        cfg = store.read_json("run.json") if store.exists("run.json") else {}
        raw = (cfg.get("config") or {}).get("decode") if isinstance(cfg, dict) else None
        return DecodeSettings.model_validate(raw) if raw else DecodeSettings()
    except (ValueError, OSError) as exc:  # unreadable run.json: the defaults, said once
        log.warning("run.json: cannot read the decode settings (%s); using the defaults", exc)
        return DecodeSettings()


class RunMedia:
    """Previews and overlays of one run's clips (thread-safe: called from the server's pool)."""

    def __init__(self, run_dir: str, previews_dir: str | Path, *, max_side: int = 480,
                 max_fps: float = 30.0, encoders: int = 2,
                 decode: DecodeSettings | None = None) -> None:
        self.run_dir = run_dir
        self.shards = ShardStore(run_dir)
        self.previews_dir = Path(previews_dir)
        self.max_side, self.max_fps = max_side, max_fps
        self.decode = decode if decode is not None else run_decode_settings(run_dir)
        self.index = self._build_index()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._encoders = threading.BoundedSemaphore(max(1, encoders))
        self._failed: dict[str, str] = {}
        self.overlays = lru_cache(maxsize=128)(self._overlays)
        self.depth_sprite = lru_cache(maxsize=32)(self._depth_sprite)

    # -- clips ------------------------------------------------------------------------------
    def _build_index(self) -> dict[str, int]:
        folder = tables.folder("clips")
        index: dict[str, int] = {}
        for shard in self.shards.shard_indices(folder):
            loc = self.shards.data_loc(folder, shard)
            for cid in fs.read_table(loc, columns=["clip_id"]).column("clip_id").to_pylist():
                index.setdefault(cid, shard)
        return index

    def clip(self, clip_id: str) -> ClipRecord:
        """The clip's row; MediaError when it is not a clip of this run."""
        if not _CLIP_ID.match(clip_id) or clip_id not in self.index:
            raise MediaError(f"clip {clip_id!r} is not in this run's clips/ table")
        row = self._row("clips", clip_id, None)
        if row is None:
            raise MediaError(f"clip {clip_id!r} vanished from clips/ since the server started")
        return ClipRecord.model_validate(row)

    def _row(self, table: str, clip_id: str, columns: list[str] | None) -> dict | None:
        shard = self.index.get(clip_id)
        if shard is None:
            return None
        loc = self.shards.data_loc(tables.folder(table), shard)
        if not fs.exists(loc):
            return None
        import pyarrow.parquet as pq

        cols = None
        if columns is not None:  # rows written before a column existed simply lack it
            present = set(pq.read_schema(loc.path, filesystem=loc.fs).names)
            cols = ["clip_id", *(c for c in columns if c in present)]
        found = pq.read_table(loc.path, filesystem=loc.fs, columns=cols,
                              filters=[("clip_id", "==", clip_id)]).to_pylist()
        return found[0] if found else None

    # -- previews ---------------------------------------------------------------------------
    def preview_path(self, clip_id: str) -> Path:
        return self.previews_dir / f"{clip_id}.mp4"

    def preview(self, clip_id: str):
        """(local path, PreviewInfo) of the clip's preview, made now if needed (one encode per
        clip however many requests wait for it). MediaError when it cannot be made."""
        from any2capins.io.preview import read_info

        path = self.preview_path(clip_id)
        info = read_info(str(path))
        if info is not None:
            return path, info
        clip = self.clip(clip_id)
        with self._lock(clip_id):
            info = read_info(str(path))  # made while this request waited
            if info is not None:
                return path, info
            if clip_id in self._failed:
                raise MediaError(self._failed[clip_id])
            with self._encoders:
                return path, self._make(clip, path)

    def _make(self, clip: ClipRecord, path: Path):
        from any2capins.io.preview import make_preview

        try:
            import av  # noqa: F401 - PyAV is part of the pipeline extra
        except ImportError as exc:
            raise MediaError(f"previews need PyAV (the pipeline extra): {exc}; or make them "
                             "on the pipeline machine: any2capins review previews") from None
        try:
            info = make_preview(clip, self.decode, str(path), max_side=self.max_side,
                                max_fps=self.max_fps)
        except (Any2CapInsError, OSError, ValueError) as exc:
            self._failed[clip.clip_id] = f"no preview for clip {clip.clip_id}: {exc}"
            log.warning("%s", self._failed[clip.clip_id])
            raise MediaError(self._failed[clip.clip_id]) from None
        log.info("preview of clip %s: %d frames, %dx%d", clip.clip_id, info.frames,
                 info.width, info.height)
        return info

    def _lock(self, clip_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(clip_id, threading.Lock())

    # -- overlays ---------------------------------------------------------------------------
    def _overlays(self, clip_id: str) -> dict[str, Any]:
        clip = self.clip(clip_id)
        out: dict[str, Any] = {"clip_id": clip_id, "width": clip.width, "height": clip.height,
                               "fps": clip.fps, "span_start_s": clip.span_start_s,
                               "span_end_s": clip.span_end_s}
        out["pose"] = pose_overlay(self._row("conditions.pose", clip_id, [
            "timestamps", "width", "height", "keypoint_names", "keypoint_layout", "tracks",
            "tiny_model"]))
        out["refs"] = refs_overlay(self._row("conditions.refs", clip_id,
                                             ["width", "height", "crops"]))
        out["camera"] = camera_overlay(self._row("conditions.camera", clip_id, [
            "status", "description", "frames", "segments"]))
        depth = self._row("conditions.depth", clip_id, ["timestamps", "width", "height"])
        out["depth"] = None if depth is None else {
            "timestamps": depth["timestamps"], "count": len(depth["timestamps"]),
            "tile": list(_tile_size(depth["width"], depth["height"]))}
        return out

    def _depth_sprite(self, clip_id: str) -> bytes | None:
        row = self._row("conditions.depth", clip_id, ["depth_png", "scale_min", "scale_max",
                                                      "width", "height"])
        return None if row is None else depth_sprite(row)


def pose_overlay(row: dict | None) -> dict | None:
    """Tracks to draw (boxes and keypoints per sampled time) and the skeleton of the row's
    keypoint layout."""
    if row is None:
        return None
    return {
        "timestamps": row["timestamps"], "width": row["width"], "height": row["height"],
        "keypoint_names": row["keypoint_names"], "tiny_model": row["tiny_model"],
        "skeleton": skeleton_payload(row["keypoint_names"], row.get("keypoint_layout")),
        "tracks": [{"track_id": t["track_id"], "present": t["present"],
                    "boxes": [[round(v, 1) for v in b] for b in t["boxes"]],
                    "keypoints": [[[round(x, 1), round(y, 1), round(s, 2)] for x, y, s in frame]
                                  for frame in t["keypoints"]]}
                   for t in row["tracks"]],
    }


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def skeleton_payload(names: list[str], declared: str | None) -> dict[str, Any]:
    """How the page draws one person, from the project's one skeleton definition
    (`models.skeleton`, as the contact sheet and the raster renderer): the OpenPose-18 body
    built from the COCO body keypoints (neck = the shoulders' midpoint) with its coloured limbs,
    the feet and hands as thin coloured lines, face points as white dots. Positions index the
    row's keypoint list (-1: the list lacks that keypoint); keypoints of no known part are
    drawn as plain dots."""
    layout = skeleton.layout_for(names, declared)
    parts = [(layout.feet, skeleton.FOOT_LIMBS, skeleton.FOOT_COLOURS),
             *((hand, skeleton.HAND_LIMBS, skeleton.HAND_COLOURS) for hand in layout.hands)]
    return {
        "layout": layout.name, "body": list(layout.body),
        "openpose_from_coco": list(skeleton.OPENPOSE_FROM_COCO),
        "body_limbs": [list(limb) for limb in skeleton.BODY_LIMBS],
        "body_colours": [_hex(c) for c in skeleton.BODY_COLOURS],
        "parts": [{"idx": list(idx), "limbs": [list(limb) for limb in limbs],
                   "colours": [_hex(c) for c in colours]}
                  for idx, limbs, colours in parts if idx and min(idx) >= 0],
        "face": [i for i in layout.face if i >= 0],
        "joint_colour": _hex(skeleton.HAND_JOINT), "face_colour": _hex(skeleton.FACE_POINT),
        "min_score": MIN_KEYPOINT_SCORE,
    }


def refs_overlay(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {"width": row["width"], "height": row["height"],
            "crops": [{"rank": i + 1, "track_id": c["track_id"], "label": c["label"],
                       "box": c["box"], "timestamp": c["timestamp"]}
                      for i, c in enumerate(row["crops"])]}


def camera_overlay(row: dict | None) -> dict | None:
    """Camera centres (C = -R^T t, in the first camera's frame) for a top view of the path,
    with the motion words and their time segments."""
    if row is None:
        return None
    frames = row["frames"]
    centres = []
    for f in frames:
        m = np.asarray(f["cam_from_world"], dtype=float).reshape(3, 4)
        centres.append([round(float(v), 5) for v in -m[:, :3].T @ m[:, 3]])
    return {"status": row["status"], "description": row["description"],
            "timestamps": [f["timestamp"] for f in frames], "centres": centres,
            "segments": [{"label": s["label"], "speed": s["speed"], "start_s": s["start_s"],
                          "end_s": s["end_s"]} for s in row["segments"]]}


def _tile_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, DEPTH_TILE / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def depth_sprite(row: dict) -> bytes:
    """The depth maps side by side as one 8-bit PNG (one tile per sampled frame), restored
    with their scales and normalised over the whole clip (brighter = nearer), so the tiles
    compare with each other."""
    from PIL import Image

    maps = []
    for png, lo, hi in zip(row["depth_png"], row["scale_min"], row["scale_max"], strict=True):
        levels = np.asarray(Image.open(io.BytesIO(png)), dtype=np.float32)
        maps.append(lo + levels / 65535.0 * (hi - lo))
    if not maps:
        raise MediaError("the depth row holds no frames")
    lo, hi = min(float(m.min()) for m in maps), max(float(m.max()) for m in maps)
    tile = _tile_size(row["width"], row["height"])
    sheet = Image.new("L", (tile[0] * len(maps), tile[1]))
    for k, m in enumerate(maps):
        gray = ((m - lo) / (hi - lo or 1.0) * 255).clip(0, 255).astype(np.uint8)
        sheet.paste(Image.fromarray(gray).resize(tile, Image.Resampling.BILINEAR),
                    (k * tile[0], 0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def preview_summary(media: RunMedia) -> dict[str, Any]:
    """How many of the run's clips have a preview already (for the dashboard)."""
    made = sum(1 for cid in media.index if media.preview_path(cid).is_file())
    return {"clips": len(media.index), "previews": made}

