"""`python -m builder build`: build the board site into --out, atomically."""

from __future__ import annotations

import argparse
import sys
import time

from builder.commands._site_args import add_site_arguments, options_from
from builder.diagnostics import report
from builder.errors import ContentError
from builder.site.freshness import quick_key, up_to_date
from builder.site.incremental import Manifest


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("build", help="build the board site", description=__doc__)
    add_site_arguments(parser)
    parser.add_argument("--no-cache", action="store_true", help="render every page (ignore the last build)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    options = options_from(args)
    manifest = Manifest.load(options.manifest_path, options.out.resolve())
    key = quick_key(options)
    if up_to_date(options, manifest, key):
        # answered from file stats alone: the pipeline (pydantic, Jinja, comrak, PyGithub) is never imported
        elapsed = (time.perf_counter() - started) * 1000
        print(f"{args.out}: up to date ({len(manifest.pages)} pages) in {elapsed:.0f} ms")
        return 0
    from builder.app.board import board_site

    site = board_site(options)
    try:
        result = site.build(known_key=key)
    except ContentError as error:
        report(error.diagnostics, title="Board build failed", settings=args.settings)
        print("build failed: the previous output is untouched", file=sys.stderr)
        return 1
    for note in site.notes:
        print(note, file=sys.stderr)
    for warning in site.warnings:
        print(f"warning: {warning} (an error with --strict)", file=sys.stderr)
    print(f"{args.out}: {result.summary()}")
    return 0
