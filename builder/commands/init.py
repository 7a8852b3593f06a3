"""`python -m builder init DIR`: scaffold a small, valid board in DIR/content that builds first time."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.content.scaffold import write_starter_board


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("init", help="scaffold a starter board", description=__doc__)
    parser.add_argument("folder", type=Path, metavar="DIR", help="project folder; the content goes into DIR/content")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    content = args.folder / "content"
    files = write_starter_board(content)
    print(f"{content}: a starter board ({len(files)} files: one workstream, two gates, a decision, a lesson, a task)")
    print(f"next: cd {args.folder} && python -m builder build   (templates/ and static/ beside content/ override "
          "the built-in ones file by file)")
    return 0
