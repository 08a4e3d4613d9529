"""Preflight: cheap requests to the configured server before a run sends any work.

`check_server` is what a command calls (captions, short prompts): the key and base_url
settings, then, unless `llm.preflight` is off, `preflight`. It returns the preflight's
`TokenUsage`, which the command adds to its run's usage (`llm.usage.run_events(...,
preflight=...)`), so `this_run` counts every request the server saw.

`GET /models` first (no tokens; not counted as a call). The model counts as available when the
list names it; when the server has no models list (404/405) or does not list the model
(llama.cpp's server lists its file name and answers to any name), a 1-token completion
(`server.one_token`) decides. Unreachable server, refused key or unknown model raise
`PreflightError` (a ConfigError: the command exits 2) with one line that names the URL and the
model, within `llm.preflight_timeout_s` per request.

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
from any2capins.llm.server import (
    make_client,
    one_token,
    read_api_key,
    require_base_url,
    transport_error,
)
from any2capins.models.common import TokenUsage

log = logging.getLogger("any2capins.llm")


class PreflightError(ConfigError):
    """The LLM server cannot serve this run (unreachable, key refused, model unknown)."""


def check_server(cfg: LLMConfig, setting: str, images: bool = False) -> TokenUsage:
    """Key, base_url and (unless `cfg.preflight` is off) the preflight, before any work: a
    problem stops the command with one line naming URL and model (exit 2). With `images`
    (captions), also a request with an image (`cfg.preflight_images`). Returns what the
    preflight sent (no requests: zero usage), for the run's usage."""
    require_base_url(cfg, setting)
    read_api_key(cfg.api_key_env, f"{setting}.api_key_env")  # workers read it themselves
    if not cfg.preflight:
        return TokenUsage()
    return preflight(cfg, setting, images=images)


def preflight(cfg: LLMConfig, setting: str, images: bool = False) -> TokenUsage:
    """Check that the server at `cfg.base_url` answers for `cfg.model` with the configured key
    (and, with `images` and `cfg.preflight_images`, reads an image). Returns the usage of the
    completions it sent; raises PreflightError."""
    url = require_base_url(cfg, setting)
    key = read_api_key(cfg.api_key_env, f"{setting}.api_key_env")
    check = _Check(cfg, url, setting)
    how = asyncio.run(check.run(key, images and cfg.preflight_images))
    log.info("%s: preflight ok: %s serves model %s (%s; %d completion request(s))", setting,
             url, cfg.model, how, check.usage.calls)
    return check.usage


class _Check:
    """One preflight: its requests and what they cost (`usage`, failed requests included)."""

    def __init__(self, cfg: LLMConfig, url: str, setting: str) -> None:
        self.cfg, self.url, self.setting = cfg, url, setting
        self.usage = TokenUsage()

    async def run(self, key: str, images: bool) -> str:
        """How the model was confirmed: 'listed' or 'completion', '+images' when checked."""
        client = make_client(self.cfg, key, self.setting, timeout=self.cfg.preflight_timeout_s)
        try:
            listed = await self._listed(client)
            if not listed:
                await self._one_token(client, listed)
            how = "listed" if listed else "completion"
            if images and await self._reads_images(client):
                how += "+images"
            return how
        finally:
            await client.close()

    async def _send(self, client: Any, image_url: str | None = None) -> Exception | None:
        usage, exc = await one_token(client, self.cfg, image_url=image_url)
        self.usage = self.usage + usage
        return exc

    def _fail(self, what: str) -> PreflightError:
        return PreflightError(f"{self.setting}: LLM server {self.url} (model {self.cfg.model}): "
                              f"{what}")

    async def _listed(self, client: Any) -> bool | None:
        """True: the models list names the model; False: it does not; None: no usable list."""
        try:
            page = await client.models.list()
        except Exception as exc:  # noqa: BLE001 - classified
            cls, why = _explain(exc, self.cfg)
            if cls in ("HTTP404", "HTTP405", "HTTP400") or cls == "ServerError":
                return None  # no models endpoint: the completion decides
            raise self._fail(why) from None
        ids = [m.id for m in getattr(page, "data", None) or []]
        if not ids:
            return None
        return self.cfg.model in ids

    async def _one_token(self, client: Any, listed: bool | None) -> None:
        exc = await self._send(client)
        if exc is None:
            return
        cls, why = _explain(exc, self.cfg)
        if listed is False:
            why = f"not in the server's models list, and a test request failed: {why}"
        elif cls in ("HTTP404", "HTTP400"):
            why = f"the test request was refused (unknown model?): {why}"
        raise self._fail(why)

    async def _reads_images(self, client: Any) -> bool:
        """One 1-token completion with an image. True: answered; False: timed out (warned);
        raises PreflightError when the server refuses it."""
        exc = await self._send(client, _tiny_jpeg())
        if exc is None:
            return True
        cls, why = _explain(exc, self.cfg)
        if cls == "Timeout":
            log.warning("%s: the image test request to %s got no answer within %g s; going "
                        "on (set %s.preflight_images=false to skip it)", self.setting,
                        self.url, self.cfg.preflight_timeout_s, self.setting)
            return False
        raise self._fail(f"answers text but not a request with an image ({why}); captions "
                         "send video frames: serve a vision model (llama.cpp: --mmproj; vLLM: "
                         f"a multimodal model), or set {self.setting}.preflight_images=false "
                         "to skip this check")


def _tiny_jpeg() -> str:
    """A 16x16 grey JPEG as a data URL (the smallest image every vision encoder accepts)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _explain(exc: Exception, cfg: LLMConfig) -> tuple[str, str]:
    """(error class, one-line reason) of a failed preflight request."""
    cls, _, _ = transport_error(exc)
    text = " ".join(str(exc).split())[:200]
    if cls == "ConnectionError":
        return cls, f"unreachable ({text})"
    if cls == "Timeout":
        return cls, f"no answer within {cfg.preflight_timeout_s:g} s"
    if cls in ("HTTP401", "HTTP403"):
        key_env = cfg.api_key_env
        source = f"the key from ${key_env}" if key_env else "no key (api_key_env: null)"
        return cls, f"unauthorised ({cls[4:]}): the server refused {source}"
    return cls, f"{cls}: {text}"
