"""`InstanceDecoder`: one instance row -> an item of numpy arrays and text.

Shared by `InstanceDataset` (which turns the arrays into tensors) and the Hugging Face recipe.
Condition rows are joined by clip_id from the shards the instance row's `condition_refs` name.
The decoder holds only picklable state until its first use in a process (see `ShardCache`).
"""

from __future__ import annotations

import os
from typing import Any

from any2capins.data import decode
from any2capins.data.options import CONDITION_FIELDS, DEFAULT_CAMERA_SIDE, LoaderOptions
from any2capins.data.reader import RowRef, ShardCache
from any2capins.models.captions import SECTIONS

# the export's map: instance rows name their shards from it
from any2capins.models.tables import CONDITION_TABLES, folder

Item = dict[str, Any]


class InstanceDecoder:
    """Turns one instance row into an item of numpy arrays (shared by the torch dataset and
    the Hugging Face recipe). Holds only picklable state until its first use per process."""

    def __init__(self, run: str, options: LoaderOptions) -> None:
        self.run = run
        self.options = options
        self._cache: ShardCache | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}  # handles are per process

    @property
    def cache(self) -> ShardCache:
        if self._cache is None or self._cache.pid != os.getpid():
            self._cache = ShardCache(self.run, self.options.cache_shards)
        return self._cache

    def item(self, ref: RowRef) -> Item:
        """The decoded item of the instance at `ref` (numpy arrays; see docs/loader.md)."""
        return self.decode_row(self.cache.row(ref.shard, ref.row), ref.shard)

    def decode_row(self, row: dict[str, Any], shard: str) -> Item:
        out = text_fields(row)
        refs = {r["type"]: r["path"] for r in row["condition_refs"]}
        cond_rows: dict[str, dict[str, Any] | None] = {}
        for ctype in ("depth", "pose", "camera"):
            if ctype in refs and self.options.wants(ctype):
                cond_rows[ctype] = self.cache.by_clip(refs[ctype], row["clip_id"])
        out.update(self._conditions(row, cond_rows))
        out.update(self._identity(row))
        out.update(self._frames(row, shard, cond_rows))
        return out

    def _conditions(self, row: dict[str, Any], rows: dict[str, Any]) -> Item:
        size = self.options.size
        # every item has every key (None when absent), so batches have one layout
        out: Item = dict.fromkeys(CONDITION_FIELDS["depth"] + CONDITION_FIELDS["pose"] +
                                  CONDITION_FIELDS["camera"])
        missing = [c for c, r in rows.items() if r is None]
        if rows.get("depth"):
            out.update(decode.depth(rows["depth"], size))
        if rows.get("pose"):
            p = rows["pose"]
            out.update(decode.pose(p, size))
            if self.options.pose_image:
                hw = size or (p["height"], p["width"])
                from any2capins.data.render import render_pose

                out["pose_image"] = render_pose(out["pose"], p["keypoint_names"], hw,
                                                self.options.pose_min_score,
                                                layout=p.get("keypoint_layout"))
        if rows.get("camera"):
            cam = decode.camera(rows["camera"], self.camera_hw(row))
            if cam is None:
                missing.append("camera")
            else:
                out.update(cam)
        out["missing_conditions"] = missing
        return out

    def camera_hw(self, row: dict[str, Any]) -> tuple[int, int]:
        if self.options.size is not None:
            return self.options.size
        if self.options.camera_size is not None:
            return self.options.camera_size
        w, h = row["width"], row["height"]
        scale = DEFAULT_CAMERA_SIDE / max(w, h)
        return max(1, round(h * scale)), max(1, round(w * scale))

    def _identity(self, row: dict[str, Any]) -> Item:
        if not self.options.wants("identity") or "identity" not in row["conditions"]:
            return {"ref_images": None, "ref_stitched": None, "ref_masks": None}
        stitched = row.get("ref_stitched")
        images = [decode.jpeg_rgb(b) for b in row["ref_images"] or []]
        path = {r["type"]: r["path"] for r in row["condition_refs"]}.get("identity")
        refs = self.cache.by_clip(path, row["clip_id"]) if path and images else None
        return {"ref_images": images,
                "ref_stitched": decode.jpeg_rgb(stitched) if stitched else None,
                "ref_masks": decode.ref_masks(refs, images) if images else []}

    def _frames(self, row: dict[str, Any], shard: str, rows: dict[str, Any]) -> Item:
        source = self.options.frames
        if source is None:
            return {}
        cond = rows.get(source)
        if cond is None:  # the instance does not use it: the clip's row of the same shard
            name = shard.rsplit("/", 1)[-1]
            cond = self.cache.by_clip(f"{folder(CONDITION_TABLES[source])}/{name}",
                                     row["clip_id"])
        if cond is None:
            return {"frames": None, "frames_timestamps": None,
                    "frames_error": f"the clip has no {source} row to take timestamps from"}
        from any2capins.data.video import frames_at

        indices = cond["frame_indices"] if source != "camera" else [
            f["frame_index"] for f in cond["frames"] or []]
        clip = self.cache.clip_row(shard, row["clip_id"])
        return frames_at(row["uri"], clip, indices, self.options.size, self.decode_settings)

    @property
    def decode_settings(self) -> Any:
        """The run's `decode:` section (from run.json), so the frames are the ones the
        conditions were computed from; defaults for a run folder without one."""
        if getattr(self, "_decode", None) is None:
            from any2capins.runtime.paths import run_decode_settings

            self._decode = run_decode_settings(self.run)
        return self._decode


def text_fields(row: dict[str, Any]) -> Item:
    """The text and metadata part of an item."""
    return {
        "instance_id": row["instance_id"], "clip_id": row["clip_id"], "uri": row["uri"],
        "conditions": list(row["conditions"]), "condition_set": row["condition_set"],
        "short_prompt": row["short_prompt"], "caption": row["caption_text"],
        "sections": {s: row.get(s) for s in SECTIONS}, "split": row["split"],
        "camera_status": row.get("camera_status"), "width": row["width"],
        "height": row["height"], "duration_s": row["duration_s"],
    }
