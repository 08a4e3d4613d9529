"""Video frames of an instance at a condition's sampled frames, through the project's sampler."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from any2capins.data.decode import resize_rgb
from any2capins.errors import DecodeError
from any2capins.io import fs

_CACHE_DIR = Path(tempfile.gettempdir()) / "any2capins-loader-clips"


def frames_at(uri: str, clip: dict[str, Any] | None, indices: list[int],
              hw: tuple[int, int] | None, settings: Any = None) -> dict[str, Any]:
    """`frames` uint8 [T, H, W, 3] at clip positions `indices` (a condition's `frame_indices`;
    resized to `hw` when given) and their `frames_timestamps` (presentation seconds from the
    start of the file's video stream, as the conditions' timestamps). A clip that cannot be
    read gives `frames` None and the reason in `frames_error`: one bad file must not stop a
    training loop. `settings`: the run's `decode:` section (DecodeSettings)."""
    from any2capins.io.frames import sample_frames

    meta = None
    if clip is not None:
        # the clip's stream and span decide which frames `indices` count (positions in the
        # clip, presentation order); older clips rows lack them (whole file, stream rule)
        meta = SimpleNamespace(num_frames=clip["num_frames"], fps=clip["fps"],
                               width=clip["width"], height=clip["height"],
                               rotation=clip.get("rotation") or 0,
                               stream_index=clip.get("stream_index"),
                               span_start_s=clip.get("span_start_s"),
                               span_end_s=clip.get("span_end_s"))
    try:
        path = fs.local_copy(uri, str(_CACHE_DIR))
        sampled = sample_frames(path, indices=list(indices), meta=meta, settings=settings)
    except (DecodeError, OSError) as exc:
        return {"frames": None, "frames_timestamps": None,
                "frames_error": f"{type(exc).__name__}: {exc}"}
    frames = sampled.frames if hw is None else resize_rgb(sampled.frames, hw)
    return {"frames": frames, "frames_timestamps": np.asarray(sampled.timestamps, np.float64),
            "frames_error": None}
