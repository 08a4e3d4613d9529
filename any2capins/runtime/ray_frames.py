"""Frames on Ray: one decode task per clip, started a few batches ahead of the stages that read
them and released as soon as each of them is done with the clip.

A `FrameKeeper` actor (no CPU of its own) holds, for every shard in flight, its clips, what
each worker group wants of them, and the object references of the decode tasks started so far.
A group's actor asks it for the frames of its next batch (`get`); the keeper starts the decode
tasks of those clips and of the next `ahead` clips (each task decodes the union of what every
group wants from the clip, once, and returns it split per group), and hands back the
references of that group's part. When the group is done with the batch it says so (`done`) and
the keeper drops its reference to that part, so the object store frees it once nothing else
holds it. The object store thus holds the frames of the batches being processed and decoded
ahead, whatever the shard or video length.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from any2capins.config.sampling import DecodeSettings
from any2capins.runtime.frames import ClipFrames, decode_clip


def decode_task(clip: Any, requests: dict[str, Any], settings: DecodeSettings,
                parts: list[list[str]], env: dict[str, str]) -> tuple[Any, ...]:
    """One clip, one decode pass: its frames split into `parts` (stage names per group),
    then (error, seconds, bytes)."""
    os.environ.update(env)
    got = decode_clip(clip, requests, settings)
    return (*[got.subset(names) for names in parts], (got.error, got.seconds, got.nbytes))


@dataclass
class _Clip:
    item: Any
    requests: dict[str, Any]
    groups: set[int]  # the groups that read frames of this clip
    parts: list[Any] | None = None  # object refs, one per group (None once released)
    stats: Any = None


@dataclass
class _Shard:
    order: list[str]
    clips: dict[str, _Clip]
    next: int = 0  # position of the first clip whose decode has not started
    stats: list[Any] = field(default_factory=list)


class FrameKeeper:
    """Ray actor body (threaded: every group's actor calls it): see the module docstring."""

    def __init__(self, settings: DecodeSettings, env: dict[str, str], parts: list[list[str]],
                 cpus: float, ahead: int) -> None:
        self.settings, self.env, self.parts = settings, env, parts
        self.cpus, self.ahead = cpus, max(1, ahead)
        self.shards: dict[int, _Shard] = {}
        self.lock = threading.Lock()

    def open(self, index: int, clips: list[tuple[Any, dict[str, Any], list[int]]]) -> None:
        """A shard enters: per clip (in shard order) its record, its requests by stage name and
        the groups that read it. Nothing is decoded yet."""
        with self.lock:
            order = [c.clip_id for c, _, _ in clips]
            self.shards[index] = _Shard(order, {c.clip_id: _Clip(c, r, set(g))
                                                for c, r, g in clips})

    def get(self, index: int, group: int, clip_ids: list[str]) -> dict[str, list[Any]]:
        """The references of `group`'s part of these clips' frames (each in a one-element
        list, so Ray hands over the reference, not the frames); starts their decode tasks
        and those of the next `ahead` clips."""
        with self.lock:
            shard = self.shards[index]
            wanted = [c for c in clip_ids if c in shard.clips and group in shard.clips[c].groups]
            for cid in wanted:
                self._start(shard, cid)
            last = max((shard.order.index(c) for c in wanted), default=shard.next - 1)
            while shard.next <= min(last + self.ahead, len(shard.order) - 1):
                self._start(shard, shard.order[shard.next])
            return {c: [shard.clips[c].parts[group]] for c in wanted
                    if shard.clips[c].parts and shard.clips[c].parts[group] is not None}

    def _start(self, shard: _Shard, cid: str) -> None:
        import ray

        clip = shard.clips[cid]
        if clip.parts is None and clip.stats is None:
            task = ray.remote(decode_task).options(num_cpus=self.cpus,
                                                   num_returns=len(self.parts) + 1)
            out = task.remote(clip.item, clip.requests, self.settings, self.parts, self.env)
            clip.parts, clip.stats = list(out[:-1]), out[-1]
            shard.stats.append(clip.stats)
        pos = shard.order.index(cid)
        shard.next = max(shard.next, pos + 1)

    def done(self, index: int, group: int, clip_ids: list[str]) -> None:
        """`group` is done with these clips: its part of their frames is released."""
        with self.lock:
            shard = self.shards.get(index)
            for cid in clip_ids if shard is not None else ():
                clip = shard.clips.get(cid)
                if clip is None or group not in clip.groups:
                    continue
                clip.groups.discard(group)
                if clip.parts is not None:
                    clip.parts[group] = None
                    if not clip.groups:
                        clip.parts = []  # every group is done: nothing more to hand out

    def close(self, index: int) -> list[tuple[str | None, float, int]]:
        """The shard leaves: its decode figures (error, seconds, bytes) per decoded clip."""
        import ray

        with self.lock:
            shard = self.shards.pop(index, None)
        out = []
        for ref in shard.stats if shard is not None else ():
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                out.append((f"decode task lost: {exc}", 0.0, 0))
        return out


class KeptFrames:
    """A group actor's frame source for one shard: batches fetched through the keeper."""

    def __init__(self, keeper: Any, index: int, group: int) -> None:
        self.keeper, self.index, self.group = keeper, index, group
        self._held: list[str] = []

    def get(self, clip_ids: list[str]) -> dict[str, ClipFrames]:
        import ray

        self._release()
        refs = ray.get(self.keeper.get.remote(self.index, self.group, clip_ids))
        out = {}
        for cid, (ref,) in refs.items():
            try:
                out[cid] = ray.get(ref)
            except ray.exceptions.RayError as exc:
                out[cid] = ClipFrames(error=f"decode task lost: {type(exc).__name__}: {exc}",
                                      unreadable=True)
        self._held = list(refs)
        return out

    def prefetch(self, clip_ids: list[str]) -> None:
        """The keeper starts decodes ahead when the batch is fetched; nothing more to do."""

    def _release(self) -> None:
        if self._held:
            self.keeper.done.remote(self.index, self.group, self._held)
            self._held = []

    def close(self) -> None:
        self._release()
