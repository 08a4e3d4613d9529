"""What a consumer asks of a clip's frames: `FrameRequest`, made by each stage's sampling
settings (`config.sampling.SamplingConfig.request`) and served by the one frame sampler
(`io.frames.decode_plan`). It lives here, below both, so that config and io never import
each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameRequest:
    """What one consumer wants from a clip: by fps or by count over the clip (its span when
    the clip is a span of a longer video), at most max_frames, longest side max_side.
    `fps` wins over `count`; neither means every frame of the clip."""

    fps: float | None = None
    count: int | None = None
    max_frames: int | None = None
    max_side: int | None = None
