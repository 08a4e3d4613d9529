"""Run records and logging for one command on a run folder.

`RUN_DIR/run.json` holds the latest command's resolved config (secrets never enter config:
keys are read from the environment by name) and, once it ends, its summaries; every command
also leaves
`RUN_DIR/_runs/<time>-<command>.json` with its summaries, and a log file in `RUN_DIR/logs/`.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from any2capins import __version__
from any2capins.config import PipelineConfig
from any2capins.io import fs
from any2capins.io.shards import ShardStore


class RunContext:
    # the file handler of the command running in this process (one at a time)
    _handler: logging.Handler | None = None

    def __init__(self, run_dir: str, command: str, config: PipelineConfig) -> None:
        self.run_dir = run_dir
        self.command = command
        self.config = config
        self.store = ShardStore(run_dir)
        loc = self.store.root
        if loc.is_local and Path(loc.path).exists() and not Path(loc.path).is_dir():
            from any2capins.errors import InputError

            raise InputError(f"{run_dir}: is a file, not a run folder (choose another folder)")
        self.stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.started = time.time()
        self.summaries: list[dict[str, Any]] = []
        self.log_path = self._setup_logging()
        self.store.write_json("run.json", self._record())

    def _setup_logging(self) -> str:
        loc = self.store.root
        base = Path(loc.path) if loc.is_local else Path.cwd() / "any2capins-logs"
        path = base / "logs" / f"{self.stamp}-{self.command}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        # a second command in the same process (tests, scripts) must not keep logging into
        # the first command's run folder
        self._close_handler()
        root.addHandler(handler)
        RunContext._handler = handler
        root.setLevel(logging.INFO)
        return str(path)

    def _record(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "argv": list(sys.argv[1:]),
            "version": __version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "run_dir": self.run_dir,
            "profile": self.config.profile,
            "config": self.config.redacted(),
            "summaries": self.summaries,
        }

    def add_summary(self, summary: Any) -> None:
        data = asdict(summary) if hasattr(summary, "__dataclass_fields__") else dict(summary)
        if "usage" in data and hasattr(summary, "usage"):
            data["usage"] = summary.usage.model_dump()
        self.summaries.append(data)
        text = summary.line() if hasattr(summary, "line") else data
        logging.getLogger("any2capins").info("%s", text)

    def finish(self) -> None:
        record = self._record()
        record["seconds"] = round(time.time() - self.started, 3)
        self.store.write_json(f"_runs/{self.stamp}-{self.command}.json", record)
        self.store.write_json("run.json", record)
        self._close_handler()

    @staticmethod
    def _close_handler() -> None:
        if RunContext._handler is not None:
            logging.getLogger().removeHandler(RunContext._handler)
            RunContext._handler.close()
            RunContext._handler = None


def output_paths(run_dir: str, *dirs: str) -> list[str]:
    root = fs.resolve(run_dir)
    return [root.join(d).uri() for d in dirs]


def shard_tasks(store: ShardStore, input_dir: str, hint: str) -> tuple[list[Any], dict[int, int]]:
    """Tasks for every shard of `input_dir`, and rows per shard (for progress bars).

    Raises InputError with `hint` (the command that makes the input) when there is none.
    """
    import pyarrow.parquet as pq

    from any2capins.errors import InputError
    from any2capins.runtime import ShardTask

    indices = store.shard_indices(input_dir)
    if not indices:
        raise InputError(f"{store.run_dir}: nothing in {input_dir}/; run `{hint}` first")
    sizes = {}
    for i in indices:
        loc = store.data_loc(input_dir, i)
        sizes[i] = pq.read_metadata(loc.path, filesystem=loc.fs).num_rows
    return [ShardTask(index=i, input_dir=input_dir) for i in indices], sizes


def run_single_stage(args: Any, command: str, build: Any, input_dir: str, hint: str) -> Any:
    """The body of a one-stage command on a run folder: load config (--config/--set), build
    the stage (`build(config)`: config problems surface before any work), run it over every
    shard of `input_dir` with resume, and record it. Nothing is written to the run folder
    before the input and the settings have been checked. Returns (context, summary); the caller
    prints and calls `ctx.finish()`."""
    from any2capins.config import load_config
    from any2capins.runtime import run_stage

    config = load_config(args.config, args.overrides)
    # inputs and settings are checked before RunContext writes run.json and logs/: a command
    # that refuses its input leaves the folder as it found it
    tasks, sizes = shard_tasks(ShardStore(args.run), input_dir, hint)
    stage = build(config)
    ctx = RunContext(args.run, command, config)
    summary = run_stage(stage, tasks, args.run, config.runtime, force=args.force, sizes=sizes)
    ctx.add_summary(summary)
    return ctx, summary
