"""Command line: `any2capins COMMAND ...`.

Every command takes `--config FILE` (repeatable, merged in order) and `--set key.path=value`
(repeatable). Heavy modules are imported inside the handlers, so `--help` is instant.
Exit codes: 0 ok, 1 some shards failed, 2 bad config or input.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from any2capins.errors import Any2CapInsError, ConfigError, InputError, StageError

# Modules that add sub-commands: each has `register(subparsers, common)`.
COMMAND_MODULES = (
    "any2capins.ingest.cli",
    "any2capins.conditions.cli",
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
    group.add_argument("-v", "--verbose", action="store_true", help="log to stderr too")
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
    if getattr(args, "verbose", False):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, InputError) as exc:
        print(f"any2capins {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (StageError, Any2CapInsError) as exc:
        print(f"any2capins {args.command}: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: completed shards are kept; rerun the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
