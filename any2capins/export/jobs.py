"""The `export` job: instances/ shards, then the dataset card."""

from __future__ import annotations

import argparse

from any2capins.runtime.job import Job, JobState, Pass


def export_job(args: argparse.Namespace) -> Job:
    """The job of `any2capins export --run RUN_DIR [--force]`."""
    from any2capins.config import load_config
    from any2capins.export.stage import ExportStage
    from any2capins.models.tables import folder

    config = load_config(args.config, args.overrides)

    def card(state: JobState) -> None:
        from any2capins.export.card import stats_table, write_card
        from any2capins.export.leftout import left_out_lines

        stats = write_card(state.store, plots=config.export.plots)
        state.ctx.add_summary({"stage": "export-left-out", **stats["left_out"]})
        root = state.store.root
        state.lines += ["", stats_table(stats), "", "\n".join(left_out_lines(stats["left_out"])),
                        f"\ninstances:    {root.join('instances').uri()}",
                        f"dataset card: {root.join('README.md').uri()}  (stats.json, card/*.png)"]

    return Job("export", args.run, config, [Pass([ExportStage(config.export)],
                                                 folder("shortprompts"), show_outputs=False)],
               force=args.force, hint=f"any2capins shortprompts --run {args.run}", after=[card])
