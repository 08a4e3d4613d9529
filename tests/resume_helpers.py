"""Test stages for resume rules (retriable failures, upstream inputs) and a command-line entry
that runs the square stage through the CLI's handler wrapper (exit codes, signals).

    python resume_helpers.py RUN_DIR N PER_SHARD DELAY EXECUTOR [--force] [--setup-log FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stage_fixtures import Item, Squared, SquareStage, tasks

from any2capins.config.base import StageResources
from any2capins.models.common import Record
from any2capins.runtime.stage import Failure, Stage


class FlakyStage(SquareStage):
    """Square, except items n % 4 == 1 that would succeed fail retriably while the file `down`
    exists (a server that is down); every processed item is appended to `calls`."""

    name = "flaky"
    output_dir = "flaky"

    def __init__(self, resources: StageResources, down: str, calls: str) -> None:
        super().__init__(resources)
        self.down, self.calls = down, calls

    def process_batch(self, batch: Sequence[Item], inputs=None) -> list[Squared | Failure]:
        with Path(self.calls).open("a") as f:
            f.writelines(f"{item.n}\n" for item in batch)
        out: list[Squared | Failure] = []
        for item, res in zip(batch, super().process_batch(batch), strict=True):
            if item.n % 4 == 1 and isinstance(res, Squared) and Path(self.down).exists():
                out.append(Failure("APIConnectionError", "server down", retriable=True))
            else:
                out.append(res)
        return out


class Total(Record):
    clip_id: str
    uri: str
    square: int
    plus: int


class PlusStage(Stage[Squared, Total]):
    """Reads the square stage's shards (`squares/`): its upstream is the square stage."""

    name = "plus"
    input_model = Squared
    output_model = Total
    output_dir = "plus"

    def __init__(self, resources: StageResources, add: int = 1) -> None:
        super().__init__(resources)
        self.settings_record = PlusSettings(add=add)

    def process_batch(self, batch: Sequence[Squared], inputs=None) -> list[Total]:
        add = self.settings_record.add
        return [Total(clip_id=r.clip_id, uri=r.uri, square=r.square, plus=r.square + add)
                for r in batch]


class PlusSettings(Record):
    add: int = 1


def main(argv: list[str]) -> int:
    from any2capins.cli import run_handler
    from any2capins.config import load_config
    from any2capins.runtime import run_stage

    p = argparse.ArgumentParser()
    for name in ("run", "n", "per", "delay", "executor"):
        p.add_argument(name)
    p.add_argument("--force", action="store_true")
    p.add_argument("--setup-log", default=None)
    args = p.parse_args(argv)

    def handler(_: argparse.Namespace) -> int:
        cfg = load_config([], [f"runtime.executor={args.executor}", "runtime.progress=false"])
        stage = SquareStage(StageResources(batch_size=1, workers=2, num_cpus=0.5),
                            delay=float(args.delay), setup_log=args.setup_log)
        summary = run_stage(stage, tasks(int(args.n), int(args.per)), args.run, cfg.runtime,
                            force=args.force)
        print(summary.line(), flush=True)
        return 1 if summary.shards_failed else 0

    return run_handler("square", handler, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
