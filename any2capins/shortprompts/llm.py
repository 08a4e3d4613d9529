"""The `openai` backend of short prompts: one structured call per instance through the shared
LLM client (bounded retries and re-asks, every attempt's tokens counted) and call cache.

A prompt that fails the rule checks is asked for again with the failed checks in the
conversation, up to `max_attempts` generations; then the instance becomes an error row.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from any2capins.config.shortprompts import ShortPromptsConfig
from any2capins.llm.cache import CallCache, cache_key
from any2capins.llm.client import (
    call_structured,
    json_schema_format,
    make_client,
    read_api_key,
    request_params,
    strict_schema,
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


def render_messages(prompt: Prompt, values: dict[str, Any], json_text: bool) -> list[dict]:
    system = prompt.system.format(**values)
    if json_text:
        system += ("\n\nAnswer with one JSON object only, valid against this JSON schema:\n"
                   "```json\n" + json.dumps(strict_schema(ShortPromptOutput)) + "\n```")
    return [{"role": "system", "content": system},
            {"role": "user", "content": prompt.user.format(**values)}]


Finisher = Callable[..., Any]


class LLMPromptWriter:
    """Writes the prompts of many instances concurrently (bounded by llm.max_concurrency)."""

    def __init__(self, cfg: ShortPromptsConfig, prompts: dict[str, Prompt], cache_root: str,
                 finish: Finisher) -> None:
        self.cfg = cfg
        self.prompts = prompts
        self.cache = CallCache(cache_root)
        self.finish = finish
        self.api_key = read_api_key(cfg.llm.api_key_env, "shortprompts.llm.api_key_env")
        self.usage = TokenUsage()
        for name in ("httpx2", "httpx", "openai"):
            logging.getLogger(name).setLevel(logging.WARNING)

    def take_usage(self) -> TokenUsage:
        usage, self.usage = self.usage, TokenUsage()
        return usage

    def write_all(self, plans: list[dict[str, Any]]) -> list[Any]:
        return asyncio.run(self._all(plans)) if plans else []

    async def _all(self, plans: list[dict[str, Any]]) -> list[Any]:
        client = make_client(self.cfg.llm, self.api_key)
        gate = asyncio.Semaphore(self.cfg.llm.max_concurrency)
        try:
            return list(await asyncio.gather(*(self._one(p, client, gate) for p in plans)))
        finally:
            await client.close()

    def _values(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"caption": p["text"], "n_images": p["n_images"],
                "target_words": self.cfg.target_words, "max_words": self.cfg.max_words}

    async def _one(self, p: dict[str, Any], client: Any, gate: asyncio.Semaphore) -> Any:
        name = set_name(p["conditions"])
        prompt, llm = self.prompts[name], self.cfg.llm
        json_text = llm.structured_output == "json_text"
        messages = render_messages(prompt, self._values(p), json_text)
        fmt = None if json_text else json_schema_format("shortprompt", ShortPromptOutput)
        key = cache_key({"model": llm.model, "prompt": prompt.tag, "messages": messages,
                         "params": request_params(llm), "mode": llm.structured_output})
        hit = await asyncio.to_thread(self.cache.get, key)
        if hit is not None:
            self.usage = self.usage + TokenUsage(cached_calls=1)
            cached = self.finish(p, hit["prompt"], backend="openai", model=llm.model,
                                 version=prompt.tag, attempts=0)
            if not isinstance(cached, Failure):  # checks may have changed since it was cached
                return cached
        return await self._generate(p, client, gate, messages=messages, fmt=fmt, key=key,
                                    tag=prompt.tag)

    async def _generate(self, p: dict[str, Any], client: Any, gate: asyncio.Semaphore, *,
                        messages: list[dict], fmt: dict | None, key: str, tag: str) -> Any:
        llm, convo, attempts = self.cfg.llm, list(messages), 0
        result: Any = None
        for _ in range(self.cfg.max_attempts):
            async with gate:
                out = await call_structured(client, llm, convo, fmt, ShortPromptOutput)
            attempts += out.attempts
            self.usage = self.usage + out.usage
            if out.data is None:
                return Failure(out.error_class or "LLMError", f"{set_name(p['conditions'])}: "
                               f"{out.message}", retriable=out.retriable, detail=out.raw,
                               attempts=attempts)
            text = " ".join(out.data.prompt.split())
            result = self.finish(p, text, backend="openai", model=llm.model, version=tag,
                                 attempts=attempts)
            if not isinstance(result, Failure):
                await asyncio.to_thread(self.cache.put, key, {"prompt": text, "tag": tag})
                return result
            convo = [*messages, {"role": "assistant", "content": out.raw or ""},
                     {"role": "user", "content": "That prompt breaks these rules: "
                      f"{result.message}. Write it again following every rule."}]
        return result
