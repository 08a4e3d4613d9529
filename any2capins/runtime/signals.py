"""Signal handlers across `ray.init`.

The command line turns SIGTERM into an exception that unwinds like Ctrl-C's KeyboardInterrupt
(any2capins.cli), so executors stop their workers in `finally` blocks. `ray.init` replaces the
SIGTERM handler of the driver with one that calls sys.exit; this keeps ours.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_sigterm_handler() -> Iterator[None]:
    """Restore this process's SIGTERM handler after the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
