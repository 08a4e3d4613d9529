"""One structured call to an OpenAI-compatible server, with bounded retries and re-asks.

The openai client's own retries are switched off (`max_retries=0`) so that this loop sees, and
counts, every attempt:

- transport failures (429, 5xx, 408/409, timeouts, connection errors) are retried up to
  `llm.max_retries` times with exponential backoff; a 429's `retry-after` is honoured (capped);
- answer failures (finish_reason 'length', a refusal, invalid JSON, a schema mismatch) are
  re-asked up to `llm.max_reasks` times; for invalid JSON and schema mismatches the re-ask
  carries the bad answer and the validation error back to the model;
- other 4xx (bad request, auth) end the call at once.

Tokens of every answered attempt are added to the call's usage, failures included.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from any2capins.config.captions import LLMConfig
from any2capins.errors import ConfigError
from any2capins.models.common import TokenUsage

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass
class CallOutcome:
    """Result of one call: `data` on success, else `error_class`/`message` and the last raw
    completion (None when no answer ever came)."""

    data: BaseModel | None = None
    raw: str | None = None
    error_class: str | None = None
    message: str | None = None
    attempts: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    retriable: bool = False


class _AnswerError(Exception):
    def __init__(self, error_class: str, message: str, reask: bool) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.reask = reask  # carry the error back to the model


NO_KEY = "no-key"  # sent when llm.api_key_env is None (servers that ignore keys)


def read_api_key(env_name: str | None, setting: str = "llm.api_key_env") -> str:
    """The API key from the named environment variable (never from config or files)."""
    if env_name is None:
        return NO_KEY
    key = os.environ.get(env_name, "")
    if not key:
        raise ConfigError(f"{setting}: environment variable {env_name} is not set "
                          "(set it, or set api_key_env to null for servers without keys)")
    return key


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """JSON schema of `model` in OpenAI strict form: all properties required, no additional
    properties, at every object level."""
    schema = copy.deepcopy(model.model_json_schema())
    _strictify(schema)
    for sub in schema.get("$defs", {}).values():
        _strictify(sub)
    return schema


def _strictify(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
        for value in node.values():
            _strictify(value)
    elif isinstance(node, list):
        for value in node:
            _strictify(value)


def json_schema_format(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` parameter asking for `model` as strict JSON."""
    return {"type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": strict_schema(model)}}


def make_client(cfg: LLMConfig, api_key: str) -> Any:
    """An AsyncOpenAI client with the library retries off (this module retries)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key=api_key, base_url=cfg.base_url, max_retries=0,
                       timeout=cfg.timeout_s)


async def _create(client: Any, body: dict[str, Any]) -> Any:
    """POST /chat/completions through the client's request path (auth, timeouts, error types,
    typed `ChatCompletion` result). The body is plain JSON already; `create()` would first walk
    it through the client's TypedDict transform, which costs ~8 ms of CPU per request with
    base64 images (measured: the bottleneck at 32 requests in flight)."""
    from openai.types.chat import ChatCompletion

    return await client.post("/chat/completions", cast_to=ChatCompletion, body=body)


def request_params(cfg: LLMConfig) -> dict[str, Any]:
    """Sampling parameters of every request (also part of the cache key)."""
    params: dict[str, Any] = {"model": cfg.model, "temperature": cfg.temperature,
                              "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}
    if cfg.seed is not None:
        params["seed"] = cfg.seed
    return params


def parse_answer(raw: str | None, model: type[BaseModel]) -> BaseModel:
    """Validate a completion text against `model` (code fences around the JSON are tolerated)."""
    if raw is None or not raw.strip():
        raise _AnswerError("InvalidJSON", "the answer is empty", reask=True)
    m = _FENCE.match(raw)
    text = m.group(1) if m else raw
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _AnswerError("InvalidJSON", f"not valid JSON: {exc}", reask=True) from None
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                         for e in exc.errors()[:8])
        raise _AnswerError("SchemaMismatch", f"does not match the schema: {errs}",
                             reask=True) from None


def _check_choice(resp: Any, model: type[BaseModel]) -> BaseModel:
    if not getattr(resp, "choices", None):
        raise _AnswerError("InvalidResponse", "the response has no choices", reask=False)
    choice = resp.choices[0]
    msg = choice.message
    if getattr(msg, "refusal", None):
        raise _AnswerError("Refusal", f"the model refused: {msg.refusal}", reask=False)
    if choice.finish_reason == "length":
        raise _AnswerError("Truncated", "finish_reason 'length': the answer was cut off "
                             "(raise llm.max_tokens)", reask=False)
    return parse_answer(msg.content, model)


def _transport_error(exc: Exception) -> tuple[str, bool, float | None]:
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


def backoff(cfg: LLMConfig, retry: int, hint: float | None) -> float:
    """Wait before retry number `retry` (0-based): retry-after if given, else exponential with
    jitter; both capped by `backoff_max_s`."""
    if hint is not None:
        return min(hint, cfg.backoff_max_s)
    return min(cfg.backoff_s * (2**retry) * (0.75 + 0.5 * random.random()), cfg.backoff_max_s)


async def call_structured(client: Any, cfg: LLMConfig, messages: list[dict[str, Any]],
                          response_format: dict[str, Any] | None,
                          model: type[BaseModel]) -> CallOutcome:
    """Run one section call to success or to a recorded failure. Never raises for API or
    answer errors."""
    out = CallOutcome()
    retries = reasks = 0
    convo = list(messages)
    extra = {"response_format": response_format} if response_format else {}
    while True:
        out.attempts += 1
        try:
            resp = await _create(client, {"messages": convo, **request_params(cfg), **extra})
        except Exception as exc:  # noqa: BLE001 - every client error is classified below
            out.usage = out.usage + TokenUsage(calls=1)
            name, retriable, hint = _transport_error(exc)
            out.error_class, out.message, out.retriable = name, str(exc)[:1000], retriable
            if not retriable or retries >= cfg.max_retries:
                return out
            await asyncio.sleep(backoff(cfg, retries, hint))
            retries += 1
            continue
        usage = getattr(resp, "usage", None)
        out.usage = out.usage + TokenUsage(
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0, calls=1)
        out.raw = resp.choices[0].message.content if getattr(resp, "choices", None) else None
        try:
            out.data = _check_choice(resp, model)
        except _AnswerError as problem:
            out.error_class, out.message, out.retriable = problem.error_class, str(problem), False
            if reasks >= cfg.max_reasks:
                return out
            reasks += 1
            convo = list(messages)
            if problem.reask:
                convo += [{"role": "assistant", "content": out.raw or ""},
                          {"role": "user", "content": f"Your answer was rejected: {problem}. "
                           "Answer again with one JSON object that matches the schema."}]
            continue
        out.error_class = out.message = None
        return out
