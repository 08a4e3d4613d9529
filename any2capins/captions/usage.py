"""Token usage per section and per run, with an optional cost estimate.

Two views that each add up:

- `this_run`: the requests and tokens this command actually sent, so the server's count: the
  shards it wrote (retries included) and the preflight's requests, which `this_run.preflight`
  also shows apart (`llm.usage.run_events`); cache hits are counted apart (`cached_calls`),
  skipped shards not at all. With it: the retries and re-asks of this run, by cause, and the
  structured-output mode of the answers it got.
- `all_rows` / `sections`: what the current rows cost when they were first paid for, read back
  from the rows (`captions/sections/`: a cache hit keeps its original cost) and the error rows'
  detail (sections of failed clips), so retries and failures are covered.

`captions/usage.json` holds both.
"""

from __future__ import annotations

import json
from typing import Any

from any2capins.config.captions import PriceTable
from any2capins.io.shards import ShardStore
from any2capins.llm.usage import RunEvents
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


def _detail_sections(detail: str | None) -> dict[str, dict[str, Any]]:
    try:
        sections = json.loads(detail or "{}").get("sections", {})
    except (ValueError, AttributeError):
        return {}
    return {k: v for k, v in sections.items() if isinstance(v, dict)}


def usage_report(store: ShardStore, events: RunEvents, price: PriceTable | None,
                 model: str | None) -> dict[str, Any]:
    """The JSON written to captions/usage.json (`events`: `llm.usage.run_events` of the run)."""
    per = section_usage(store)
    total = TokenUsage()
    for u in per.values():
        total = total + u
    run = events.usage
    return {
        "model": model,
        "this_run": {**run.model_dump(), "cost": cost(run, price),
                     "preflight": {**events.preflight.model_dump(),
                                   "cost": cost(events.preflight, price)},
                     "retries": events.retries, "reasks": events.reasks,
                     "structured_output": events.structured_output},
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
    pre = (run.get("preflight") or {}).get("calls") or 0
    lines.append(f"  this run: {run['prompt_tokens']}+{run['completion_tokens']} tokens, "
                 f"{run['calls']} requests{f' ({pre} preflight)' if pre else ''}, "
                 f"{run['cached_calls']} cached{c}")
    for what in ("retries", "reasks"):
        if run.get(what):
            causes = ", ".join(f"{k} {v}" for k, v in run[what].items())
            lines.append(f"  {what} this run: {sum(run[what].values())} ({causes})")
    if "json_text" in (run.get("structured_output") or {}):
        lines.append("  structured output: json_text (the server rejected json_schema, or "
                     "llm.structured_output is json_text)")
    return lines
