"""`python -m builder ops summary [--json]`: support-safe operational figures from the ledger."""

from __future__ import annotations

import argparse
import json

from builder.app.gifts import GiftService
from builder.jobs.settings import DEFAULT_LEDGER_DIR
from builder.ops.metrics import Distribution, OpsSummary
from builder.ops.page import duration


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("ops", help="operational summaries", description=__doc__)
    actions = parser.add_subparsers(dest="ops_action", required=True, metavar="ACTION")
    summary = actions.add_parser("summary", help="orders by state, attention list, latency, providers")
    summary.add_argument("--json", action="store_true", help="machine-readable output")
    summary.add_argument("--ledger", default=None, metavar="DIR|URL",
                         help="ledger folder or postgresql:// URL "
                             f"(default: GIFT_LEDGER_URL, else {DEFAULT_LEDGER_DIR})",
                        )
    summary.set_defaults(run=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    summary = GiftService(args.settings, args.ledger).ops_summary()
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        print(render_text(summary))
    return 0


def _dist(name: str, dist: Distribution) -> str:
    return f"  {name:<16} n={dist.count:<5} p50 {duration(dist.p50):>8}  p95 {duration(dist.p95):>8}  " \
           f"max {duration(dist.max):>8}"


def render_text(summary: OpsSummary) -> str:
    lines = [f"{summary.orders} orders, {summary.retries} retries, {summary.attempts_total} attempts"]
    lines.append("by state: " + (", ".join(f"{state} {n}" for state, n in summary.by_state.items()) or "none"))
    lines.append("latency:")
    lines.append(_dist("queue", summary.queue_latency))
    lines.append(_dist("end to end", summary.end_to_end))
    if summary.providers:
        lines.append("providers:")
        for p in summary.providers:
            errors = ", ".join(f"{reason} {n}" for reason, n in p.errors.items()) or "no errors"
            lines.append(f"  {p.stage:<7} {p.provider:<18} calls {p.calls:<4} failed {p.failure_rate:6.1%}  "
                         f"p50 {duration(p.latency.p50):>8}  p95 {duration(p.latency.p95):>8}  ({errors})")
    lines.append(f"refunds: refunded {summary.by_state.get('refunded', 0)}, "
                 f"{summary.refunds_last_24h} in the last 24 h, {summary.refunds_pending} pending (due by policy), "
                 f"{summary.refunds_failing} failing")
    if summary.failures_by_reason:
        lines.append("failed attempts: " + ", ".join(f"{r} {n}" for r, n in summary.failures_by_reason.items()))
    if summary.attention:
        lines.append("needs attention:")
        for item in summary.attention:
            lines.append(f"  {item.ref}  {item.state:<10} {item.reason:<24} attempts {item.attempts}  "
                         f"for {duration(item.age_s)}")
    else:
        lines.append("needs attention: nothing")
    return "\n".join(lines)
