"""`python -m builder check`: validate content, references and links without writing anything."""

from __future__ import annotations

import argparse

from builder.app.board import board_site
from builder.commands._site_args import add_site_arguments, options_from
from builder.diagnostics import report
from builder.errors import ContentError


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("check", help="validate content without writing", description=__doc__)
    add_site_arguments(parser, output=False)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    site = board_site(options_from(args, incremental=False))
    try:
        problems = site.check()
    except ContentError as error:
        problems = error.diagnostics
    if problems:
        report(problems, title="Board check failed", settings=args.settings)
        return 1
    assert site.content is not None
    print(f"{args.content}: {len(site.content.pages())} pages OK")
    return 0
