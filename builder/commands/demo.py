"""`python -m builder demo` (`make demo`): build the board, run a sample order offline, serve everything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builder.app.board import board_site
from builder.app.gifts import GiftService
from builder.commands.gift import work_line
from builder.diagnostics import report
from builder.errors import ContentError, OrderError
from builder.gifts.dev_certificates import DEFAULT_DEV_DIR, ensure_dev_chain
from builder.site.options import BuildOptions
from builder.site.server import start_preview_server

SAMPLE_ORDER = Path(__file__).resolve().parent.parent.parent / "examples" / "order-maya.json"


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("demo", help="build the board, generate a sample gift offline, and serve",
                              description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=Path("site"))
    parser.add_argument("--ledger", type=Path, default=Path(".data/ledger"))
    parser.add_argument("--order", type=Path, default=SAMPLE_ORDER, help="order JSON to run (default: the sample)")
    parser.add_argument("--no-serve", action="store_true", help="stop after building (for scripts and tests)")
    parser.set_defaults(run=run)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(args: argparse.Namespace) -> int:
    settings = args.settings
    server = None
    if not args.no_serve:  # take the port first: a port in use fails at once, before minutes of building
        server = start_preview_server(args.out.resolve(), args.host, args.port,
                                      how_to_change=f"PORT={args.port + 1} make demo (or --port {args.port + 1})")
    ensure_dev_chain(DEFAULT_DEV_DIR)
    print(f"C2PA development certificate chain in {DEFAULT_DEV_DIR}/ (local signing only, never for production)")
    if not settings.gifts_base_url:
        print("warning: GIFT_GIFTS_BASE_URL is not set, so the gift page's og:image and og:url are relative: link "
              "previews need the public address in production (publishing to object storage refuses to run "
              "without it)", file=sys.stderr)
    gifts = GiftService(settings, args.ledger)
    step("Submitting a sample order (its private fields stay in an encrypted envelope)")
    try:
        submission = gifts.submit(args.order.read_bytes())
    except OSError as error:
        raise OrderError([f"{args.order}: cannot read ({error.strerror})"]) from None
    except OrderError as error:
        for line in error.field_errors:
            print(f"{args.order}: {line}", file=sys.stderr)
        return 2
    ref = submission.ref
    print(ref)
    step("Generating it through the embedded queue with the offline provider")
    print(work_line(gifts.work(args.out, until_idle=True)))
    status = gifts.status(ref)
    step("Building the board (the ops page reads the ledger)")
    options = BuildOptions(content=Path("content"), out=args.out, ledger=args.ledger, github=settings.github,
                           fallback_base_url=settings.site_base_url or None, benchmarks=Path("benchmarks/results"))
    try:
        result = board_site(options).build()
    except ContentError as error:
        report(error.diagnostics, title="Board build failed", settings=settings)
        return 1
    print(f"{args.out}: {result.summary()}")
    base = f"http://{args.host}:{args.port}/"
    print("\nOpen these:")
    print(f"  board       {base}")
    print(f"  archive     {base}archive/")
    print(f"  operations  {base}ops/")
    if status.get("url"):
        print(f"  gift        {base}{status['url']}   (order {ref}: {status['state']})")
    else:
        print(f"  gift        not published: order {ref} is {status['state']} ({status.get('reason') or 'see status'})")
    if server is None:
        return 0
    print(f"\nServing {args.out}/ on {base}  (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0
