"""The curation pass: the quality signals of every clip (the filter stage), then the
near-duplicates across the run; and the gate with which later passes leave filtered clips out."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from any2capins.models.quality import REASONS
from any2capins.runtime.job import Job, JobState, Pass
from any2capins.runtime.stage import Gate

# the contact sheet still draws a filtered clip, with its scores
QUALITY_GATE = Gate("quality", exempt=frozenset({"sheet"}))


def quality_gate(config: Any) -> Gate | None:
    """The gate of the passes after curation (None when `filter.enabled` is false)."""
    return QUALITY_GATE if config.filter.enabled else None


def filter_pass(run_dir: str, config: Any) -> Pass:
    """The filter stage over clips/, then near-duplicates over the whole run."""
    from any2capins.curation.stage import QualityStage
    from any2capins.models.tables import folder

    def near(state: JobState) -> None:
        from any2capins.curation.near import resolve_near_duplicates

        found = resolve_near_duplicates(run_dir, config.filter)
        state.ctx.add_summary({"stage": "near-duplicates", "duplicates": len(found.kept_for),
                               "shards_rewritten": found.shards_rewritten})
        state.lines.append(left_out_line(state.store))

    return Pass([QualityStage(config.filter)], folder("clips"), after=near)


def left_out_line(store: Any) -> str:
    """'filter   2 of 6 clips left out (dark 1, text 1)', over the whole quality table."""
    from any2capins.io import fs
    from any2capins.models.tables import folder

    total, left, reasons = 0, 0, Counter()
    for i in store.shard_indices(folder("quality")):
        t = fs.read_table(store.data_loc(folder("quality"), i), columns=["kept", "reasons"])
        for kept, why in zip(*(t.column(c).to_pylist() for c in ("kept", "reasons")),
                             strict=True):
            total += 1
            if not kept:
                left += 1
                reasons.update(why or [])
    by = ", ".join(f"{r} {reasons[r]}" for r in REASONS if reasons.get(r))
    return f"{'filter':<14} {left} of {total} clips left out{f' ({by})' if by else ''}"


def filter_job(args: argparse.Namespace) -> Job:
    """The job of `any2capins filter --run RUN_DIR [--force]`: the signals alone."""
    from any2capins.config import load_config
    from any2capins.io.hub import check_models

    config = load_config(args.config, args.overrides)

    def check() -> None:  # the embedding model neither local, cached nor reachable: one line
        check_models(config, ["filter"], args.config, hint_stages=["filter"])

    return Job("filter", args.run, config, [filter_pass(args.run, config)], force=args.force,
               hint=f"any2capins ingest SRC --out {args.run}", checks=[check])
