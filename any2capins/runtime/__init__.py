"""Stage protocol and executors (in-process and Ray). Knows no concrete stage."""

from any2capins.runtime.runner import StageSummary, run_stage
from any2capins.runtime.stage import Failure, ShardTask, Stage

__all__ = ["Failure", "ShardTask", "Stage", "StageSummary", "run_stage"]
