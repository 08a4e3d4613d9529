"""Frame-sampling settings: what each stage asks for (`SamplingConfig`, one per stage section)
and how the one decode pass per clip runs (`DecodeSettings`, the top-level `decode:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from any2capins.config.base import StrictModel
from any2capins.models.frames import FrameRequest


class SamplingConfig(StrictModel):
    """Which frames one stage wants from a clip (its span, for span clips): by target fps or by
    count over the clip's duration, with a cap on frames and on resolution."""

    fps: float | None = Field(None, gt=0, description="Target frames per second (wins over "
                              "'count'); the decoded frame nearest each target time is used.")
    count: int | None = Field(8, ge=1, description="Number of frames spread evenly (by time) "
                              "over the clip; a clip with fewer frames gives all it has.")
    max_frames: int = Field(64, ge=1, description="Upper bound on frames from one clip.")
    max_side: int | None = Field(
        512, ge=16, description="Longest side of decoded frames in pixels; None keeps full size."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> SamplingConfig:
        if self.fps is None and self.count is None:
            raise ValueError("set either 'fps' or 'count'")
        return self

    def request(self) -> FrameRequest:
        """This stage's `FrameRequest` for `decode_plan`."""
        return FrameRequest(fps=self.fps, count=None if self.fps else self.count,
                            max_frames=self.max_frames, max_side=self.max_side)


class DecodeSettings(StrictModel):
    """How the single decode pass per clip runs (top-level `decode:` section; every stage that
    reads frames goes through it)."""

    threads: int = Field(0, ge=0, description="Decoder threads per clip (FFmpeg frame/slice "
                         "threads); 0 lets FFmpeg choose.")
    min_decoded_fraction: float = Field(
        0.5, gt=0, le=1, description="A clip fails (error row, with the decoder's message) when "
        "fewer than this fraction of a request's frames decode; missing frames are otherwise "
        "replaced by the nearest frame that decoded, with a warning.")
    seek: bool = Field(True, description="Seek past keyframe-delimited stretches nobody asked "
                       "for (false: decode every frame from the clip start; slower, for "
                       "files whose seeks are broken).")
    hdr: Literal["tonemap", "off"] = Field(
        "tonemap", description="Frames tagged HDR (PQ / HDR10, HLG: phone clips) are tone-mapped "
        "to SDR BT.709 (BT.2390 curve, BT.2020 gamut to BT.709) and SDR BT.2020 frames get the "
        "gamut conversion, so models and the caption LLM see what an SDR rendition shows; "
        "'off' converts code values as they are (HDR looks flat and dim). Other frames are "
        "unaffected either way.")
