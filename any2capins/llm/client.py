"""One structured call to an OpenAI-compatible server, with bounded retries and re-asks.

Requests go through the openai client's public API (`chat.completions.create` with a
`response_format` json_schema, or the schema in the system prompt in `json_text` mode). The
client's own retries are switched off (`max_retries=0`) so that this loop sees, counts and logs
every attempt:

- transport failures (429, 5xx, 408/409, timeouts, connection errors) are retried up to
  `llm.max_retries` times with exponential backoff; a 429's `retry-after` is honoured (capped);
  every retry is logged at INFO with its cause and kept in `CallOutcome.retries`;
- a 400 answer to a request carrying `response_format` (a server that rejects json_schema) is
  tried once more with the schema in the prompt text; when that works the whole session falls
  back to `json_text` (said once in the log, recorded in every row as the mode used);
- answer failures (finish_reason 'length', a refusal, invalid JSON, a schema mismatch, an empty
  or useless answer by the caller's `check`) are re-asked up to `llm.max_reasks` times; the
  re-ask carries the bad answer and the reason back to the model;
- other 4xx (bad request, auth) end the call at once;
- a server that stops answering mid-run opens the session's circuit breaker (breaker.py): after
  `llm.breaker_after` calls in a row ended in connection errors, timeouts or 5xx, calls wait
  for one probe, then fail at once, unsent, as retriable `LLMUnavailable`.

Tokens of every answered attempt are added to the call's usage, failures included.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from any2capins.config.captions import LLMConfig
from any2capins.llm.breaker import CONNECTION_CLASSES, UNAVAILABLE, CircuitBreaker
from any2capins.llm.server import (
    NO_KEY,
    make_client,
    read_api_key,
    require_base_url,
    response_usage,
    transport_error,
)
from any2capins.models.common import TokenUsage

# the connection helpers live in llm.server; imported from here by the stages' writers
__all__ = ["NO_KEY", "AnswerCheck", "CallOutcome", "LLMSession", "call_structured",
           "json_schema_format", "make_client", "parse_answer", "read_api_key",
           "request_params", "require_base_url", "strict_schema", "transport_error"]

log = logging.getLogger("any2capins.llm")
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
# reasoning models (Qwen3, DeepSeek-R1 and their VL kin) served without a reasoning parser put
# their thinking before the answer in the content itself
_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)

# An answer check: a reason string when a validated answer is still useless (e.g. empty text).
AnswerCheck = Callable[[BaseModel], str | None]


@dataclass
class CallOutcome:
    """Result of one call: `data` on success, else `error_class`/`message` and the last raw
    completion (None when no answer ever came). `retries` names the cause of every retry and
    re-ask in order; `mode` is the structured-output mode the last request used."""

    data: BaseModel | None = None
    raw: str | None = None
    error_class: str | None = None
    message: str | None = None
    attempts: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    retriable: bool = False
    retries: list[str] = field(default_factory=list)
    mode: str = "json_schema"


class _AnswerError(Exception):
    def __init__(self, error_class: str, message: str, reask: bool) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.reask = reask  # carry the error back to the model


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


def schema_instruction(schema: dict[str, Any]) -> str:
    """The text appended to the system prompt in json_text mode."""
    return ("\n\nAnswer with one JSON object only, no prose around it, valid against this JSON "
            "schema:\n```json\n" + json.dumps(schema, sort_keys=True) + "\n```")


def with_schema_in_text(messages: list[dict[str, Any]],
                        schema: dict[str, Any]) -> list[dict[str, Any]]:
    """`messages` with the schema instruction appended to the (first) system message."""
    out, done = [], False
    for msg in messages:
        if msg.get("role") == "system" and not done and isinstance(msg.get("content"), str):
            out.append({**msg, "content": msg["content"] + schema_instruction(schema)})
            done = True
        else:
            out.append(msg)
    if not done:
        out.insert(0, {"role": "system", "content": schema_instruction(schema).lstrip()})
    return out


def request_params(cfg: LLMConfig) -> dict[str, Any]:
    """Sampling parameters of every request (also part of the cache key)."""
    params: dict[str, Any] = {"model": cfg.model, "temperature": cfg.temperature,
                              "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}
    if cfg.seed is not None:
        params["seed"] = cfg.seed
    return params


def _json_object(text: str) -> Any:
    """The JSON in a completion text: the whole text, or inside code fences, or (a model that
    talks around its answer in json_text mode) the first JSON object in it. Raises
    _AnswerError InvalidJSON when there is none."""
    m = _FENCE.match(text)
    text = m.group(1) if m else text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first = text.find("{")
        if first >= 0:
            try:
                return json.JSONDecoder().raw_decode(text, first)[0]
            except json.JSONDecodeError:
                pass
        raise _AnswerError("InvalidJSON", f"not valid JSON: {exc}", reask=True) from None


def parse_answer(raw: str | None, model: type[BaseModel]) -> BaseModel:
    """Validate a completion text against `model`. Tolerated around the JSON: a leading
    <think>...</think> block, code fences, prose before or after the object."""
    if raw is None or not raw.strip():
        raise _AnswerError("EmptyAnswer", "the answer is empty", reask=True)
    answer = _THINK.sub("", raw, count=1)
    if not answer.strip():
        raise _AnswerError("EmptyAnswer", "the answer holds only the model's thinking",
                           reask=True)
    obj = _json_object(answer)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                         for e in exc.errors()[:8])
        raise _AnswerError("SchemaMismatch", f"does not match the schema: {errs}",
                             reask=True) from None


def _check_choice(resp: Any, model: type[BaseModel], check: AnswerCheck | None) -> BaseModel:
    if not getattr(resp, "choices", None):
        raise _AnswerError("InvalidResponse", "the response has no choices", reask=False)
    choice = resp.choices[0]
    msg = choice.message
    if getattr(msg, "refusal", None):
        raise _AnswerError("Refusal", f"the model refused: {msg.refusal}", reask=False)
    if choice.finish_reason == "length":
        raise _AnswerError("Truncated", "finish_reason 'length': the answer was cut off "
                             "(raise llm.max_tokens)", reask=False)
    data = parse_answer(msg.content, model)
    problem = check(data) if check is not None else None
    if problem:
        raise _AnswerError("EmptyAnswer", problem, reask=True)
    return data


def backoff(cfg: LLMConfig, retry: int, hint: float | None) -> float:
    """Wait before retry number `retry` (0-based): retry-after if given, else exponential with
    jitter; both capped by `backoff_max_s`."""
    if hint is not None:
        return min(hint, cfg.backoff_max_s)
    return min(cfg.backoff_s * (2**retry) * (0.75 + 0.5 * random.random()), cfg.backoff_max_s)


class LLMSession:
    """What every call of one stage worker shares: the structured-output mode (a server that
    rejects json_schema switches it to json_text once, logged once, for the worker's life) and
    the circuit breaker. `client` is set per batch (`use`): each batch runs in its own event
    loop, which an async client is bound to."""

    def __init__(self, client: Any, cfg: LLMConfig, label: str = "llm") -> None:
        self.client = client
        self.cfg = cfg
        self.label = label
        self.mode: str = cfg.structured_output
        self.breaker = CircuitBreaker(cfg, label)

    def use(self, client: Any) -> LLMSession:
        """This session with `client` for the next batch (close() closes it)."""
        self.client = client
        return self

    def fall_back(self, message: str) -> None:
        if self.mode != "json_text":
            self.mode = "json_text"
            log.warning("%s: the server at %s rejected response_format json_schema (%s); "
                        "falling back to JSON in the prompt text for the rest of this worker's run "
                        "(set llm.structured_output: json_text to skip the first try)",
                        self.label, self.cfg.base_url, message[:200])

    async def close(self) -> None:
        await self.client.close()


async def call_structured(session: LLMSession, messages: list[dict[str, Any]],
                          model: type[BaseModel], name: str,
                          check: AnswerCheck | None = None) -> CallOutcome:
    """Run one call to success or to a recorded failure. `messages` hold no schema: it goes
    as response_format (json_schema) or into the system prompt (json_text), by the session's
    mode. Never raises for API or answer errors. With the session's circuit breaker dead,
    nothing is sent and the outcome is a retriable `LLMUnavailable`."""
    call = _Call(session, list(messages), model, name, check)
    breaker = session.breaker
    while True:
        if not await breaker.admit():
            return call.unavailable()
        call.out.attempts += 1
        try:
            resp = await _send(session, call.convo, model, name, call.out.mode)
        except Exception as exc:  # noqa: BLE001 - every client error is classified below
            wait = call.transport_failed(exc)
            if wait is None and not await _recovered(session, call):
                return call.out
            await asyncio.sleep(wait or 0.0)
            continue
        breaker.alive()
        if call.answered(resp):
            return call.out


async def _recovered(session: LLMSession, call: _Call) -> bool:
    """A call that ended in a transport failure: count it; when that opened the breaker, this
    call probes. True: the probe got an answer, try the call again (with fresh retries)."""
    breaker = session.breaker
    if not breaker.failed(call.out.error_class, call.out.message):
        return False
    closed, probe_usage = await breaker.probe(session.client)
    call.out.usage = call.out.usage + probe_usage  # the probe was sent: this call paid it
    if closed:
        call.retries = 0
        call.out.retries.append("breaker_probe")
        return True
    call.unavailable()
    return False


class _Call:
    """The state of one call between attempts: counters, the conversation, the outcome."""

    def __init__(self, session: LLMSession, messages: list[dict[str, Any]],
                 model: type[BaseModel], name: str, check: AnswerCheck | None) -> None:
        self.session, self.cfg, self.messages = session, session.cfg, messages
        self.model, self.name, self.check = model, name, check
        self.out = CallOutcome(mode=session.mode)
        self.convo = list(messages)
        self.retries = self.reasks = 0
        self.rejected: str | None = None  # the 400 that refused json_schema

    def unavailable(self) -> CallOutcome:
        """End the call unsent (or unsent again): the breaker is dead."""
        out = self.out
        out.error_class, out.retriable = UNAVAILABLE, True
        out.message = self.session.breaker.message()
        return out

    def transport_failed(self, exc: Exception) -> float | None:
        """Record a failed request; the wait before the next attempt, or None to stop."""
        out = self.out
        out.usage = out.usage + TokenUsage(calls=1)
        cls, retriable, hint = transport_error(exc)
        if cls not in CONNECTION_CLASSES:
            self.session.breaker.alive()  # a 4xx or 429 is the server talking
        where = f" ({self.cfg.base_url})" if cls in ("ConnectionError", "Timeout") else ""
        out.error_class, out.retriable, out.message = cls, retriable, f"{str(exc)[:1000]}{where}"
        if cls == "HTTP400" and out.mode == "json_schema" and self.rejected is None:
            self.rejected, out.mode = out.message, "json_text"  # try the schema as prompt text
            out.retries.append("json_schema_rejected")
            return 0.0
        if not retriable or self.retries >= self.cfg.max_retries:
            return None
        wait = backoff(self.cfg, self.retries, hint)
        self.retries += 1
        out.retries.append(cls)
        log.info("%s %s: retry %d/%d after %s (waiting %.1f s): %s", self.session.label,
                 self.name, self.retries, self.cfg.max_retries, cls, wait, out.message[:200])
        return wait

    def answered(self, resp: Any) -> bool:
        """Check an answer; True when the call is over (success or out of re-asks)."""
        out = self.out
        if self.rejected:
            self.session.fall_back(self.rejected)
            self.rejected = ""  # said; never fall back twice in one call
        _add_usage(out, resp)
        try:
            out.data = _check_choice(resp, self.model, self.check)
        except _AnswerError as problem:
            out.error_class, out.message, out.retriable = problem.error_class, str(problem), False
            if self.reasks >= self.cfg.max_reasks:
                return True
            self.reasks += 1
            out.retries.append(f"reask:{problem.error_class}")
            log.info("%s %s: re-ask %d/%d after %s: %s", self.session.label, self.name,
                     self.reasks, self.cfg.max_reasks, problem.error_class, str(problem)[:200])
            self.convo = list(self.messages)
            if problem.reask:
                self.convo += [{"role": "assistant", "content": out.raw or ""},
                               {"role": "user", "content": f"Your answer was rejected: "
                                f"{problem}. Answer again with one JSON object that matches "
                                "the schema."}]
            return False
        out.error_class = out.message = None
        out.retriable = False
        return True


async def _send(session: LLMSession, convo: list[dict[str, Any]], model: type[BaseModel],
                name: str, mode: str) -> Any:
    """One POST /chat/completions through the public API, in structured-output `mode`."""
    if mode == "json_schema":
        return await session.client.chat.completions.create(
            messages=convo, response_format=json_schema_format(name, model),
            **request_params(session.cfg))
    return await session.client.chat.completions.create(
        messages=with_schema_in_text(convo, strict_schema(model)), **request_params(session.cfg))


def _add_usage(out: CallOutcome, resp: Any) -> None:
    out.usage = out.usage + response_usage(resp)
    out.raw = resp.choices[0].message.content if getattr(resp, "choices", None) else None
