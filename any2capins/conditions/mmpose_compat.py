"""Importing `mmpose.apis` next to mmcv-lite and without torchvision.

`import mmpose.apis` pulls `mmcv.ops` (compiled ops that mmcv-lite lacks; used by EDPose/DEKR
heads and mmdet's NMS, never by top-down RTMPose/DWPose inference) and
`torchvision.transforms` (only for a visualiser). We serve placeholder modules for both while
importing: any placeholder object raises ImportError when used, so a model that really needs
compiled ops fails loudly. The torchvision placeholder is removed right after the import, and
transformers is imported first, so its torchvision check still sees no torchvision.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

import numpy as np


class _Missing:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError(f"{type(self).__module__}.{type(self).__name__} is not available: it "
                          "needs the full mmcv (compiled ops) or torchvision")


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return type(name, (_Missing,), {"__module__": self.__name__})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `_StubModule`s for a package prefix and all its submodules."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == self.prefix or name.startswith(self.prefix + "."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: attributes are made on demand."""


def _drop(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


def import_mmpose_apis() -> Any:
    """`mmpose.apis`, importable with mmcv-lite and without torchvision."""
    if "mmpose.apis" in sys.modules:
        return sys.modules["mmpose.apis"]
    import transformers  # noqa: F401 - fix its torchvision check before the placeholder exists

    try:
        import mmcv.ops  # noqa: F401 - the full mmcv has them
    except ImportError:
        _drop("mmcv.ops")
        sys.meta_path.insert(0, _StubFinder("mmcv.ops"))
    tv = None if importlib.util.find_spec("torchvision") else _StubFinder("torchvision")
    if tv is not None:
        sys.meta_path.insert(0, tv)
    try:
        import mmpose.apis
    finally:
        if tv is not None:
            sys.meta_path.remove(tv)
            _drop("torchvision")
    return mmpose.apis


def _numpy_safe_globals() -> list[Any]:
    """numpy types found in mmpose 1.x checkpoints (`meta.dataset_meta` holds arrays)."""
    from numpy import dtypes

    kinds = [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return [np._core.multiarray._reconstruct, np.ndarray, np.dtype, *kinds]


def init_pose_model(config: str, checkpoint: str | None, device: str) -> Any:
    """`mmpose.apis.init_model`; `checkpoint` None keeps random weights. torch>=2.6 loads
    checkpoints with `weights_only=True`; the numpy types of mmpose's checkpoint metadata are
    allowed explicitly instead of turning that safety off."""
    import torch

    apis = import_mmpose_apis()
    with torch.serialization.safe_globals(_numpy_safe_globals()):
        return apis.init_model(config, checkpoint, device=device)


def inference_topdown(model: Any, image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> list[Any]:
    """`mmpose.apis.inference_topdown` on one BGR image and its xyxy person boxes."""
    return import_mmpose_apis().inference_topdown(model, image_bgr, boxes_xyxy, bbox_format="xyxy")
