"""Stage protocol, the scheduler and its backends (in-process and Ray). Knows no concrete
stage."""

from any2capins.runtime.runner import PassResult, StageSummary, run_pass, run_stage
from any2capins.runtime.stage import Failure, ShardTask, SideTable, Stage

__all__ = ["Failure", "PassResult", "ShardTask", "SideTable", "Stage", "StageSummary",
           "run_pass", "run_stage"]
