"""The `evrt` command. Sub-commands live in `evrt.commands`, one module each."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from evrt.commands import COMMANDS
from evrt.errors import EvrtError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evrt", description="event-camera streaming runtime")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except EvrtError as exc:
        print(f"evrt: error: {exc}", file=sys.stderr)
        return 2 if type(exc).__name__ == "ConfigError" else 1
    except KeyboardInterrupt:
        print("evrt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
