"""The `openai` backend of short prompts: one structured call per instance through the shared
LLM client (bounded retries and re-asks, every attempt's tokens counted) and the per-shard call
cache.

An answer with fewer than `min_words` words is re-asked inside the call (with the reason). A
prompt that fails the rule checks is asked for again with the failed checks in the
conversation, up to `max_attempts` generations; then the instance becomes an error row whose
detail holds the last raw completion, the retries and the structured-output mode. Only prompts
that pass every check are cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from any2capins.config.shortprompts import ShortPromptsConfig
from any2capins.llm.cache import ShardCache, cache_key
from any2capins.llm.client import (
    LLMSession,
    call_structured,
    make_client,
    read_api_key,
    request_params,
)
from any2capins.llm.prompts import Prompt, load_prompts
from any2capins.models.common import TokenUsage
from any2capins.models.instances import set_name
from any2capins.runtime.stage import Failure

SETTING = "shortprompts.prompts_dir"


class ShortPromptOutput(BaseModel):
    """What the model answers."""

    prompt: str = Field(description="The short user-style prompt.")


def load_set_prompts(cfg: ShortPromptsConfig) -> dict[str, Prompt]:
    """One prompt file per condition set of the recipe: prompts/shortprompt/<set>.yaml."""
    names = sorted({set_name(s) for s in cfg.recipe.sets})
    return load_prompts(cfg.prompts_dir, names, setting=SETTING, subdir="shortprompt")


def render_messages(prompt: Prompt, values: dict[str, Any]) -> list[dict]:
    """System and user message of one instance (the LLM client adds the schema in json_text
    mode)."""
    system = prompt.system.format(**values)
    return [{"role": "system", "content": system},
            {"role": "user", "content": prompt.user.format(**values)}]


Finisher = Callable[..., Any]


class LLMPromptWriter:
    """Writes the prompts of many instances concurrently (bounded by llm.max_concurrency)."""

    def __init__(self, cfg: ShortPromptsConfig, prompts: dict[str, Prompt], cache_root: str,
                 finish: Finisher) -> None:
        self.cfg = cfg
        self.prompts = prompts
        self.cache = ShardCache(cache_root)
        self.finish = finish
        self.api_key = read_api_key(cfg.llm.api_key_env, "shortprompts.llm.api_key_env")
        self.usage = TokenUsage()
        # one per worker (this writer lives as long as the stage's worker): a json_schema
        # fallback and a circuit breaker that opened hold for the worker's life
        self.session = LLMSession(None, cfg.llm, "shortprompts")
        for name in ("httpx2", "httpx", "openai"):
            logging.getLogger(name).setLevel(logging.WARNING)

    def take_usage(self) -> TokenUsage:
        usage, self.usage = self.usage, TokenUsage()
        return usage

    def open_shard(self, index: int) -> None:
        self.cache.open(index)

    def write_all(self, plans: list[dict[str, Any]]) -> list[Any]:
        try:
            return asyncio.run(self._all(plans)) if plans else []
        finally:
            self.cache.flush()

    async def _all(self, plans: list[dict[str, Any]]) -> list[Any]:
        client = make_client(self.cfg.llm, self.api_key, "shortprompts.llm")
        session = self.session.use(client)
        gate = asyncio.Semaphore(self.cfg.llm.max_concurrency)
        try:
            return list(await asyncio.gather(*(self._one(p, session, gate) for p in plans)))
        finally:
            await session.close()

    def _useless(self, data: Any) -> str | None:
        n, need = len(str(getattr(data, "prompt", "") or "").split()), self.cfg.min_words
        return (f"the prompt has {n} word(s); write at least {need} words"
                if n < need else None)

    def _values(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"caption": p["text"], "n_images": p["n_images"],
                "target_words": self.cfg.target_words, "max_words": self.cfg.max_words}

    async def _one(self, p: dict[str, Any], session: LLMSession, gate: asyncio.Semaphore) -> Any:
        name = set_name(p["conditions"])
        prompt, llm = self.prompts[name], self.cfg.llm
        messages = render_messages(prompt, self._values(p))
        key = cache_key({"model": llm.model, "prompt": prompt.tag, "messages": messages,
                         "params": request_params(llm), "mode": llm.structured_output})
        hit = self.cache.get(key)
        if hit is not None and len(str(hit.get("prompt", "")).split()) >= self.cfg.min_words:
            self.usage = self.usage + TokenUsage(cached_calls=1)
            cached = self.finish(p, hit["prompt"], backend="openai", model=llm.model,
                                 version=prompt.tag, attempts=0,
                                 structured_output=hit.get("mode"), retries=[])
            if not isinstance(cached, Failure):  # checks may have changed since it was cached
                return cached
        return await self._generate(p, session, gate, messages=messages, key=key,
                                    tag=prompt.tag)

    async def _generate(self, p: dict[str, Any], session: LLMSession, gate: asyncio.Semaphore,
                        *, messages: list[dict], key: str, tag: str) -> Any:
        llm, convo, attempts = self.cfg.llm, list(messages), 0
        result: Any = None
        retries: list[str] = []
        for generation in range(self.cfg.max_attempts):
            if generation:
                retries.append("regenerate:ShortPromptInvalid")
            async with gate:
                out = await call_structured(session, convo, ShortPromptOutput, "shortprompt",
                                            self._useless)
            attempts += out.attempts
            retries += out.retries
            self.usage = self.usage + out.usage
            if out.data is None:
                return Failure(out.error_class or "LLMError", f"{set_name(p['conditions'])}: "
                               f"{out.message}", retriable=out.retriable,
                               detail=_detail(out.raw, retries, out.mode), attempts=attempts)
            text = " ".join(out.data.prompt.split())
            result = self.finish(p, text, backend="openai", model=llm.model, version=tag,
                                 attempts=attempts, structured_output=out.mode, retries=retries)
            if not isinstance(result, Failure):
                self.cache.put(key, {"prompt": text, "tag": tag, "mode": out.mode})
                return result
            convo = [*messages, {"role": "assistant", "content": out.raw or ""},
                     {"role": "user", "content": "That prompt breaks these rules: "
                      f"{result.message}. Write it again following every rule."}]
        return result


def _detail(raw: str | None, retries: list[str], mode: str) -> str:
    """The error row's detail: the last raw completion, the retry causes and the mode."""
    return json.dumps({"raw_completion": raw, "retries": retries, "structured_output": mode})
