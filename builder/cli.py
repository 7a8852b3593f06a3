"""Command-line entry: `python -m builder VERB …`. Each verb lives in builder/commands/<verb>.py."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from builder import __version__, commands
from builder.errors import GiftboardError, describe_os_error
from builder.progress import allow
from builder.settings import load_settings


def _quiet_broken_pipe() -> int:
    """The reader went away (`| head`): stop quietly like any Unix tool, with nothing left to flush."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, the status a shell reports for a tool that SIGPIPE ended


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
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader that went away is noticed here, not in a message at interpreter exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except GiftboardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
