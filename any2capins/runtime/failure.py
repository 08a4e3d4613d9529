"""Why one item failed: the record a stage returns instead of an output row (an error row)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    """Why one item failed. `retriable` marks transient causes (timeouts, lost workers)."""

    error_class: str
    message: str
    retriable: bool = False
    detail: str | None = None
    attempts: int = 1

    @classmethod
    def from_exception(cls, exc: BaseException, *, retriable: bool = False) -> Failure:
        tb = "".join(traceback.format_exception(exc, limit=6))
        return cls(type(exc).__name__, str(exc) or repr(exc), retriable, detail=tb[-4000:])
