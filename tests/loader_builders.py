"""A run with known condition values for the loader tests: real probed clips (so frames can be
decoded), depth maps from known float arrays, pose tracks with an absent person, cameras with
known poses (one frame not measured), crops; then the real short-prompt and export stages.
The known values are returned so tests compare the loader's tensors against them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from conditions_helpers import EXAMPLES, probe_clip
from run_builders import ClipSpec, _done, approved, refs_record
from test_shortprompts import run_shortprompts

from any2capins.conditions.depth import depth_stats
from any2capins.config import load_config
from any2capins.export.stage import ExportStage
from any2capins.io.depth_png import encode_depth_png
from any2capins.io.shards import ShardStore
from any2capins.models.camera import CameraFrame, CameraRecord
from any2capins.models.clips import ClipRecord
from any2capins.models.conditions import DepthRecord, PoseRecord, PoseTrack
from any2capins.models.review import ApprovedCaption
from any2capins.runtime import ShardTask, run_stage

COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
CLIPS = ("people_selfie_1s.mp4", "vp9_bear.webm")
T = 3


@dataclass
class Known:
    """What was written, per clip_id."""

    clips: dict[str, ClipRecord] = field(default_factory=dict)
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    pose: dict[str, PoseRecord] = field(default_factory=dict)
    camera: dict[str, CameraRecord] = field(default_factory=dict)


def rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def known_w2c(i: int) -> np.ndarray:
    """3x4 cam_from_world of frame i: frame 0 at the origin (the camera stage's convention),
    later frames turned about y and moved."""
    r = rot_y(7.0 * i)
    centre = np.array([0.3 * i, -0.1 * i, 0.2 * i])
    return np.hstack([r, (-r @ centre)[:, None]])


def _base(clip: ClipRecord, indices: list[int]) -> dict:
    return {"clip_id": clip.clip_id, "uri": clip.uri, "model": "known", "tiny_model": False,
            "frame_indices": indices, "timestamps": [round(i / clip.fps, 6) for i in indices],
            "seconds": 0.0}


def _depth(clip: ClipRecord, indices: list[int], rng: np.random.Generator,
           hw: tuple[int, int] = (12, 16)):
    maps = [(rng.random(hw) * 5 + t).astype(np.float32) for t in range(len(indices))]
    enc = [encode_depth_png(m) for m in maps]
    rec = DepthRecord(**_base(clip, indices), width=hw[1], height=hw[0],
                      depth_png=[e[0] for e in enc], scale_min=[e[1] for e in enc],
                      scale_max=[e[2] for e in enc], stats=depth_stats(maps))
    return rec, np.stack(maps)


def _pose(clip: ClipRecord, indices: list[int], rng: np.random.Generator) -> PoseRecord:
    tracks, t_len = [], len(indices)
    for tid in range(2):
        present = [i != 1 or tid == 0 for i in range(t_len)]  # person 1 is absent in frame 1
        kps = (rng.random((t_len, 17, 3)) * [clip.width, clip.height, 1]).astype(float)
        kps[~np.array(present)] = 0.0
        boxes = [[10.0, 20.0, 50.0, 90.0] if p else [0.0] * 4 for p in present]
        tracks.append(PoseTrack(track_id=tid, present=present, boxes=boxes,
                                box_scores=[0.9 if p else 0.0 for p in present],
                                keypoints=kps.tolist(), coverage=sum(present) / t_len,
                                mean_box_score=0.9, mean_keypoint_score=0.5, quality=0.3))
    return PoseRecord(**_base(clip, indices), backend="vitpose", detector="known",
                      width=clip.width, height=clip.height, keypoint_names=COCO,
                      tracks=tracks[::-1])  # stored out of order: the loader sorts by id


def _camera(clip: ClipRecord, indices: list[int]) -> CameraRecord:
    w, h = clip.width, clip.height
    frames = [CameraFrame(frame_index=fi, timestamp=round(fi / clip.fps, 6), fx=0.9 * w,
                          fy=0.9 * w, cx=w / 2 + 3, cy=h / 2 - 2,
                          cam_from_world=known_w2c(i).ravel().tolist(), registered=i != 2)
              for i, fi in enumerate(indices)]
    registered = sum(f.registered for f in frames)
    return CameraRecord(clip_id=clip.clip_id, uri=clip.uri, status="ok", width=w, height=h,
                        sfm_width=w, sfm_height=h, frames=frames, num_sampled=len(frames),
                        num_registered=registered, description="The camera pans right.",
                        seconds=0.0)


def _write(store: ShardStore, out_dir: str, stage: str, model: type, rows: list) -> None:
    store.write_shard(output_dir=out_dir, model=model, index=0, rows=rows, errors=[],
                      done=_done(stage, 0, len(rows)))


def _clips(src: Path, copies: int) -> list[ClipRecord]:
    """The bundled clips, probed; `copies` > 1 repeats them under new clip ids (benchmarks)."""
    src.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(CLIPS):
        shutil.copy(EXAMPLES / name, src / name)
        clip = probe_clip(src / name, i)
        out += [clip if k == 0 else clip.model_copy(update={"clip_id": f"{clip.clip_id[:10]}"
                                                            f"{k:06d}"}) for k in range(copies)]
    return out


def build_known_run(run: Path, tmp: Path, *, copies: int = 1, frames: int = T,
                    depth_hw: tuple[int, int] = (12, 16)) -> Known:
    """Write the run into `run` (a local folder) and return the values written. Every clip
    gets `frames` condition frames (at least 3) and depth maps of `depth_hw`."""
    known, rng = Known(), np.random.default_rng(16)
    depth, pose, camera, refs, caps = [], [], [], [], []
    for clip in _clips(tmp / "src", copies):
        idx = np.linspace(0, clip.num_frames - 1, max(3, frames)).round().astype(int)
        indices = sorted(set(idx.tolist()))
        d, maps = _depth(clip, indices, rng, depth_hw)
        known.clips[clip.clip_id], known.depth[clip.clip_id] = clip, maps
        known.pose[clip.clip_id] = _pose(clip, indices, rng)
        known.camera[clip.clip_id] = _camera(clip, indices)
        spec = ClipSpec(clip.clip_id)
        depth.append(d)
        pose.append(known.pose[clip.clip_id])
        camera.append(known.camera[clip.clip_id])
        refs.append(refs_record(spec).model_copy(update={"uri": clip.uri}))
        caps.append(approved(spec).model_copy(update={"uri": clip.uri}))
    store = ShardStore(str(run))
    _write(store, "clips", "ingest", ClipRecord, list(known.clips.values()))
    _write(store, "conditions/depth", "depth", DepthRecord, depth)
    _write(store, "conditions/pose", "pose", PoseRecord, pose)
    _write(store, "conditions/camera", "camera", CameraRecord, camera)
    _write(store, "conditions/refs", "refs", type(refs[0]), refs)
    _write(store, "review/decisions", "review", ApprovedCaption, caps)
    export(run)
    return known


def export(run: Path) -> None:
    """Short prompts (rules backend) and export, as the pipeline runs them."""
    summary = run_shortprompts(run)
    if summary.errors:
        raise RuntimeError(f"shortprompts failed on the known run: {summary}")
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false",
                           "export.test_fraction=0.5"])
    tasks = [ShardTask(index=0, input_dir="shortprompts")]
    summary = run_stage(ExportStage(cfg.export), tasks, str(run), cfg.runtime)
    if summary.errors:
        raise RuntimeError(f"export failed on the known run: {summary}")
