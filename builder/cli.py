"""Command-line entry: `python -m builder VERB …`. Each verb lives in builder/commands/<verb>.py."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from builder import __version__, commands
from builder.errors import GiftboardError
from builder.progress import allow
from builder.settings import load_settings


def verb_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that verb's module is imported (start-up time matters for `build`)."""
    parser = argparse.ArgumentParser(prog="python -m builder", description=__doc__)
    parser.add_argument("--version", action="version", version=f"giftboard {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name in verb_names():
        if only is None or name == only:
            importlib.import_module(f"builder.commands.{name}").register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = argv[0] if argv and argv[0] in verb_names() else None
    parser = build_parser(only=verb)
    args = parser.parse_args(argv)
    try:
        args.settings = load_settings()  # the one read of the environment; commands pass it down
        allow(args.settings)
        return int(args.run(args) or 0)
    except GiftboardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
