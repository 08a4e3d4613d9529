"""Browser-playable previews of clips: H.264 (yuv420p) MP4, longest side <= 480 px, moov first.

Review pages play a clip's span in a `<video>` element; source files often cannot play there
(VP9 10-bit, HEVC, AVI, HDR, rotation flags, spans of long videos). A preview is made from the
frames of the project's one frame sampler (`io.frames.decode_plan`, with the run's `decode:`
settings), so it shows what the models saw: the span only, rotation applied, HDR tone-mapped.

Time: frame k of the preview is shown at `timestamps[k] - timestamps[0]`, where `timestamps`
are the sampler's presentation times (seconds from the start of the file's video stream). So a
page maps the player's `currentTime` to condition times with
`t_video = currentTime + time_offset`, `time_offset` being the first frame's presentation time
(`PreviewInfo.time_offset`; the span start, to within one frame).

`write_preview(frames, fps, path)` encodes frames already decoded (the extract pass can call it
with the frames it holds); `make_preview(clip, decode_settings, out_path)` decodes a clip and
writes its preview, in chunks so a long clip never sits in memory whole. Both write the MP4
atomically, then its `PreviewInfo` as JSON beside it (`<name>.json`, `read_info`): a preview
counts as made when both exist. PyAV (the pipeline's decoder, with libx264 in its wheel) is
imported on use.
"""

from __future__ import annotations

import fractions
import json
import math
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from any2capins.io import fs
from any2capins.io.frames import VideoMeta, target_size

if TYPE_CHECKING:
    from any2capins.config.sampling import DecodeSettings

MAX_SIDE = 480
MAX_FPS = 30.0
CHUNK_FRAMES = 120  # frames decoded per sampler call (~47 MB at 480x270)
_TIME_BASE = fractions.Fraction(1, 90000)  # MPEG's clock: exact for 24/25/30/29.97 fps


@dataclass(frozen=True)
class PreviewInfo:
    """What was written: size, frame count, frame rate of the stream, duration (seconds) and
    the presentation time of its first frame in the source (see the module docstring)."""

    path: str
    width: int
    height: int
    frames: int
    fps: float
    duration_s: float
    time_offset: float


