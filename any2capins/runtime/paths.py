"""Local paths resolved on the driver.

Ray workers do not share the driver's working directory (on another node, or an attached
cluster's workers started elsewhere), so a relative path in a stage's settings would be
resolved against the worker's own folder. Before a stage is shipped to workers, every
path-like setting that names an existing local file or folder relative to the driver's
working directory is made absolute. Hub ids (`org/model`) and URIs are left alone.
"""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path
from typing import Any

from pydantic import BaseModel

# setting names that hold paths: model, config, checkpoint, *_dir, *_path, *_file, load_log
_PATH_NAME = re.compile(r"(^|_)(model|config|checkpoint|dir|path|file|folder|log)$")
# folders relative to the run folder, never to the working directory
_RUN_RELATIVE = frozenset({"output_dir", "input_dir"})


def _absolute(value: str) -> str | None:
    """The absolute form of a relative local path that exists here, else None."""
    if not value or "://" in value or Path(value).is_absolute():
        return None
    expanded = Path(value).expanduser()
    return str(expanded.absolute()) if expanded.exists() else None


def absolutize(obj: Any, prefix: str = "") -> list[str]:
    """Make path-like settings of `obj` (a stage or a config model, recursively) absolute in
    place; returns the dotted names changed."""
    changed: list[str] = []
    names = list(type(obj).model_fields) if isinstance(obj, BaseModel) else list(vars(obj))
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, BaseModel):
            changed += absolutize(value, f"{prefix}{name}.")
        elif isinstance(value, str) and _PATH_NAME.search(name) and name not in _RUN_RELATIVE:
            new = _absolute(value)
            if new is not None:
                _set(obj, name, new)
                changed.append(f"{prefix}{name}")
    return changed


def _set(obj: Any, name: str, value: str) -> None:
    with suppress(TypeError, ValueError, AttributeError):  # frozen models keep their value
        setattr(obj, name, value)


def run_decode_settings(run_dir: str) -> Any:
    """The `decode:` section a run folder's commands used (its run.json's resolved config),
    so readers decode the frames its stages saw; the defaults when there is none."""
    import json

    from any2capins.config.sampling import DecodeSettings
    from any2capins.io import fs

    loc = fs.resolve(run_dir).join("run.json")
    try:
        data = json.loads(fs.read_bytes(loc)) if fs.exists(loc) else {}
        return DecodeSettings.model_validate((data.get("config") or {}).get("decode") or {})
    except (OSError, ValueError):
        return DecodeSettings()
