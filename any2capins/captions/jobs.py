"""The `captions` job: the section writers over clips/ (frames and condition rows delivered by
the runtime), then merge + checks (cheap, always redone in-process so it tracks the sections),
the MiraData-style CSV and the usage report."""

from __future__ import annotations

import argparse

from any2capins.runtime.job import Job, JobState, Pass
from any2capins.runtime.stage import Gate


def captions_job(args: argparse.Namespace) -> Job:
    """The job of `any2capins captions --run RUN_DIR [--backend ...] [--force]`."""
    from any2capins.captions.merge import MergeStage
    from any2capins.captions.writers import SectionsStage
    from any2capins.config import load_config
    from any2capins.models.common import TokenUsage
    from any2capins.models.tables import folder

    config = load_config(args.config, args.overrides)
    if args.backend:
        config.captions.backend = args.backend
    llm = config.captions.backend == "openai"
    preflight = [TokenUsage()]  # what the preflight sent: part of this run's usage

    def check() -> None:
        if llm:
            from any2capins.llm.preflight import check_server

            preflight[0] = check_server(config.captions.llm, "captions.llm", images=True)

    def report(state: JobState) -> None:
        _report(state, config, preflight[0])

    # a shard written under other settings (backend, prompts, frames) or from other condition
    # rows is redone by the runner (the stage's fingerprint and side tables); unchanged calls
    # come from the cache, and an interrupted run resumes with the shards it had not finished
    # clips the curation filters left out (quality/ table) get no captions
    gate = Gate("quality") if config.filter.enabled else None
    passes = [Pass([SectionsStage(config.captions, args.run)], folder("clips"), gate=gate),
              Pass([MergeStage(config.captions)], folder("captions.sections"), local=True,
                   force=True)]
    return Job("captions", args.run, config, passes, force=args.force,
               hint=f"any2capins ingest SRC --out {args.run}", checks=[check], after=[report])


def _report(state: JobState, config: object, preflight: object) -> None:
    """Usage (this run's requests, the preflight's included), the CSV, the report file, the
    circuit breaker's verdict."""
    from any2capins.captions.merge import write_miradata_csv
    from any2capins.captions.usage import usage_lines, usage_report
    from any2capins.llm.breaker import server_stopped
    from any2capins.llm.usage import run_events

    store, cfg = state.store, config.captions
    llm = cfg.backend == "openai"
    events = run_events(store, state.started, "captions", preflight=preflight)
    state.ctx.add_summary(events.summary("captions"))
    write_miradata_csv(store)
    usage = usage_report(store, events, cfg.price, cfg.llm.model if llm else None)
    store.write_json("captions/usage.json", usage)
    if llm:
        state.lines.extend(usage_lines(usage))
    for name in ("captions/miradata.csv", "captions/usage.json"):
        state.lines.append(f"{name + ':':<20} {store.root.join(name).uri()}")
    sections = state.results[0].summaries[0]
    if sections.errors:
        state.lines.append(f"{'errors:':<20} {store.root.join('_errors', 'captions').uri()}")
    # a worker whose server stopped answering (circuit breaker) left the job unfinished
    stopped = server_stopped(state.ctx, "captions", state.started, cfg.llm, done=sections.ok,
                             noun="clips") if llm else None
    if stopped is not None:
        state.failure = stopped.line()
