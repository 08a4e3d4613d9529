"""Typed records exchanged between stages (one module per area).

Every Parquet table the pipeline writes is the Arrow rendering of one of these models
(see `any2capins.io.arrow`), and `schemas/` holds their generated JSON/Arrow schemas.
"""

from any2capins.models.clips import ClipRecord, SourceRecord
from any2capins.models.common import ErrorRecord, Record, ShardDone, TokenUsage

__all__ = ["ClipRecord", "ErrorRecord", "Record", "ShardDone", "SourceRecord", "TokenUsage"]
