"""Preflight: one cheap request to the configured server before a run sends any work.

`GET /models` first (no tokens). The model counts as available when the list names it; when
the server has no models list (404/405) or does not list the model (llama.cpp's server lists
its file name and answers to any name), a 1-token completion decides. Unreachable server,
refused key or unknown model raise `PreflightError` (a ConfigError: the command exits 2) with
one line that names the URL and the model, within `llm.preflight_timeout_s` per request.

With `images` (captions send video frames) and `llm.preflight_images`, one more 1-token
completion carries a tiny JPEG: a server that answers text but refuses images (llama.cpp
without `--mmproj` answers HTTP 500 "image input is not supported", vLLM with a text-only model
a 400) is a PreflightError too, instead of one failed call per clip. Only a timeout of that
request is let through, with a warning (a vision encoder's first request may be slow).
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


def preflight(cfg: LLMConfig, setting: str, images: bool = False) -> str:
    """Check that the server at `cfg.base_url` answers for `cfg.model` with the configured key
    (and, with `images` and `cfg.preflight_images`, reads an image). Returns how it was
    confirmed ('listed' or 'completion', '+images' when checked); raises PreflightError."""
    url = require_base_url(cfg, setting)
    key = read_api_key(cfg.api_key_env, f"{setting}.api_key_env")
    how = asyncio.run(_check(cfg, key, url, setting, images and cfg.preflight_images))
    log.info("%s: preflight ok: %s serves model %s (%s)", setting, url, cfg.model, how)
    return how


async def _check(cfg: LLMConfig, key: str, url: str, setting: str, images: bool) -> str:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=key, base_url=url, max_retries=0,
                         timeout=cfg.preflight_timeout_s)
    try:
        listed = await _listed(client, cfg, url, setting)
        if not listed:
            await _one_token(client, cfg, url, setting, listed)
        how = "listed" if listed else "completion"
        if images and await _reads_images(client, cfg, url, setting):
            how += "+images"
        return how
    finally:
        await client.close()


def _tiny_jpeg() -> str:
    """A 16x16 grey JPEG as a data URL (the smallest image every vision encoder accepts)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


async def _reads_images(client: Any, cfg: LLMConfig, url: str, setting: str) -> bool:
    """One 1-token completion with an image. True: answered; False: timed out (warned);
    raises PreflightError when the server refuses it."""
    content = [{"type": "text", "text": "Say OK."},
               {"type": "image_url", "image_url": {"url": _tiny_jpeg()}}]
    try:
        await client.chat.completions.create(
            model=cfg.model, messages=[{"role": "user", "content": content}], max_tokens=1)
    except Exception as exc:  # noqa: BLE001 - classified
        cls, why = _explain(exc, cfg, cfg.api_key_env)
        if cls == "Timeout":
            log.warning("%s: the image test request to %s got no answer within %g s; going "
                        "on (set %s.preflight_images=false to skip it)", setting, url,
                        cfg.preflight_timeout_s, setting)
            return False
        raise _fail(setting, url, cfg.model, f"answers text but not a request with an image "
                    f"({why}); captions send video frames: serve a vision model (llama.cpp: "
                    f"--mmproj; vLLM: a multimodal model), or set {setting}.preflight_images="
                    f"false to skip this check") from None
    return True


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
        if cls in ("HTTP404", "HTTP405", "HTTP400") or cls == "ServerError":
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
