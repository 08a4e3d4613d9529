"""Token usage per section and per run, with an optional cost estimate.

Two views that each add up:

- `this_run`: the requests and tokens this command actually sent (retries included), from the
  completion records of the shards it wrote; cache hits are counted apart (`cached_calls`),
  skipped shards not at all. With it: the retries and re-asks of this run, by cause, and the
  structured-output mode of the answers it got.
- `all_rows` / `sections`: what the current rows cost when they were first paid for, read back
  from the rows (`captions/sections/`: a cache hit keeps its original cost) and the error rows'
  detail (sections of failed clips), so retries and failures are covered.

`captions/usage.json` holds both.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from any2capins.config.captions import PriceTable
from any2capins.io.shards import ShardStore
from any2capins.models.captions import SECTIONS, ClipSections
from any2capins.models.common import TokenUsage


def section_usage(store: ShardStore, stage: str = "captions") -> dict[str, TokenUsage]:
    """Usage per section over all current rows and error rows of the stage."""
    out = {s: TokenUsage() for s in SECTIONS}
    if store.shard_indices("captions/sections"):
        for row in store.read_all("captions/sections", ClipSections):
            for r in row.sections:
                out[r.section] = out[r.section] + r.usage
    for err in store.read_errors(stage):
        for name, info in _detail_sections(err.detail).items():
            if name in out and "usage" in info:
                out[name] = out[name] + TokenUsage(**info["usage"])
    return out


def cost(usage: TokenUsage, price: PriceTable | None) -> float | None:
    if price is None:
        return None
    return round(usage.prompt_tokens / 1e6 * price.prompt_per_million
                 + usage.completion_tokens / 1e6 * price.completion_per_million, 6)


def run_events(store: ShardStore, started: datetime, stage: str = "captions") -> dict[str, Any]:
    """What this run (since `started`) sent: usage (TokenUsage, from the completion records it
    wrote), and the causes of retries and re-asks and the structured-output modes of the
    answers it got (counts, from the rows and error rows it wrote)."""
    usage = TokenUsage()
    shards = []
    for d in store.done_records(stage):
        if d.started >= started:
            shards.append(d.shard)
            run = getattr(d, "run_usage", None)  # a retry-only write: just its own usage
            usage = usage + (run if run is not None else d.usage or TokenUsage())
    causes: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    for i in sorted(shards):
        for row in store.read_shard("captions/sections", i, ClipSections):
            for r in row.sections:
                if row.written >= started and r.source == "openai" and not r.cached:
                    causes.update(r.retries)
                    modes[r.structured_output or "unknown"] += 1
    for err in store.read_errors(stage):
        if err.shard in shards and err.time >= started:
            for info in _detail_sections(err.detail).values():
                if not info.get("cached"):
                    causes.update(info.get("retries") or [])
    return {"usage": usage, "shards_run": sorted(shards),
            "retries": {k: v for k, v in sorted(causes.items()) if not k.startswith("reask:")},
            "reasks": {k[6:]: v for k, v in sorted(causes.items()) if k.startswith("reask:")},
            "structured_output": dict(sorted(modes.items()))}


def _detail_sections(detail: str | None) -> dict[str, dict[str, Any]]:
    try:
        sections = json.loads(detail or "{}").get("sections", {})
    except (ValueError, AttributeError):
        return {}
    return {k: v for k, v in sections.items() if isinstance(v, dict)}


def usage_report(store: ShardStore, run_usage: TokenUsage, price: PriceTable | None,
                 model: str | None, events: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON written to captions/usage.json."""
    per = section_usage(store)
    total = TokenUsage()
    for u in per.values():
        total = total + u
    return {
        "model": model,
        "this_run": {**run_usage.model_dump(), "cost": cost(run_usage, price),
                     **{k: (events or {}).get(k, {}) for k in
                        ("retries", "reasks", "structured_output")}},
        "sections": {s: {**u.model_dump(), "cost": cost(u, price)} for s, u in per.items()},
        "all_rows": {**total.model_dump(), "cost": cost(total, price)},
        "currency": price.currency if price else None,
    }


def usage_lines(report: dict[str, Any]) -> list[str]:
    cur = report.get("currency") or ""
    lines = []
    for name, u in report["sections"].items():
        c = f"  {u['cost']:.4f} {cur}" if u.get("cost") is not None else ""
        lines.append(f"  {name:<12} tokens {u['prompt_tokens']:>9}+{u['completion_tokens']:<8} "
                     f"calls {u['calls']:>5}  cached {u['cached_calls']:>5}{c}")
    run = report["this_run"]
    c = f", cost {run['cost']:.4f} {cur}" if run.get("cost") is not None else ""
    lines.append(f"  this run: {run['prompt_tokens']}+{run['completion_tokens']} tokens, "
                 f"{run['calls']} requests, {run['cached_calls']} cached{c}")
    for what in ("retries", "reasks"):
        if run.get(what):
            causes = ", ".join(f"{k} {v}" for k, v in run[what].items())
            lines.append(f"  {what} this run: {sum(run[what].values())} ({causes})")
    if "json_text" in (run.get("structured_output") or {}):
        lines.append("  structured output: json_text (the server rejected json_schema, or "
                     "llm.structured_output is json_text)")
    return lines
