"""The `shortprompts` job: one validated short prompt per approved caption and condition set."""

from __future__ import annotations

import argparse

from any2capins.runtime.job import Job, JobState, Pass
from any2capins.runtime.stage import Gate


def shortprompts_job(args: argparse.Namespace) -> Job:
    """The job of `any2capins shortprompts --run RUN_DIR [--force]`."""
    from any2capins.config import load_config
    from any2capins.models.common import TokenUsage
    from any2capins.shortprompts.stage import INPUT_DIR, ShortPromptsStage

    config = load_config(args.config, args.overrides)
    stage = ShortPromptsStage(config.shortprompts, args.run)  # prompt files checked here
    preflight = [TokenUsage()]  # what the preflight sent: part of this run's usage

    def check() -> None:
        if config.shortprompts.backend == "openai":
            from any2capins.llm.preflight import check_server

            preflight[0] = check_server(config.shortprompts.llm, "shortprompts.llm")

    def report(state: JobState) -> None:
        _report(state, config, preflight[0])

    # clips the curation filters left out (quality/ table) get no prompts, approved or not
    gate = Gate("quality") if config.filter.enabled else None
    return Job("shortprompts", args.run, config, [Pass([stage], INPUT_DIR, gate=gate)],
               force=args.force,
               hint=f"any2capins review export --run {args.run}", checks=[check],
               after=[report])


def _report(state: JobState, config: object, preflight: object) -> None:
    """This run's LLM usage (the preflight's included) and the circuit breaker's verdict."""
    from any2capins.llm.breaker import server_stopped
    from any2capins.llm.usage import run_events

    summary = state.results[0].summaries[0]
    if summary.errors:
        state.lines.append(f"errors: {state.store.root.join('_errors', 'shortprompts').uri()}")
    if config.shortprompts.backend != "openai":
        return
    events = run_events(state.store, state.started, "shortprompts", preflight=preflight)
    state.ctx.add_summary(events.summary("shortprompts"))
    state.lines.insert(2, f"  {events.line()}")
    # a worker whose server stopped answering (circuit breaker) left the job unfinished
    stopped = server_stopped(state.ctx, "shortprompts", state.started, config.shortprompts.llm,
                             done=summary.outputs, noun="prompts")
    if stopped is not None:
        state.failure = stopped.line()
