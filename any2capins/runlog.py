"""Run records and logging for one command on a run folder.

`RUN_DIR/run.json` holds the latest command's resolved config (secrets never enter config:
keys are read from the environment by name) and, once it ends, its summaries; every command
also leaves
`RUN_DIR/_runs/<time>-<command>.json` with its summaries, and a log file in `RUN_DIR/logs/`.

The console (`quiet_console`): a command shows our progress bars, summaries and one-line
errors. Library chatter goes to the command's log file instead: Python warnings through
logging ('py.warnings'), Ray's own logger and the output of Ray's workers (routed there by
`runtime.cluster.ensure_ray`); the progress bars and notices libraries print themselves are
switched off by their environment variables (`QUIET_ENV`, inherited by Ray's local workers).
With `--verbose` the log also goes to stderr and libraries keep their own output.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from any2capins import __version__
from any2capins.config import PipelineConfig
from any2capins.io import fs
from any2capins.io.shards import ShardStore

# what libraries print by themselves, off unless --verbose (a variable the user set is kept)
QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",  # transformers' notices and warnings (errors still show)
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # weight loading, shard writing (transformers, hub)
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",  # Ray Data's bars
    "TQDM_DISABLE": "1",  # any other library's tqdm bar (ours are rich, on stderr)
}


@contextmanager
def quiet_console(verbose: bool) -> Iterator[None]:
    """The console policy of one command (module docstring) for the time it runs; what it
    changed in the process (environment, warnings capture) is put back afterwards."""
    logging.captureWarnings(True)
    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    saved = {k: os.environ.get(k) for k in QUIET_ENV}
    quiet = logging.NullHandler()  # warnings before the log file exists: not on the console
    if not verbose:
        logging.getLogger("py.warnings").addHandler(quiet)
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
    try:
        yield
    finally:
        logging.getLogger("py.warnings").removeHandler(quiet)
        logging.captureWarnings(False)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
