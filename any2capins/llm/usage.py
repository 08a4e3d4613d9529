"""What one command's run sent to the LLM server, for the caption and short-prompt commands
alike (`run_events`).

`usage` counts every request the run sent, so it equals what the server saw: the requests of
the shards the run wrote (from their completion records; a retry-only write counts just its
own requests; retries, re-asks and circuit-breaker probes included) plus the preflight's
completions (`preflight`, from `preflight.check_server`; its `GET /models` has no tokens and
is not a call). Cache hits are counted apart (`cached_calls`); shards the run skipped, not at
all. With it, read back from the rows and error rows the run wrote: the causes of retries
(`retries`) and of re-asks (`reasks`, without their `reask:` prefix), and the structured-output
mode of every answer paid for in this run (`structured_output`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from any2capins.io.shards import ShardStore
from any2capins.models.common import TokenUsage
from any2capins.models.tables import TABLES

REASK = "reask:"


@dataclass
class RunEvents:
    """What a run sent (see the module docstring); `usage` includes `preflight`."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    preflight: TokenUsage = field(default_factory=TokenUsage)
    shards_run: list[int] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)
    reasks: dict[str, int] = field(default_factory=dict)
    structured_output: dict[str, int] = field(default_factory=dict)

    def summary(self, stage: str) -> dict[str, Any]:
        """The run record's entry (run.json `summaries`), stage '<stage>-llm'."""
        return {"stage": f"{stage}-llm", "usage": self.usage.model_dump(),
                "preflight": self.preflight.model_dump(), "shards_run": self.shards_run,
                "retries": self.retries, "reasks": self.reasks,
                "structured_output": self.structured_output}

    def line(self) -> str:
        """One line for the console: tokens, requests (preflight ones named), cache hits, and
        the causes of retries and re-asks."""
        u, pre = self.usage, self.preflight.calls
        text = (f"this run: {u.prompt_tokens}+{u.completion_tokens} tokens, {u.calls} requests, "
                f"{u.cached_calls} cached")
        text += f" ({pre} preflight)" if pre else ""
        causes = [*self.retries.items(), *((REASK + k, v) for k, v in self.reasks.items())]
        return text + "".join(f"; {k} {v}" for k, v in causes)


def run_events(store: ShardStore, started: datetime, stage: str, *,
               preflight: TokenUsage | None = None) -> RunEvents:
    """What the run that started at `started` sent for `stage` ('captions', 'shortprompts':
    the stage writing an LLM table of `models.tables`), its preflight's `preflight` usage
    included (see the module docstring)."""
    table = next(t for t in TABLES.values() if t.stage == stage)
    model = table.record_model()
    pre = preflight or TokenUsage()
    usage, shards = pre, []
    for d in store.done_records(stage):
        if d.started >= started:
            shards.append(d.shard)
            run = getattr(d, "run_usage", None)  # a retry-only write: just its own usage
            usage = usage + (run if run is not None else d.usage or TokenUsage())
    causes: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    for i in sorted(shards):
        for row in store.read_shard(table.folder, i, model):
            if row.written >= started:
                for retries, mode in _answers(row):
                    causes.update(retries)
                    modes[mode or "unknown"] += 1
    for err in store.read_errors(stage):
        if err.shard in shards and err.time >= started:
            causes.update(_error_causes(err.detail))
    return RunEvents(
        usage=usage, preflight=pre, shards_run=sorted(shards),
        retries={k: v for k, v in sorted(causes.items()) if not k.startswith(REASK)},
        reasks={k[len(REASK):]: v for k, v in sorted(causes.items()) if k.startswith(REASK)},
        structured_output=dict(sorted(modes.items())))


def _answers(row: Any) -> Iterable[tuple[list[str], str | None]]:
    """(retry causes, structured-output mode) of each LLM answer that `row` holds and that was
    paid for when the row was written (not a cache hit, not the rules backend): a captions row
    holds one per section, a short-prompt row is one."""
    parts = getattr(row, "sections", None)
    for part in parts if parts is not None else [row]:
        backend = getattr(part, "source", None) or getattr(part, "backend", None)
        if backend == "openai" and part.attempts > 0:
            yield part.retries, part.structured_output


def _error_causes(detail: str | None) -> list[str]:
    """Retry and re-ask causes in an error row's detail: the JSON of a failed caption (per
    section, cache hits left out) or of a failed short prompt; [] for any other detail (a
    short prompt that failed its rule checks keeps the prompt text there)."""
    try:
        data = json.loads(detail or "{}")
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    sections = data.get("sections")
    infos = list(sections.values()) if isinstance(sections, dict) else [data]
    return [c for info in infos if isinstance(info, dict) and not info.get("cached")
            for c in info.get("retries") or []]
