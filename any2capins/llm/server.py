"""The connection to an OpenAI-compatible server, below everything else in llm/: the key, the
URL, the one client builder, how a client error is classified, and the one cheap request.

- `make_client`: every AsyncOpenAI client of the project is built here (the stages' calls,
  whose client the circuit breaker's probe also uses, and the preflight's), with the library's
  own retries off (`llm.client` retries, counting every attempt).
- `one_token`: the 1-token completion ("Say OK.", `max_tokens=1`, optionally with one image)
  that the preflight and the circuit breaker's probe send; it needs the model to run, not just
  the HTTP front. Its `TokenUsage` (one request, the tokens the server reported) is what it
  cost, so that a run's usage counts every request it sent.
"""

from __future__ import annotations

import os
from typing import Any

from any2capins.config.captions import LLMConfig
from any2capins.errors import ConfigError
from any2capins.models.common import TokenUsage

NO_KEY = "no-key"  # sent when llm.api_key_env is None (servers that ignore keys)
TEST_PROMPT = "Say OK."


def read_api_key(env_name: str | None, setting: str = "llm.api_key_env") -> str:
    """The API key from the named environment variable (never from config or files)."""
    if env_name is None:
        return NO_KEY
    key = os.environ.get(env_name, "")
    if not key:
        raise ConfigError(f"{setting}: environment variable {env_name} is not set "
                          "(set it, or set api_key_env to null for servers without keys)")
    return key


def require_base_url(cfg: LLMConfig, setting: str) -> str:
    """The configured server URL. There is no default endpoint: data is only ever sent where
    the user pointed it (for OpenAI itself: https://api.openai.com/v1)."""
    if not cfg.base_url:
        raise ConfigError(f"{setting}.base_url is not set: give the URL of an OpenAI-compatible "
                          "server, e.g. http://127.0.0.1:8080/v1 (for OpenAI itself: "
                          "https://api.openai.com/v1), or use the offline `rules` backend")
    return cfg.base_url


def make_client(cfg: LLMConfig, api_key: str, setting: str = "llm", *,
                timeout: float | None = None) -> Any:
    """An AsyncOpenAI client for the configured server, with the library retries off (the
    callers retry and count). `timeout` defaults to `llm.timeout_s`. Raises ConfigError when
    no base_url is configured."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key=api_key, base_url=require_base_url(cfg, setting), max_retries=0,
                       timeout=cfg.timeout_s if timeout is None else timeout)


def one_token_request(cfg: LLMConfig, image_url: str | None = None) -> dict[str, Any]:
    """Keyword arguments of the 1-token completion (module docstring); with `image_url` (a
    data URL) the user message also carries that image."""
    content: Any = TEST_PROMPT
    if image_url is not None:
        content = [{"type": "text", "text": TEST_PROMPT},
                   {"type": "image_url", "image_url": {"url": image_url}}]
    return {"model": cfg.model, "messages": [{"role": "user", "content": content}],
            "max_tokens": 1}


async def one_token(client: Any, cfg: LLMConfig, *, image_url: str | None = None,
                    timeout: float | None = None) -> tuple[TokenUsage, Exception | None]:
    """Send the 1-token completion: (its usage, None) when answered; (one request without
    tokens, the client's exception) when not (classify it with `transport_error`)."""
    if timeout is not None:
        client = client.with_options(timeout=timeout)
    try:
        resp = await client.chat.completions.create(**one_token_request(cfg, image_url))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, which classifies it
        return TokenUsage(calls=1), exc
    return response_usage(resp), None


def response_usage(resp: Any) -> TokenUsage:
    """One answered request: the tokens the server reported (0 when it reported none)."""
    usage = getattr(resp, "usage", None)
    return TokenUsage(prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                      completion_tokens=getattr(usage, "completion_tokens", 0) or 0, calls=1)


def transport_error(exc: Exception) -> tuple[str, bool, float | None]:
    """(error class, retriable, retry-after seconds) of a client exception."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "Timeout", True, None
    if isinstance(exc, openai.APIConnectionError):
        return "ConnectionError", True, None
    if isinstance(exc, openai.RateLimitError):
        return "RateLimited", True, _retry_after(exc)
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        retriable = code >= 500 or code in (408, 409)
        return ("ServerError" if code >= 500 else f"HTTP{code}"), retriable, _retry_after(exc)
    return type(exc).__name__, False, None


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None
