"""Arguments shared by build, check and serve."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.jobs.ledger import ledger_place
from builder.site.options import TEMPLATES_DIR, BuildOptions


def add_site_arguments(parser: argparse.ArgumentParser, *, output: bool = True) -> None:
    parser.add_argument("--content", type=Path, default=Path("content"), help="content folder (default: content)")
    if output:
        parser.add_argument("--out", type=Path, default=Path("site"), help="output folder (default: site)")
    parser.add_argument("--templates", type=Path, default=TEMPLATES_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--strict", action="store_true", help="treat warnings and evidence contradictions as errors")
    parser.add_argument("--offline", action="store_true", help="never touch the network; use the GitHub snapshot")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache"), help="snapshot and manifest folder")
    parser.add_argument("--base-url", default=None,
                        help="absolute URL the site is published at (default: site.yaml's base_url, "
                             "else $GIFTBOARD_BASE_URL)")
    parser.add_argument("--ledger", type=ledger_place, default=None, metavar="DIR|URL",
                        help="gift ledger (folder or postgresql:// URL): adds the ops page and its Operations link "
                             "(default: none)")
    parser.add_argument("--benchmarks", type=Path, default=Path("benchmarks/results"),
                        help="benchmark results the gates' metric criteria read (default: benchmarks/results)")
    parser.add_argument("--no-search", action="store_true", help="build no search index (Pagefind)")
    parser.add_argument("--jobs", type=int, default=None, help="render processes (default: one per core)")


def options_from(args: argparse.Namespace, *, incremental: bool = True) -> BuildOptions:
    extra = {"workers": args.jobs} if args.jobs else {}
    return BuildOptions(
        content=args.content,
        out=getattr(args, "out", Path("site")),
        templates=args.templates,
        strict=args.strict,
        offline=args.offline,
        cache_dir=args.cache_dir,
        base_url=args.base_url,
        fallback_base_url=args.settings.site_base_url or None,
        github=args.settings.github,
        ledger=args.ledger,
        refund_failed_after_s=args.settings.jobs.refund_failed_after_s,
        benchmarks=args.benchmarks,
        search=not args.no_search,
        incremental=incremental and not getattr(args, "no_cache", False),
        **extra,
    )
