"""`intake serve`: the payment-safe order intake (POST /v1/orders, GET /healthz) on uvicorn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builder.errors import ConfigError
from builder.jobs.intake import create_app, serve
from builder.jobs.runtime import runtime
from builder.jobs.settings import DEFAULT_LEDGER_DIR


def serve_cmd(args: argparse.Namespace) -> int:
    with runtime(args.ledger, args.settings) as rt:
        if not rt.settings.webhook_secret:
            raise ConfigError("GIFT_WEBHOOK_SECRET is not set: the intake refuses unsigned orders")
        app = create_app(rt.ledger, rt.envelope, rt.settings, dispatcher=rt.dispatcher(),
                         after_accept=rt.push if rt.sync else None)
        serve(app, args.host, args.port, lambda url: print(f"intake listening on {url}", file=sys.stderr,
                                                             flush=True))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    intake = subparsers.add_parser("intake", help="the order intake service")
    verbs = intake.add_subparsers(dest="intake_verb", required=True, metavar="VERB")
    p = verbs.add_parser("serve", help="serve POST /v1/orders and GET /healthz")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER_DIR, metavar="DIR")
    p.set_defaults(run=serve_cmd)
