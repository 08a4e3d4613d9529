"""Versioned section prompts (`prompts/<section>.yaml`) and message rendering.

A prompt file holds `section`, `version`, `system` and `user` (a `str.format` template over the
section's inputs). Its tag `<version>+<hash of the file>` goes into provenance and the cache
key, so editing one file recomputes only its section. Messages are rendered with images as
hash references; `to_api` swaps in the base64 data only when a request is sent.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from any2capins.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Image:
    """One JPEG sent to the model, identified by the SHA-256 of its bytes."""

    jpeg: bytes
    sha: str

    @classmethod
    def of(cls, jpeg: bytes) -> Image:
        return cls(jpeg, hashlib.sha256(jpeg).hexdigest())


@dataclass(frozen=True)
class Prompt:
    section: str
    version: str
    file_sha: str
    system: str
    user: str

    @property
    def tag(self) -> str:
        return f"{self.version}+{self.file_sha[:8]}"


def resolve_dir(prompts_dir: str, setting: str = "prompts_dir") -> Path:
    """`prompts_dir` as given when it exists, else relative to the project root."""
    path = Path(prompts_dir).expanduser()
    if not path.is_dir() and not path.is_absolute():
        path = PACKAGE_ROOT / prompts_dir
    if not path.is_dir():
        raise ConfigError(f"{setting}: folder not found: {prompts_dir}")
    return path


def load_prompts(prompts_dir: str, sections: list[str], setting: str = "captions.prompts_dir",
                 subdir: str = "") -> dict[str, Prompt]:
    """The prompt of each section (`<prompts_dir>/<subdir>/<section>.yaml`); ConfigError names
    a missing or malformed file."""
    folder = resolve_dir(prompts_dir, setting) / subdir
    out: dict[str, Prompt] = {}
    for section in sections:
        path = folder / f"{section}.yaml"
        if not path.is_file():
            raise ConfigError(f"{setting}: prompt file missing: {path}")
        raw = path.read_bytes()
        data = yaml.safe_load(raw) or {}
        missing = [k for k in ("version", "system", "user") if not data.get(k)]
        if missing or data.get("section", section) != section:
            raise ConfigError(f"{path}: needs keys version/system/user and section: {section} "
                              f"(missing {missing})")
        out[section] = Prompt(section, str(data["version"]), hashlib.sha256(raw).hexdigest(),
                              str(data["system"]).strip(), str(data["user"]).strip())
    return out


def render(prompt: Prompt, values: dict[str, Any], images: list[Image],
           schema: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Chat messages with image references. `schema`, when given, is appended to the system
    prompt (the LLM client does this itself in json_text mode, so callers normally pass None)."""
    from any2capins.llm.client import schema_instruction

    system = prompt.system
    if schema is not None:
        system += schema_instruction(schema)
    try:
        user_text = prompt.user.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"prompt {prompt.section}: bad placeholder {exc}") from None
    content: list[dict[str, Any]] = [{"type": "text", "text": user_text}]
    content += [{"type": "image_ref", "sha": img.sha} for img in images]
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def to_api(messages: list[dict[str, Any]], images: dict[str, Image]) -> list[dict[str, Any]]:
    """Messages as the chat-completions API takes them (images as base64 data URLs)."""
    out = []
    for msg in messages:
        content = msg["content"]
        if isinstance(content, list):
            content = [_part(p, images) for p in content]
        out.append({**msg, "content": content})
    return out


def _part(part: dict[str, Any], images: dict[str, Image]) -> dict[str, Any]:
    if part.get("type") != "image_ref":
        return part
    data = base64.b64encode(images[part["sha"]].jpeg).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}}
