"""Preflight: one cheap request to the configured server before a run sends any work.

`GET /models` first (no tokens). The model counts as available when the list names it; when
the server has no models list (404/405) or does not list the model (llama.cpp's server lists
its file name and answers to any name), a 1-token completion decides. Unreachable server,
refused key or unknown model raise `PreflightError` (a ConfigError: the command exits 2) with
one line that names the URL and the model, within `llm.preflight_timeout_s` per request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from any2capins.config.captions import LLMConfig
from any2capins.errors import ConfigError
from any2capins.llm.client import read_api_key, require_base_url, transport_error

log = logging.getLogger("any2capins.llm")


class PreflightError(ConfigError):
    """The LLM server cannot serve this run (unreachable, key refused, model unknown)."""


def preflight(cfg: LLMConfig, setting: str) -> str:
    """Check that the server at `cfg.base_url` answers for `cfg.model` with the configured key.
    Returns how it was confirmed ('listed' or 'completion'); raises PreflightError."""
    url = require_base_url(cfg, setting)
    key = read_api_key(cfg.api_key_env, f"{setting}.api_key_env")
    how = asyncio.run(_check(cfg, key, url, setting))
    log.info("%s: preflight ok: %s serves model %s (%s)", setting, url, cfg.model, how)
    return how


async def _check(cfg: LLMConfig, key: str, url: str, setting: str) -> str:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=key, base_url=url, max_retries=0,
                         timeout=cfg.preflight_timeout_s)
    try:
        listed = await _listed(client, cfg, url, setting)
        if listed:
            return "listed"
        await _one_token(client, cfg, url, setting, listed)
        return "completion"
    finally:
        await client.close()


def _fail(setting: str, url: str, model: str, what: str) -> PreflightError:
    return PreflightError(f"{setting}: LLM server {url} (model {model}): {what}")


def _explain(exc: Exception, cfg: LLMConfig, key_env: str | None) -> tuple[str, str]:
    """(error class, one-line reason) of a failed preflight request."""
    cls, _, _ = transport_error(exc)
    text = " ".join(str(exc).split())[:200]
    if cls == "ConnectionError":
        return cls, f"unreachable ({text})"
    if cls == "Timeout":
        return cls, f"no answer within {cfg.preflight_timeout_s:g} s"
    if cls in ("HTTP401", "HTTP403"):
        source = f"the key from ${key_env}" if key_env else "no key (api_key_env: null)"
        return cls, f"unauthorised ({cls[4:]}): the server refused {source}"
    return cls, f"{cls}: {text}"


async def _listed(client: Any, cfg: LLMConfig, url: str, setting: str) -> bool | None:
    """True: the models list names the model; False: it does not; None: no usable list."""
    try:
        page = await client.models.list()
    except Exception as exc:  # noqa: BLE001 - classified
        cls, why = _explain(exc, cfg, cfg.api_key_env)
        if cls in ("HTTP404", "HTTP405", "HTTP400", "HTTP501") or cls == "ServerError":
            return None  # no models endpoint: the completion decides
        raise _fail(setting, url, cfg.model, why) from None
    ids = [m.id for m in getattr(page, "data", None) or []]
    if not ids:
        return None
    return cfg.model in ids


async def _one_token(client: Any, cfg: LLMConfig, url: str, setting: str,
                     listed: bool | None) -> None:
    try:
        await client.chat.completions.create(
            model=cfg.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1)
    except Exception as exc:  # noqa: BLE001 - classified
        cls, why = _explain(exc, cfg, cfg.api_key_env)
        if listed is False:
            why = f"not in the server's models list, and a test request failed: {why}"
        elif cls in ("HTTP404", "HTTP400"):
            why = f"the test request was refused (unknown model?): {why}"
        raise _fail(setting, url, cfg.model, why) from None
