"""A progress bar per stage on stderr (rich), silent when disabled or not a terminal."""

from __future__ import annotations

import sys
from types import TracebackType


class StageProgress:
    def __init__(self, name: str, total: int, *, enabled: bool = True) -> None:
        self.name = name
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None
        self.errors = 0

    def __enter__(self) -> StageProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("errors {task.fields[errors]}"), TimeElapsedColumn(),
                TimeRemainingColumn(), console=Console(stderr=True), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.name, total=self.total or None, errors=0)
        return self

    def advance(self, items: int, errors: int = 0) -> None:
        self.errors += errors
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=items, errors=self.errors)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
