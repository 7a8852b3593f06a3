"""`intake serve`: the payment-safe order intake (signed orders and drafts, Stripe Checkout and its webhook,
GET /healthz) on uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

from builder.app.gifts import GiftService
from builder.settings import DEFAULT_LEDGER_DIR


def serve_cmd(args: argparse.Namespace) -> int:
    # the intake's own lines (slow and vanished clients, a full ledger) beside uvicorn's, in uvicorn's format
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s", stream=sys.stderr)
    GiftService(args.settings, args.ledger).serve_intake(
        args.host, args.port, lambda url: print(f"intake listening on {url}", file=sys.stderr, flush=True))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    intake = subparsers.add_parser("intake", help="the order intake service")
    verbs = intake.add_subparsers(dest="intake_verb", required=True, metavar="VERB")
    p = verbs.add_parser("serve", help="serve POST /v1/orders, /v1/drafts, /v1/checkout, "
                          "/v1/stripe/webhook and GET /healthz")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--ledger", default=None, metavar="DIR|URL",
                   help=f"ledger folder or postgresql:// URL (default: GIFT_LEDGER_URL, else {DEFAULT_LEDGER_DIR})")
    p.set_defaults(run=serve_cmd)
