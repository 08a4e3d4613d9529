"""Frames for the stages: ONE decode pass per clip serves every stage that runs with it.

Each stage declares a `FrameRequest` (`Stage.frames()`); `decode_clip` opens the clip once and
serves all requests in one forward pass (`io.frames.decode_plan`), equal requests decoded once
and shared. The result, a `ClipFrames`, maps stage names to their frames. A clip that cannot be
read or decoded gives a `ClipFrames` with `error` set, which each stage turns into its error row
(`Inputs.frames` raises DecodeError). Where the frames come from is a `FrameSource`: decoded here
(`InlineFrames`, with the next batch decoded in the background) or fetched from Ray's object
store (`runtime.ray_backend`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from any2capins.config.sampling import DecodeSettings
from any2capins.errors import DecodeError
from any2capins.io.frames import FrameRequest, SampledFrames


@dataclass
class ClipFrames:
    """What the one decode pass of a clip produced: frames per stage name, or why it failed
    (`error`, the decoder's message). `seconds` is the decode wall time."""

    frames: dict[str, SampledFrames] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    unreadable: bool = False  # the file could not be read (a transient cause: retried)

    def subset(self, names: Iterable[str]) -> ClipFrames:
        keep = set(names)
        return ClipFrames({k: v for k, v in self.frames.items() if k in keep}, self.error,
                          self.seconds, self.unreadable)

    @property
    def nbytes(self) -> int:
        """Bytes held by the decoded frames (equal requests share one array, counted once)."""
        seen = {id(s.frames): int(s.frames.nbytes) for s in self.frames.values()}
        return sum(seen.values())

    def get(self, stage: str) -> SampledFrames:
        """The frames of `stage`; DecodeError (the decoder's words) when the clip failed."""
        if self.error is not None:
            raise (UnreadableClipError if self.unreadable else DecodeError)(self.error)
        if stage not in self.frames:
            raise DecodeError(f"no frames were planned for {stage!r}")
        return self.frames[stage]


def decode_clip(clip: Any, requests: Mapping[str, FrameRequest],
                settings: DecodeSettings | None = None) -> ClipFrames:
    """Decode `clip` once for all `requests` (stage name -> request; equal requests share
    their frames). Never raises: failures are the returned `error`."""
    from any2capins.io import fs
    from any2capins.io.frames import decode_plan

    t0 = time.perf_counter()
    unique: dict[FrameRequest, str] = {}
    for req in requests.values():
        unique.setdefault(req, f"r{len(unique)}")
    try:
        path = fs.local_copy(clip.uri)
        decoded = decode_plan(path, clip, {k: r for r, k in unique.items()},
                              settings=settings or DecodeSettings())
    except DecodeError as exc:
        return ClipFrames(error=str(exc), seconds=time.perf_counter() - t0)
    except OSError as exc:  # the file itself (a network store, a lost mount): retried
        return ClipFrames(error=f"cannot read {clip.uri}: {exc}"[:2000],
                          seconds=time.perf_counter() - t0, unreadable=True)
    except Exception as exc:  # noqa: BLE001 - unreadable file, odd container: data, not a crash
        return ClipFrames(error=f"{type(exc).__name__}: {exc}"[:2000],
                          seconds=time.perf_counter() - t0)
    frames = {name: decoded[unique[req]] for name, req in requests.items()}
    for s in frames.values():
        s.frames.flags.writeable = False  # shared between stages: nobody may change them
    return ClipFrames(frames, None, time.perf_counter() - t0)


class UnreadableClipError(DecodeError):
    """The clip's file could not be read (a transient cause: the item is retried)."""


def frames_failure(exc: DecodeError) -> Any:
    """The Failure of a stage whose clip gave no frames: `UnreadableFile` (retriable) when
    the file could not be read, else `DecodeError` with the decoder's words."""
    from any2capins.runtime.failure import Failure

    if isinstance(exc, UnreadableClipError):
        return Failure("UnreadableFile", str(exc), retriable=True)
    return Failure("DecodeError", str(exc))


class FrameSource(Protocol):
    """Gives the `ClipFrames` of the clips of one batch, in order of `clip_ids`."""

    def get(self, clip_ids: list[str]) -> dict[str, ClipFrames]: ...

    def prefetch(self, clip_ids: list[str]) -> None: ...

    def close(self) -> None: ...


@dataclass
class DecodeStats:
    """What the decode passes of one command did (one line next to the stage lines)."""

    clips: int = 0
    failed: int = 0
    seconds: float = 0.0
    peak_bytes: int = 0
    total_bytes: int = 0

    def add(self, error: str | None, seconds: float, nbytes: int) -> None:
        self.clips += 1
        self.failed += error is not None
        self.seconds += seconds
        self.total_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, nbytes)

    def merge(self, other: DecodeStats) -> None:
        self.clips += other.clips
        self.failed += other.failed
        self.seconds += other.seconds
        self.total_bytes += other.total_bytes
        self.peak_bytes = max(self.peak_bytes, other.peak_bytes)

    def line(self) -> str:
        mean = self.total_bytes / self.clips / 2**20 if self.clips else 0.0
        return (f"{'decode':<14}{self.clips:>7} clips {self.failed:>6} failed  one pass per "
                f"clip, {self.seconds:.1f} s; frames per clip: mean {mean:.1f} MB, "
                f"max {self.peak_bytes / 2**20:.1f} MB")


class InlineFrames:
    """Decodes in this process: `prefetch` starts the next batch's clips in background threads
    (PyAV decodes without the GIL) while the current batch is processed; `get` waits for them.
    Memory: the batch being processed plus the one being prefetched."""

    def __init__(self, clips: Mapping[str, Any], requests: Mapping[str, Mapping[str, FrameRequest]],
                 settings: DecodeSettings, stats: DecodeStats, threads: int = 1) -> None:
        self.clips = clips  # clip_id -> clip record
        self.requests = requests  # clip_id -> {stage: request} (only the stages that need it)
        self.settings = settings
        self.stats = stats
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads),
                                       thread_name_prefix="a2c-decode")
        self.pending: dict[str, Future[ClipFrames]] = {}

    def prefetch(self, clip_ids: list[str]) -> None:
        for cid in clip_ids:
            if cid not in self.pending and self.requests.get(cid):
                self.pending[cid] = self.pool.submit(decode_clip, self.clips[cid],
                                                     self.requests[cid], self.settings)

    def get(self, clip_ids: list[str]) -> dict[str, ClipFrames]:
        self.prefetch(clip_ids)
        out = {}
        for cid in clip_ids:
            future = self.pending.pop(cid, None)
            if future is None:
                continue
            got = future.result()
            self.stats.add(got.error, got.seconds, got.nbytes)
            out[cid] = got
        return out

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
