"""Builders for the review server's tests and benchmark: a run folder with real clips, their
condition rows written by hand (no model runs) and merged captions in the queue; the real app
served by uvicorn on 127.0.0.1 in a thread; a small HTTP client that keeps the session cookie."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from review_helpers import make_caption, write_merged

from any2capins.config.review import ReviewConfig
from any2capins.io.shards import ShardStore
from any2capins.models import tables
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
from any2capins.review.enqueue import enqueue
from any2capins.review.store import ReviewStore

ROOT = Path(__file__).resolve().parents[1]
SELFIE = ROOT / "examples" / "clips" / "people_selfie_1s.mp4"
COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
# a standing person in unit box coordinates (x right, y down), COCO order
_BODY = [(0.5, 0.1), (0.47, 0.08), (0.53, 0.08), (0.44, 0.1), (0.56, 0.1), (0.38, 0.25),
         (0.62, 0.25), (0.33, 0.42), (0.67, 0.42), (0.3, 0.58), (0.7, 0.58), (0.42, 0.6),
         (0.58, 0.6), (0.41, 0.78), (0.59, 0.78), (0.4, 0.97), (0.6, 0.97)]


def probe_record(path: Path, clip_id: str, **span: float) -> ClipRecord:
    """A ClipRecord of a real file, as ingest writes it (probed with the project's probe)."""
    from any2capins.io.probe import probe

    r = probe(str(path))
    return ClipRecord(clip_id=clip_id, uri=str(path), size_bytes=path.stat().st_size,
                      content_sha256="0" * 64, container=r.container, codec=r.codec,
                      duration_s=r.duration_s, fps=r.fps, num_frames=r.num_frames,
                      width=r.width, height=r.height, rotation=r.rotation,
                      has_audio=r.has_audio, probe_backend="pyav", stream_index=r.stream_index,
                      **span)


def _times(clip: ClipRecord, n: int) -> tuple[list[int], list[float]]:
    start = clip.span_start_s or 0.0
    step = clip.duration_s / n
    return list(range(n)), [round(start + (k + 0.5) * step, 4) for k in range(n)]


def _base(clip: ClipRecord, n: int) -> dict:
    indices, times = _times(clip, n)
    return {"clip_id": clip.clip_id, "uri": clip.uri, "model": "hand-made", "tiny_model": False,
            "frame_indices": indices, "timestamps": times, "seconds": 0.0}


def pose_row(clip: ClipRecord, n: int = 8) -> PoseRecord:
    """One person whose head and shoulders fill the frame (as in the selfie clip), drifting
    right over the clip; keypoints below the frame are kept, as pose models give them."""
    w, h = clip.width, clip.height
    frames, boxes = [], []
    for k in range(n):
        x0, y0, bw, bh = w * (0.05 + 0.01 * k), h * 0.3, w * 0.9, h * 2.0
        frame = [[x0 + u * bw, y0 + v * bh, 0.9] for u, v in _BODY]
        xs, ys = [p[0] for p in frame], [p[1] for p in frame]
        frames.append(frame)
        boxes.append([max(0.0, min(xs)), max(0.0, min(ys) - 0.1 * h), min(w, max(xs)),
                      min(h, max(ys))])
    track = PoseTrack(track_id=0, present=[True] * n, boxes=boxes, box_scores=[0.9] * n,
                      keypoints=frames, coverage=1.0, mean_box_score=0.9,
                      mean_keypoint_score=0.9, quality=0.8)
    return PoseRecord(**_base(clip, n), backend="vitpose", detector="hand-made", width=w,
                      height=h, keypoint_names=COCO, tracks=[track])


def depth_row(clip: ClipRecord, n: int = 4) -> DepthRecord:
    pngs = []
    for k in range(n):
        ramp = (np.linspace(0, 65535, 32)[None, :] * np.ones((24, 1)) * (k + 1) / n)
        buf = io.BytesIO()
        Image.fromarray(ramp.astype(np.uint16)).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    stats = DepthStats(min=0, max=1, mean=0.5, std=0.2, p05=0.05, p95=0.95)
    return DepthRecord(**_base(clip, n), width=32, height=24, depth_png=pngs,
                       scale_min=[0.0] * n, scale_max=[1.0] * n, stats=stats)


def refs_row(clip: ClipRecord) -> RefsRecord:
    _, times = _times(clip, 3)
    box = [clip.width * 0.3, clip.height * 0.12, clip.width * 0.7, clip.height * 0.97]
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buf, format="JPEG")
    crop = RefCrop(track_id=0, label="person", frame_index=1, timestamp=times[1], box=box,
                   crop_box=box, score=0.9, sharpness=10.0, area_frac=0.3, edge_cut=False,
                   quality=0.7, frames_seen=3, jpeg=buf.getvalue(), crop_width=16,
                   crop_height=16)
    return RefsRecord(**_base(clip, 3), width=clip.width, height=clip.height, crops=[crop],
                      stitched_jpeg=buf.getvalue(), stitched_track_ids=[0])


