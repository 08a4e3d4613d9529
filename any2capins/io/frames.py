"""The one frame sampler every stage uses: frames chosen by presentation time.

`decode_plan(path, meta, requests)` opens the file once, reads the packet index of the chosen
video stream (demux only, no decoding) to learn what the clip really holds (frame times, frame
count, keyframes: headers that over- or under-state frames or duration are not trusted), turns
every `FrameRequest` into frame positions on those times, and decodes forward once for all of
them (seeking past GOPs nobody asked for). Each request gets uint8 RGB frames at its own size.
`sample_frames` is the one-request wrapper.

Time and position conventions (also in `SampledFrames`):
- timestamps: presentation time in seconds from the start of the file's video stream (pts x
  time base; a stream whose first pts is > 0 -- delayed start, edit list -- keeps that offset);
- indices: the frame's position in the clip, 0-based, in presentation order -- the position in
  the stream for a whole-file clip, the position inside the span for a span clip;
- a clip's frames are those whose presentation time lies in [span_start_s, span_end_s).

Robustness: a frame that fails to decode (damaged packet, a reference missing after a seek) is
replaced by the nearest frame that did decode, with a warning; the request fails (DecodeError,
message keeping the decoder's words) only when fewer than `min_decoded_fraction` of its frames
decoded (the packet loop's error policy: `io.packets`). The request plan (`FrameRequest`
positions, sizes, `SampledFrames`) lives in `sampling`, the stream rule and the packet index in
`streams`, the decode pass, rotation and pixel formats in `decode_pyav` (docs/media.md has the
whole picture); this module is the entry point and re-exports what callers use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from any2capins.io.decode_pyav import run_plan
from any2capins.io.packets import decoder_message
from any2capins.io.sampling import (
    FrameRequest,
    SampledFrames,
    VideoMeta,
    check_enough,
    plan_positions,
    target_size,
)

if TYPE_CHECKING:
    from any2capins.config.sampling import DecodeSettings

__all__ = ["FrameRequest", "SampledFrames", "VideoMeta", "check_enough", "decode_plan",
           "decoder_message", "plan_positions", "sample_frames", "target_size"]


def decode_plan(
    path: str, meta: VideoMeta | None, requests: Mapping[str, FrameRequest], *,
    settings: DecodeSettings | None = None,
) -> dict[str, SampledFrames]:
    """ONE decoder open and one forward pass serve every request; each request gets the decoded
    frames nearest to its target times, at its own size. Raises DecodeError only when too
    little decodes (or the file has no usable video stream). `meta` may be None (stream rule,
    whole file)."""
    from any2capins.config.sampling import DecodeSettings

    settings = settings or DecodeSettings()
    return run_plan(path, meta, dict(requests), settings)


def sample_frames(
    path: str, *, fps: float | None = None, count: int | None = None,
    max_frames: int | None = None, max_side: int | None = None,
    indices: list[int] | None = None, meta: VideoMeta | None = None,
    settings: DecodeSettings | None = None,
) -> SampledFrames:
    """One request through `decode_plan` (captions, the sheet and single-stage callers).
    `indices`, when given, are clip positions to decode instead of an fps/count grid
    (DecodeError when one is beyond the clip)."""
    from any2capins.config.sampling import DecodeSettings

    if indices is None and fps is None and count is None:
        raise ValueError("sample_frames needs fps, count or indices")
    request = FrameRequest(fps=fps, count=count, max_frames=max_frames, max_side=max_side)
    settings = settings or DecodeSettings()
    return run_plan(path, meta, {"frames": request}, settings,
                    positions={"frames": indices} if indices is not None else None)["frames"]
