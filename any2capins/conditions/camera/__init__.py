"""Camera condition: pycolmap SfM on sampled frames, degenerate-clip detection, motion
description, RealEstate10K/CameraCtrl text export. `CameraStage` is the registered stage."""

from __future__ import annotations

from typing import Any

__all__ = ["CameraStage"]


def __getattr__(name: str) -> Any:
    # lazy: the registry imports this package; the stage pulls numpy/pycolmap helpers
    if name == "CameraStage":
        from any2capins.conditions.camera.stage import CameraStage

        return CameraStage
    raise AttributeError(name)
