"""Validated configuration: pydantic models loaded from `pipelines/*.yaml` plus `--set` overrides.

Contract: `load_config(files, overrides)` returns a `PipelineConfig` or raises `ConfigError`
whose message names every offending key (unknown keys included) and where it came from.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from any2capins.config.base import RuntimeConfig, StageResources, StrictModel
from any2capins.config.camera import CameraConfig
from any2capins.config.captions import CaptionsConfig
from any2capins.config.depth import DepthConfig
from any2capins.config.export import ExportConfig
from any2capins.config.filter import FilterConfig
from any2capins.config.ingest import IngestConfig
from any2capins.config.pose import PoseConfig
from any2capins.config.refs import RefsConfig
from any2capins.config.review import ReviewConfig
from any2capins.config.sampling import DecodeSettings, SamplingConfig
from any2capins.config.sheet import SheetConfig
from any2capins.config.shortprompts import ShortPromptsConfig
from any2capins.errors import ConfigError

__all__ = [
    "CaptionsConfig",
    "ConfigError",
    "DecodeSettings",
    "IngestConfig",
    "PipelineConfig",
    "RuntimeConfig",
    "SamplingConfig",
    "StageResources",
    "StrictModel",
    "load_config",
]


class PipelineConfig(StrictModel):
    """Every setting of the pipeline. Each stage owns one section."""

    profile: str = Field("default", description="Name of the profile, recorded in run.json.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    decode: DecodeSettings = Field(
        default_factory=DecodeSettings,
        description="How each clip's single decode pass runs (threads, failure threshold); "
        "which frames a stage wants is set in its own section's 'sampling'.")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    depth: DepthConfig = Field(default_factory=DepthConfig)
    pose: PoseConfig = Field(default_factory=PoseConfig)
    refs: RefsConfig = Field(default_factory=RefsConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    sheet: SheetConfig = Field(default_factory=SheetConfig)
    captions: CaptionsConfig = Field(default_factory=CaptionsConfig)
    shortprompts: ShortPromptsConfig = Field(default_factory=ShortPromptsConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    def redacted(self) -> dict[str, Any]:
        """JSON-ready dict without secrets (secret values are never held in config; this also
        drops any field whose name suggests one, as a second guard)."""
        return _drop_secrets(self.model_dump(mode="json"))


_SECRET_HINTS = ("api_key", "secret", "password", "token_value")


def _is_secret_key(key: str) -> bool:
    # `*_env` keys hold the NAME of an environment variable, never its value
    return any(h in key.lower() for h in _SECRET_HINTS) and not key.endswith("_env")


def _drop_secrets(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: "<redacted>" if _is_secret_key(k) else _drop_secrets(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_drop_secrets(v) for v in obj]
    return obj


def load_config(
    files: Sequence[str | Path] = (), overrides: Sequence[str] = ()
) -> PipelineConfig:
    """Merge YAML files in order, apply `key.path=value` overrides, validate."""
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for file in files:
        _deep_merge(data, _read_yaml(Path(file)), origin, str(file), ())
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        path = tuple(key.strip().split("."))
        _check_path(PipelineConfig, path, f"--set {item}")
        _set_path(data, path, _parse_value(item, raw))
        origin[".".join(path)] = f"--set {item}"
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from None


def _parse_value(item: str, raw: str) -> Any:
    """The value of `--set KEY=VALUE`, parsed as YAML (empty = null); one-line error otherwise."""
    if not raw.strip():
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"--set {item!r}: the value is not valid YAML ({problem}); write it as YAML "
            "(a list is [1, 2]; quote text with YAML characters)") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; --config takes a YAML file (pipelines/*.yaml)")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return loaded


def _deep_merge(
    dst: dict[str, Any], src: dict[str, Any], origin: dict[str, str], where: str,
    prefix: tuple[str, ...],
) -> None:
    for key, value in src.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_merge(dst[key], value, origin, where, path)
        else:
            dst[key] = copy.deepcopy(value)
            origin[".".join(path)] = where
        if isinstance(value, dict):
            for sub in _leaf_paths(value, path):
                origin[".".join(sub)] = where


def _leaf_paths(d: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for k, v in d.items():
        p = (*prefix, str(k))
        out.extend(_leaf_paths(v, p) if isinstance(v, dict) else [p])
    return out


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _check_path(model: type[BaseModel], path: tuple[str, ...], where: str) -> None:
    """Fail early, with suggestions, when an override names a key the models do not have."""
    current: Any = model
    for depth, part in enumerate(path):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return  # below a leaf (dict/list value): let validation speak
        fields = current.model_fields
        if part not in fields:
            dotted = ".".join(path[: depth + 1])
            close = difflib.get_close_matches(part, list(fields), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(
                f"{where}: unknown key '{dotted}'{hint}; valid keys here: {', '.join(fields)}"
            )
        current = _model_of(fields[part].annotation)


def _model_of(annotation: Any) -> Any:
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _format_errors(exc: ValidationError, origin: dict[str, str]) -> str:
    """One line for one problem; a list otherwise."""
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<top level>"
        src = origin.get(key)
        where = f" [from {src}]" if src else ""
        if err["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key{where}")
        else:
            problems.append(f"{key}: {err['msg']} (got {err.get('input')!r}){where}")
    if len(problems) == 1:
        return f"invalid configuration: {problems[0]}"
    return "\n".join([f"invalid configuration ({len(problems)} problems):",
                      *(f"  - {p}" for p in problems)])