def camera_row(clip: ClipRecord, n: int = 4) -> CameraRecord:
    _, times = _times(clip, n)
    frames = [CameraFrame(frame_index=k, timestamp=times[k], fx=clip.width, fy=clip.width,
                          cx=clip.width / 2, cy=clip.height / 2,
                          cam_from_world=[1, 0, 0, -0.1 * k, 0, 1, 0, 0, 0, 0, 1, -0.05 * k],
                          registered=True) for k in range(n)]
    seg = MotionSegment(label="truck right", speed="slow", start_s=times[0], end_s=times[-1],
                        rate=2.0)
    return CameraRecord(clip_id=clip.clip_id, uri=clip.uri, status="ok", width=clip.width,
                        height=clip.height, sfm_width=clip.width, sfm_height=clip.height,
                        frames=frames, num_sampled=n, num_registered=n, segments=[seg],
                        description="The camera trucks slowly right.", seconds=0.0)


def _done(stage: str, n: int) -> ShardDone:
    now = datetime.now(UTC)
    return ShardDone(stage=stage, shard=0, input_rows=n, ok_items=n, output_rows=n, error_rows=0,
                     started=now, finished=now, seconds=0.0, worker="test")


@dataclass
class WebRun:
    run: Path
    clips: list[ClipRecord]
    queue_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.queue_path = self.run / "review" / "queue.sqlite"

    def store(self, **kwargs) -> ReviewStore:
        return ReviewStore(self.queue_path, **kwargs)


def build_web_run(run: Path, clips: Sequence[ClipRecord], *, conditions: bool = True,
                  captions: dict[str, dict[str, str]] | None = None,
                  extra_items: int = 0) -> WebRun:
    """clips/ (one shard), condition rows of every clip (`conditions`), merged captions of
    every clip (section texts overridden by `captions[clip_id]`) plus `extra_items` captions
    of clips without a row in clips/, all enqueued."""
    store = ShardStore(str(run))
    rows = {"clips": (ClipRecord, list(clips), "ingest")}
    if conditions:
        rows.update({
            "conditions.pose": (PoseRecord, [pose_row(c) for c in clips], "pose"),
            "conditions.depth": (DepthRecord, [depth_row(c) for c in clips], "depth"),
            "conditions.refs": (RefsRecord, [refs_row(c) for c in clips], "refs"),
            "conditions.camera": (CameraRecord, [camera_row(c) for c in clips], "camera"),
        })
    for table, (model, records, stage) in rows.items():
        store.write_shard(output_dir=tables.folder(table), model=model, index=0, rows=records,
                          errors=[], done=_done(stage, len(records)))
    merged = []
    for c in clips:
        caption = make_caption(c.clip_id)
        if captions and c.clip_id in captions:
            caption = caption.model_copy(update=captions[c.clip_id])
        merged.append(caption)
    merged += [make_caption(f"noclip{k:05d}") for k in range(extra_items)]
    write_merged(run, {0: merged})
    web = WebRun(run, list(clips))
    with web.store() as queue:
        enqueue(queue, [(0, merged)], "all")
    return web


def make_context(web: WebRun, cfg: ReviewConfig | None = None, clock=None):
    from any2capins.review.web.serve import build_context

    return build_context(str(web.run), cfg or ReviewConfig(), web.queue_path, clock=clock)


class ServerThread:
    """The real app under uvicorn on 127.0.0.1, on a port the OS picked."""

    def __init__(self, app) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="info", access_log=True, lifespan="off",
                                log_config=None, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the review server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Client:
    """HTTP/1.1 to the server with one connection, the session cookie and the CSRF token
    kept as a browser page would."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.cookie: str | None = None
        self.csrf: str | None = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: object = None, *, csrf: bool = True,
                headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        head = {"Accept": "application/json", **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            head["Content-Type"] = "application/json"
        if self.cookie:
            head["Cookie"] = f"a2c_session={self.cookie}"
        if csrf and self.csrf and method == "POST":
            head.setdefault("X-CSRF-Token", self.csrf)
        try:
            self.conn.request(method, path, body=data, headers=head)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()  # the server closed a kept-alive connection: once more
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=head)
            response = self.conn.getresponse()
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                      response.read())
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("a2c_session="):
                cookie = value.split(";", 1)[0].split("=", 1)[1].strip('"')
                self.cookie = cookie or None
        return reply

    def login(self, token: str) -> Reply:
        reply = self.request("POST", "/api/login", {"token": token})
        if reply.status == 200:
            self.csrf = reply.json()["csrf"]
        return reply

    def close(self) -> None:
        self.conn.close()
