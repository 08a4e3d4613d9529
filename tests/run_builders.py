"""Build a run folder by hand (clips, conditions, approved captions) for the short-prompt and
export tests: real record models written through the real shard store, no models needed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from any2capins.io.shards import ShardStore
from any2capins.models.camera import CameraFrame, CameraRecord, MotionSegment
from any2capins.models.clips import ClipRecord
from any2capins.models.common import ShardDone
from any2capins.models.conditions import (
    DepthRecord,
    DepthStats,
    PoseRecord,
    PoseTrack,
    RefCrop,
    RefsRecord,
)
from any2capins.models.review import ApprovedCaption

SECTIONS_TEXT = {
    "dense": "Two children jump on a bed in a sunny bedroom while Mia laughs.",
    "main_object": "Two children in pyjamas, a girl named Mia and her younger brother.",
    "background": "A small bedroom with a white wall, a window and a wooden bed frame.",
    "camera": "The camera pans slowly left, then holds still.",
    "style": "Warm, bright home-video footage with soft daylight.",
    "action": "The children bounce up and down repeatedly, arms raised.",
}


def jpeg(color: tuple[int, int, int], size: int = 24) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), color, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@dataclass
class ClipSpec:
    clip_id: str
    depth: bool = True
    tracks: int | None = 2
    camera: str | None = "ok"
    crops: int | None = 2


def _done(stage: str, shard: int, n: int) -> ShardDone:
    now = datetime.now(UTC)
    return ShardDone(stage=stage, shard=shard, input_rows=n, ok_items=n, output_rows=n,
                     error_rows=0, started=now, finished=now, seconds=0.0, worker="test")


def clip_record(spec: ClipSpec) -> ClipRecord:
    return ClipRecord(clip_id=spec.clip_id, uri=f"/data/{spec.clip_id}.mp4", size_bytes=100,
                      content_sha256=spec.clip_id * 4, container="mov", codec="h264",
                      duration_s=4.0, fps=25.0, num_frames=100, width=64, height=48,
                      has_audio=False, probe_backend="decord")


def _base(spec: ClipSpec) -> dict:
    return {"clip_id": spec.clip_id, "uri": f"/data/{spec.clip_id}.mp4", "model": "tiny/x",
            "tiny_model": True, "frame_indices": [0, 50], "timestamps": [0.0, 2.0],
            "seconds": 0.1}


def depth_record(spec: ClipSpec) -> DepthRecord:
    stats = DepthStats(min=0, max=1, mean=0.5, std=0.1, p05=0.1, p95=0.9)
    return DepthRecord(**_base(spec), width=8, height=6, depth_png=[b"x", b"y"],
                       scale_min=[0.0, 0.0], scale_max=[1.0, 1.0], stats=stats)


def pose_record(spec: ClipSpec) -> PoseRecord:
    track = PoseTrack(track_id=0, present=[True, True], boxes=[[0, 0, 5, 5]] * 2,
                      box_scores=[0.9, 0.9], keypoints=[[[1.0, 1.0, 0.9]]] * 2, coverage=1.0,
                      mean_box_score=0.9, mean_keypoint_score=0.9, quality=0.7)
    tracks = [track.model_copy(update={"track_id": i}) for i in range(spec.tracks or 0)]
    return PoseRecord(**_base(spec), backend="vitpose", detector="tiny/det", width=64,
                      height=48, keypoint_names=["nose"], tracks=tracks)


def refs_record(spec: ClipSpec) -> RefsRecord:
    # crops in refs rank order; quality rises with the rank index, as when a subject seen in
    # most frames outranks a sharper one seen once: consumers must keep this order
    crops = [RefCrop(track_id=i, label="person", frame_index=0, timestamp=0.0,
                     box=[0, 0, 5, 5], crop_box=[0, 0, 6, 6], score=0.9, sharpness=10.0,
                     area_frac=0.1, edge_cut=False, quality=0.5 + i / 10,
                     frames_seen=2, jpeg=jpeg((200, 10 * i, 0)), crop_width=24, crop_height=24)
             for i in range(spec.crops or 0)]
    return RefsRecord(**_base(spec), width=64, height=48, crops=crops,
                      stitched_jpeg=jpeg((0, 0, 200)) if crops else None,
                      stitched_track_ids=list(range(len(crops))))


def camera_record(spec: ClipSpec) -> CameraRecord:
    frame = CameraFrame(frame_index=0, timestamp=0.0, fx=50, fy=50, cx=32, cy=24,
                        cam_from_world=[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], registered=True)
    seg = MotionSegment(label="pan left", speed="slow", start_s=0, end_s=4, rate=3.0)
    failed = spec.camera == "failed"
    return CameraRecord(clip_id=spec.clip_id, uri=f"/data/{spec.clip_id}.mp4",
                        status=spec.camera, reason="too short" if failed else "", width=64,
                        height=48, sfm_width=64, sfm_height=48,
                        frames=[] if failed else [frame], num_sampled=1,
                        num_registered=0 if failed else 1,
                        segments=[] if failed else [seg],
                        description="" if failed else "The camera pans slowly left.",
                        seconds=0.1)


def approved(spec: ClipSpec, **overrides: str) -> ApprovedCaption:
    # each clip's caption differs (identical inputs would rightly share LLM cache entries)
    texts = {**SECTIONS_TEXT, "dense": f"{SECTIONS_TEXT['dense']} It is take {spec.clip_id[:3]}.",
             **overrides}
    text = "\n".join(f"{i}. {k}: {v}" for i, (k, v) in enumerate(texts.items(), 1))
    return ApprovedCaption(clip_id=spec.clip_id, uri=f"/data/{spec.clip_id}.mp4",
                           version=f"v-{spec.clip_id}", decision="accept", reviewer="ann",
                           automatic=False, decided_at=datetime.now(UTC), decision_id=1,
                           text=text, backend="openai", model="gpt-test",
                           prompt_versions={"dense": "1+abc"}, **texts)


def build_run(run_dir: str, shards: list[list[ClipSpec]]) -> None:
    """Write clips, the four condition tables and approved captions, one shard per list."""
    store = ShardStore(run_dir)
    tables = [
        ("clips", "ingest", ClipRecord, clip_record, lambda s: True),
        ("conditions/depth", "depth", DepthRecord, depth_record, lambda s: s.depth),
        ("conditions/pose", "pose", PoseRecord, pose_record, lambda s: s.tracks is not None),
        ("conditions/camera", "camera", CameraRecord, camera_record,
         lambda s: s.camera is not None),
        ("conditions/refs", "refs", RefsRecord, refs_record, lambda s: s.crops is not None),
        ("review/decisions", "review", ApprovedCaption, approved, lambda s: True),
    ]
    for index, specs in enumerate(shards):
        for out_dir, stage, model, make, keep in tables:
            rows = [make(s) for s in specs if keep(s)]
            store.write_shard(output_dir=out_dir, model=model, index=index, rows=rows,
                              errors=[], done=_done(stage, index, len(rows)))
