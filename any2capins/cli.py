"""Command line: `any2capins COMMAND ...`.

Every command takes `--config FILE` (repeatable, merged in order) and `--set key.path=value`
(repeatable). Heavy modules are imported inside the handlers, so `--help` is instant.
Exit codes: 0 ok, 1 some shards failed, 2 bad config or input (a Ray cluster that cannot be
reached included), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from any2capins.errors import Any2CapInsError, ConfigError, InputError, StageError

# Modules that add sub-commands: each has `register(subparsers, common)`.
COMMAND_MODULES = (
    "any2capins.ingest.cli",
    "any2capins.pipeline",
    "any2capins.conditions.sheet_cli",
    "any2capins.conditions.camera.cli",
    "any2capins.status",
    "any2capins.captions.cli",
    "any2capins.review.cli",
    "any2capins.shortprompts.cli",
    "any2capins.export.cli",
    "any2capins.schemas",
)


def common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("configuration")
    group.add_argument("--config", action="append", default=[], metavar="FILE",
                       help="YAML config file (repeatable; later files override earlier ones)")
    group.add_argument("--set", action="append", default=[], dest="overrides",
                       metavar="KEY.PATH=VALUE", help="override one setting (repeatable)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="log to stderr too, libraries' own output included")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="any2capins",
        description="Build Any2CapIns-style training data from raw video clips.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_parser()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from any2capins.runlog import quiet_console  # after parsing: --help stays instant

    handler: Callable[[argparse.Namespace], int] = args.handler
    # our output on the console, library chatter in the log file (stderr too with --verbose)
    with quiet_console(getattr(args, "verbose", False)):
        return run_handler(args.command, handler, args)


def run_handler(command: str, handler: Callable[[argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    """Run one command's handler and turn its outcome into an exit code and at most one line
    on stderr (never a traceback for expected failures or interrupts)."""
    _install_sigterm()  # SIGTERM unwinds like Ctrl-C: workers are stopped, exit 143
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe surfaces here, inside the handler below
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (ConfigError, InputError) as exc:
        print(f"any2capins {command}: error: {exc}", file=sys.stderr)
        return 2
    except (StageError, Any2CapInsError) as exc:
        print(f"any2capins {command}: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C (130) or SIGTERM (143, see Terminated)
        code = 128 + int(getattr(exc, "signum", signal.SIGINT))
        what = "terminated (SIGTERM)" if code == 143 else "interrupted (SIGINT)"
        print(f"\nany2capins {command}: {what}: completed shards are kept; rerun the same "
              "command to resume", file=sys.stderr)
        return code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: executors stop their
    workers in `finally` blocks (cancel actor tasks, kill actors) and nothing is half-written
    (shard files are atomic, completion records come last)."""

    signum = signal.SIGTERM


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"received signal {signum}")


def _install_sigterm() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def _quiet_broken_pipe() -> int:
    """The reader of our stdout went away (`any2capins review stats | head -1`): end quietly.
    stdout is pointed at /dev/null so the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (embedded, captured)
        pass
    return 141  # 128 + SIGPIPE, what shell tools return when their reader closes the pipe


if __name__ == "__main__":
    sys.exit(main())
