"""`python -m builder schema [--out DIR]`: write JSON Schemas of every content kind, for editors."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.atomic_files import atomic_write
from builder.content.schemas import content_schemas


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("schema", help="write JSON Schemas of the content files", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("schemas"), metavar="DIR", help="folder (default: schemas)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    schemas = content_schemas()
    for name, text in schemas.items():
        atomic_write(args.out / name, text.encode("utf-8"))
    print(f"{args.out}: {len(schemas)} JSON Schemas ({', '.join(sorted(schemas))})")
    return 0
