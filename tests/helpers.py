"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_clip(path: Path, frames: np.ndarray, fps: int = 10, rotation: int = 0,
               codec: str = "libx264") -> Path:
    """Encode uint8 RGB frames [T, H, W, 3] to a video file with PyAV (optional display
    rotation, counter-clockwise degrees as in the container's display matrix)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "yuv420p"
        if rotation:
            s.set_display_rotation(rotation)
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def pyav_facts(path: Path) -> dict:
    """Reference probe values straight from PyAV (decoding every frame)."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(video=0))
        return {
            "num_frames": len(frames),
            "fps": float(vs.average_rate),
            "width": frames[0].width,
            "height": frames[0].height,
            "codec": vs.codec_context.name,
            "has_audio": bool(c.streams.audio),
            "first": frames[0].to_ndarray(format="rgb24"),
            "all": [f.to_ndarray(format="rgb24") for f in frames],
        }