def even_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) with the longest side capped at `max_side`, both even (yuv420p needs it)."""
    scaled = target_size(width, height, max_side) or (width, height)
    return max(2, scaled[0] // 2 * 2), max(2, scaled[1] // 2 * 2)


def write_preview(
    frames: Iterable[np.ndarray], fps: float, path: str, *,
    timestamps: Sequence[float] | None = None, max_side: int = MAX_SIDE, crf: int = 28,
) -> PreviewInfo:
    """Encode uint8 RGB frames [H, W, 3] (display orientation) to an H.264 yuv420p MP4 at
    `path` (local path or s3:// URI), atomically. Frames larger than `max_side` are scaled
    down; sizes are made even. `timestamps` (seconds, one per frame; default k / fps) give
    each frame's presentation time, so variable frame rates stay exact; the first frame is at
    0 in the preview, and `time_offset` in the result is `timestamps[0]`.
    Raises ValueError when there is no frame."""
    loc = fs.resolve(path)
    if loc.is_local:
        Path(loc.path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{loc.path}.tmp-{uuid.uuid4().hex[:8]}.mp4"
    else:
        tmp = str(Path(tempfile.gettempdir()) / f"a2c-preview-{uuid.uuid4().hex}.mp4")
    try:
        info = _encode(frames, fps, tmp, timestamps=timestamps, max_side=max_side, crf=crf)
        if loc.is_local:
            Path(tmp).replace(loc.path)
        else:
            fs.write_bytes_atomic(loc, Path(tmp).read_bytes())
    finally:
        Path(tmp).unlink(missing_ok=True)
    info = PreviewInfo(**{**asdict(info), "path": path})
    fs.write_bytes_atomic(fs.resolve(info_path(path)), json.dumps(asdict(info)).encode())
    return info


def info_path(path: str) -> str:
    """Where the PreviewInfo of the preview at `path` is kept (same name, .json)."""
    return path[: -len(".mp4")] + ".json" if path.endswith(".mp4") else path + ".json"


def read_info(path: str) -> PreviewInfo | None:
    """The PreviewInfo of a made preview (None when the preview or its info is missing)."""
    video, meta = fs.resolve(path), fs.resolve(info_path(path))
    if not (fs.exists(video) and fs.exists(meta)):
        return None
    return PreviewInfo(**json.loads(fs.read_bytes(meta)))


def _encode(frames: Iterable[np.ndarray], fps: float, out: str, *,
            timestamps: Sequence[float] | None, max_side: int, crf: int) -> PreviewInfo:
    import av

    container = av.open(out, "w", format="mp4", options={"movflags": "+faststart"})
    stream = None
    count, first, last, last_pts = 0, 0.0, 0.0, -1
    try:
        for k, rgb in enumerate(frames):
            t = float(timestamps[k]) if timestamps is not None else k / fps
            if stream is None:
                first = t
                size = even_size(rgb.shape[1], rgb.shape[0], max_side)
                stream = _open_stream(container, size, fps, crf)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p",
                                   dst_colorspace="ITU709")
            # strictly increasing pts, even if two source times round to one tick
            last_pts = max(round((t - first) / _TIME_BASE), last_pts + 1)
            frame.pts, frame.time_base = last_pts, _TIME_BASE
            for packet in stream.encode(frame):
                container.mux(packet)
            count, last = count + 1, t
        if stream is None:
            raise ValueError("no frames to encode")
        for packet in stream.encode():
            container.mux(packet)
        width, height = stream.width, stream.height
    finally:
        container.close()
    return PreviewInfo(path=out, width=width, height=height, frames=count, fps=fps,
                       duration_s=round(last - first + 1.0 / fps, 6), time_offset=first)


def _open_stream(container, size: tuple[int, int], fps: float, crf: int):
    stream = container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    # no B-frames: every frame's decode order is its display order, so stepping frame by frame
    # in the browser never waits on a later frame; 'main' plays in every browser
    stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0", "profile": "main"}
    cc = stream.codec_context
    cc.time_base = _TIME_BASE
    cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1  # BT.709 tv
    return stream


def preview_fps(clip_fps: float, max_fps: float = MAX_FPS) -> tuple[float, int]:
    """(fps of the preview, step between source frames): every frame up to `max_fps`, else
    every `step`-th frame."""
    fps = clip_fps if clip_fps > 0 else max_fps
    step = max(1, math.ceil(fps / max_fps - 1e-6))
    return fps / step, step


def make_preview(
    clip: VideoMeta, decode_settings: DecodeSettings | None, out_path: str, *,
    max_side: int = MAX_SIDE, max_fps: float = MAX_FPS, uri: str | None = None,
) -> PreviewInfo:
    """Decode `clip` (a ClipRecord: its uri, span, stream, rotation; `uri` overrides where the
    file is read from) with the frame sampler and the given `decode:` settings (None: the
    defaults), and write its preview to `out_path`: every frame up to `max_fps` (else every
    n-th frame), longest side at most `max_side`. Raises DecodeError when the clip does not
    decode, as the stages do."""
    from any2capins.io.frames import sample_frames

    source = uri or clip.uri  # type: ignore[attr-defined]
    fps, step = preview_fps(clip.fps, max_fps)
    positions = list(range(0, max(clip.num_frames, 1), step))
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="a2c-preview-src-") as cache:
        local = fs.local_copy(source, cache)

        def chunks() -> Iterator[np.ndarray]:
            # chunk by chunk: a long clip is never held in memory whole
            for start in range(0, len(positions), CHUNK_FRAMES):
                part = sample_frames(local, indices=positions[start:start + CHUNK_FRAMES],
                                     max_side=max_side, meta=clip, settings=decode_settings)
                times.extend(part.timestamps)
                yield from part.frames

        return write_preview(chunks(), fps, out_path, timestamps=_GrowingTimes(times),
                             max_side=max_side)


class _GrowingTimes(Sequence[float]):
    """Timestamps filled while the frames are decoded chunk by chunk: the encoder reads
    timestamp k only after frame k arrived."""

    def __init__(self, times: list[float]) -> None:
        self._times = times

    def __getitem__(self, k):  # type: ignore[override]
        return self._times[k]

    def __len__(self) -> int:
        return len(self._times)


def remove_stale_temp(folder: str) -> int:
    """Delete temp files a killed encoder left in a local previews folder."""
    base = Path(folder)
    n = 0
    for p in base.glob("*.tmp-*") if base.is_dir() else ():
        p.unlink(missing_ok=True)
        n += 1
    return n
