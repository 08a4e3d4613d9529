"""Token usage per section and per run, with an optional cost estimate.

Per section, usage is read back from the rows (`captions/sections/`, each section's tokens of
every attempt) and from the error rows' detail (sections of failed clips), so the summary covers
retries and failures alike. `captions/usage.json` holds it next to this run's totals.
"""

from __future__ import annotations

import json
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
        try:
            sections = json.loads(err.detail or "{}").get("sections", {})
        except ValueError:
            continue
        for name, info in sections.items():
            if name in out and isinstance(info, dict) and "usage" in info:
                out[name] = out[name] + TokenUsage(**info["usage"])
    return out


def cost(usage: TokenUsage, price: PriceTable | None) -> float | None:
    if price is None:
        return None
    return round(usage.prompt_tokens / 1e6 * price.prompt_per_million
                 + usage.completion_tokens / 1e6 * price.completion_per_million, 6)


def usage_report(store: ShardStore, run_usage: TokenUsage, price: PriceTable | None,
                 model: str | None) -> dict[str, Any]:
    """The JSON written to captions/usage.json."""
    per = section_usage(store)
    total = TokenUsage()
    for u in per.values():
        total = total + u
    return {
        "model": model,
        "this_run": {**run_usage.model_dump(), "cost": cost(run_usage, price)},
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
    return lines
