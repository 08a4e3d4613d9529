"""The per-clip frame plan of `extract`: every selected stage's frames from ONE decode pass.

Each condition stage (and the contact sheet) states what it needs as a `FrameRequest` (its
sample rate or count, frame cap and resolution). `decode_clip_plan` opens the clip once and
serves all requests in one forward pass (`io.frames.decode_plan`); the result, a `ClipPlan`,
is split per worker group and handed to the stages as their shard's `ShardFrames` context.

Pose and reference crops share one request (the pose grid, at the larger of the two
resolutions) when they share a detector, so the detector runs once per frame and both stages
see the same boxes (`ShardFrames.detections`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from any2capins.errors import DecodeError
from any2capins.io.frames import FrameRequest, SampledFrames

SHEET = "sheet"


@dataclass
class ClipPlan:
    """What the one decode pass of a clip produced: frames per request name, or why it
    failed (`error`, the decoder's message). `seconds` is the decode wall time."""

    frames: dict[str, SampledFrames] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def subset(self, names: set[str]) -> ClipPlan:
        return ClipPlan({k: v for k, v in self.frames.items() if k in names}, self.error,
                        self.seconds)

    @property
    def nbytes(self) -> int:
        """Bytes held by the decoded frames of every request (the plan's memory)."""
        return sum(int(s.frames.nbytes) for s in self.frames.values())


@dataclass
class ShardFrames:
    """A shard's side input during extract: per clip id, its `ClipPlan` (or a Ray ObjectRef to
    it), the request-name aliases (refs -> pose when they share frames) and the detections
    computed once per clip and shared by the stages of one worker."""

    plans: dict[str, Any]
    aliases: dict[str, str] = field(default_factory=dict)
    detections: dict[str, Any] = field(default_factory=dict)
    # False: pose and refs do not share detections; else the labels the shared pass keeps
    # (None = every class), see `detect.shared_detections`
    detect_labels: list[str] | bool | None = False
    _resolved: tuple[str, ClipPlan] | None = None

    def has(self, clip_id: str) -> bool:
        return clip_id in self.plans

    def plan(self, clip_id: str) -> ClipPlan:
        """The clip's plan; an ObjectRef is fetched (zero-copy from the node's object store)
        and the last one kept, so the stages of one worker do not fetch it twice in a row."""
        if self._resolved is not None and self._resolved[0] == clip_id:
            return self._resolved[1]
        value = self.plans[clip_id]
        if not isinstance(value, ClipPlan):
            import ray

            value = ray.get(value)
        self._resolved = (clip_id, value)
        return value

    def frames(self, clip_id: str, request: str) -> SampledFrames:
        """Frames of `request` for the clip; DecodeError (the decoder's message) when the
        clip's decode pass failed."""
        plan = self.plan(clip_id)
        if plan.error is not None:
            raise DecodeError(plan.error)
        name = self.aliases.get(request, request)
        if name not in plan.frames:
            raise DecodeError(f"no frames were planned for {request!r}")
        return plan.frames[name]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_resolved"] = None  # never ship fetched frames along with the references
        return state


def people_request(config: Any, shared: bool) -> FrameRequest:
    """The pose request; when refs shares it, at the larger of the two resolutions (None, full
    size, wins)."""
    request = config.pose.sampling.request()
    if not shared:
        return request
    sides = (config.pose.sampling.max_side, config.refs.sampling.max_side)
    return replace(request, max_side=None if None in sides else max(sides))


def shares_detector(config: Any, names: list[str]) -> bool:
    """Pose and refs share detections when both run and their detector settings, device and
    dtype are equal (else each runs its own detector on its own frames)."""
    if not {"pose", "refs"} <= set(names):
        return False
    pose, refs = config.pose, config.refs
    return (pose.detector == refs.detector and pose.device == refs.device
            and pose.dtype == refs.dtype)


def frame_requests(config: Any, names: list[str], *, sheet: bool) -> dict[str, FrameRequest]:
    """The requests of the selected stages (and the sheet), by request name."""
    out: dict[str, FrameRequest] = {}
    if "depth" in names:
        out["depth"] = config.depth.sampling.request()
    shared = shares_detector(config, names)
    if "pose" in names:
        out["pose"] = people_request(config, shared)
    if "refs" in names and not shared:
        out["refs"] = config.refs.sampling.request()
    if "camera" in names:
        cam = config.camera  # decoded at twice the SfM size, then area-downscaled (camera stage)
        out["camera"] = FrameRequest(fps=cam.fps, count=None if cam.fps else cam.count,
                                     max_frames=cam.max_frames, max_side=2 * cam.max_side)
    if sheet:
        out[SHEET] = sheet_request(config.sheet)
    return out


def sheet_request(cfg: Any) -> FrameRequest:
    """The contact sheet's thumbnails: `frames` spread over the clip, at thumbnail size (the
    longest side covers a 16:9 thumbnail of `thumb_height`)."""
    return FrameRequest(count=cfg.frames, max_frames=cfg.frames,
                        max_side=max(16, round(cfg.thumb_height * 16 / 9)))


def decode_clip_plan(clip: Any, requests: Mapping[str, FrameRequest], settings: Any = None,
                     *, cache_dir: str | None = None) -> ClipPlan:
    """Decode `clip` once for all `requests`. Never raises: a clip that cannot be read or
    decoded gives a plan with `error` set, which each stage turns into its error row."""
    from any2capins.conditions.common import CACHE_DIR
    from any2capins.io import fs
    from any2capins.io.frames import decode_plan

    t0 = time.perf_counter()
    try:
        path = fs.local_copy(clip.uri, cache_dir or CACHE_DIR)
        frames = decode_plan(path, clip, dict(requests), settings=settings)
    except DecodeError as exc:
        return ClipPlan(error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - unreadable file, odd container: data, not a crash
        return ClipPlan(error=f"{type(exc).__name__}: {exc}"[:2000],
                        seconds=time.perf_counter() - t0)
    return ClipPlan(frames, None, time.perf_counter() - t0)


def detect_labels(config: Any, names: list[str]) -> list[str] | bool | None:
    """`ShardFrames.detect_labels` for a run of `names`: False when nothing is shared."""
    if not shares_detector(config, names):
        return False
    if config.refs.labels is None:
        return None
    return list(dict.fromkeys([config.pose.person_label, *config.refs.labels]))
