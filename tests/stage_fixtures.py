"""A tiny deterministic test stage and a script entry point to run it in a subprocess
(used by the crash-then-resume test and the executor-equivalence test)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from any2capins.config.base import StageResources
from any2capins.models.common import Record
from any2capins.runtime.stage import Failure, ShardTask, Stage


class Item(Record):
    uri: str
    n: int


class Squared(Record):
    clip_id: str
    uri: str
    n: int
    square: int
    pid: int


class SquareStage(Stage[Item, Squared]):
    """Squares n; n % 7 == 3 fails (as data); sleeps to make a kill land mid-run."""

    name = "square"
    input_model = Item
    output_model = Squared
    output_dir = "squares"

    def __init__(self, resources: StageResources, delay: float = 0.0,
                 setup_log: str | None = None) -> None:
        super().__init__(resources)
        self.delay = delay
        self.setup_log = setup_log

    def setup(self) -> None:
        if self.setup_log:
            with Path(self.setup_log).open("a") as f:
                f.write(f"{os.getpid()}\n")

    def process_batch(self, batch: Sequence[Item], inputs=None) -> list[Squared | Failure]:
        out: list[Squared | Failure] = []
        for item in batch:
            time.sleep(self.delay)
            if item.n % 7 == 3:
                out.append(Failure("ValueError", f"unlucky number {item.n}"))
            elif item.n % 11 == 5:
                raise RuntimeError(f"crash while processing {item.n}")
            else:
                out.append(Squared(clip_id=f"c{item.n:04d}", uri=item.uri, n=item.n,
                                   square=item.n * item.n, pid=os.getpid()))
        return out


def tasks(n_items: int, per_shard: int) -> list[ShardTask]:
    items = [Item(uri=f"mem://{i}", n=i) for i in range(n_items)]
    return [ShardTask(index=s, rows=tuple(items[s * per_shard:(s + 1) * per_shard]))
            for s in range((n_items + per_shard - 1) // per_shard)]


if __name__ == "__main__":  # python stage_fixtures.py RUN_DIR N PER_SHARD DELAY
    from any2capins.config import load_config
    from any2capins.runtime import run_stage

    run_dir, n, per, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    cfg = load_config([], ["runtime.executor=local", "runtime.progress=false"])
    stage = SquareStage(StageResources(batch_size=2), delay=delay)
    print(run_stage(stage, tasks(n, per), run_dir, cfg.runtime).line(), flush=True)
