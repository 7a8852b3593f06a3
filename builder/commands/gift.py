"""`gift …`: submit orders, run workers, and answer support questions from the ledger.

Each verb parses its arguments, calls the gift service (`builder.app.gifts`) and prints the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from builder.app.gifts import GiftService
from builder.errors import OrderError
from builder.jobs.ledger import typed_ref
from builder.jobs.refunds import lost_line
from builder.jobs.states import State, parse_state
from builder.jobs.worker import WorkSummary
from builder.progress import interactive, progress
from builder.settings import DEFAULT_LEDGER_DIR


def _ledger_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", default=None, metavar="DIR|URL",
                        help="ledger folder or postgresql:// URL "
                             f"(default: GIFT_LEDGER_URL, else {DEFAULT_LEDGER_DIR})")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _service(args: argparse.Namespace) -> GiftService:
    return GiftService(args.settings, args.ledger)


def work_line(summary: WorkSummary) -> str:
    """`N attempt(s): 1 published, …` (the demo prints the same line)."""
    outcomes = ", ".join(f"{n} {state}" for state, n in sorted(summary.outcomes.items())) or "nothing due"
    return f"{summary.attempts} attempt(s): {outcomes}"


def submit(args: argparse.Namespace) -> int:
    path: Path = args.order
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise OrderError([f"{path}: cannot read ({error.strerror})"]) from None
    if args.check:
        return _check(args, path, raw, as_json=args.json)
    try:
        submission = _service(args).submit(raw)
    except OrderError as error:
        for line in error.field_errors:
            print(f"{path}: {line}", file=sys.stderr)
        print(f"{path}: {len(error.field_errors)} error(s); nothing recorded", file=sys.stderr)
        return 2
    if submission.dispatch_failed:
        print(f"{submission.ref}: dispatch failed; the order stays queued for reconcile", file=sys.stderr)
    print("accepted" if submission.created else "already accepted (same idempotency key)", file=sys.stderr)
    print(submission.ref)
    return 0


def _check(args: argparse.Namespace, path: Path, raw: bytes, *, as_json: bool) -> int:
    """`gift submit --check`: the order model and the public-field guard, nothing recorded. Exit 0 when the
    order would be accepted and its public fields pass, 1 with findings, 2 when the order is invalid."""
    result = _service(args).check(raw)
    if as_json:
        _print_json(result.as_json())
    for line in result.errors:
        print(f"{path}: {line}", file=sys.stderr)
    if result.errors:
        print(f"{path}: {len(result.errors)} error(s); nothing recorded", file=sys.stderr)
        return 2
    if not as_json:
        for finding in result.findings:
            print(f"{path}: {finding.field}: {finding.message}")
    if result.findings:
        print(f"{path}: {len(result.findings)} finding(s) in the public fields: the order would be held; "
              "nothing recorded", file=sys.stderr)
        return 1
    print(f"{path}: the order is valid and its public fields pass the guard; nothing recorded", file=sys.stderr)
    return 0


def draft(args: argparse.Namespace) -> int:
    """`gift draft ORDER.json`: the checks of `submit --check`; an order passing them is kept as a sealed draft
    awaiting payment and its draft id printed. Exit 1 with findings, 2 when invalid; nothing stored then."""
    path: Path = args.order
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise OrderError([f"{path}: cannot read ({error.strerror})"]) from None
    answer = _service(args).draft(raw)
    if "draft_id" in answer:
        print(f"draft kept until {answer['expires_at']}", file=sys.stderr)
        print(answer["draft_id"])
        return 0
    for line in answer.get("errors", []):
        print(f"{path}: {line}", file=sys.stderr)
    if answer.get("errors"):
        print(f"{path}: {len(answer['errors'])} error(s); nothing stored", file=sys.stderr)
        return 2
    for finding in answer.get("findings", []):
        print(f"{path}: {finding['field']}: {finding['message']}")
    print(f"{path}: {len(answer.get('findings', []))} finding(s) in the public fields; nothing stored",
          file=sys.stderr)
    return 1


def work(args: argparse.Namespace) -> int:
    service = _service(args)
    due = service.due() if args.until_idle and interactive() else None  # the bar's total: only for a person
    with progress("Generating gifts", due, minimum=2) as advance:
        summary = service.work(args.out, until_idle=args.until_idle, workers=args.workers, ref=args.ref,
                               lease_s=args.lease_seconds, on_attempt=lambda: advance(1),
                               time_budget_s=args.time_budget)
    print(work_line(summary))
    return 0


def status(args: argparse.Namespace) -> int:
    view = _service(args).status(args.ref)
    if args.json:
        _print_json(view)
        return 0
    print(f"{view['ref']}: {view['state']} after {view['attempts']} attempt(s)"
          + (f" — {view['reason']}" if view["reason"] else ""))
    if "url" in view:
        print(f"url: {view['url']}")
    if "next_attempt_at" in view:
        print(f"next attempt: {view['next_attempt_at']}")
    if "refund_id" in view:
        status = view.get("refund_status", "succeeded")
        lost = f": {view['refund_lost']}, the money is back in the Stripe balance" if "refund_lost" in view else ""
        print(f"refund: {view['refund_id']}" + ("" if status == "succeeded" else f" ({status} at Stripe{lost})"))
    if "refund_failing" in view:
        failing = view["refund_failing"]
        print(f"refund failing: {failing['error']} after {failing['attempts']} call(s); next try {failing['next_at']}")
    if view["timings"]:
        print("timings: " + ", ".join(f"{name} {value:.3f}" for name, value in sorted(view["timings"].items())))
    for entry in view["history"]:
        what = f"{entry['from'] or '∅'} → {entry['to']}" if "to" in entry else entry.get("event", "")
        extra = f" ({entry['reason']})" if entry.get("reason") else ""
        extra += f" refund {entry['refund_id']}" if entry.get("refund_id") else ""
        print(f"  {entry['time']}  attempt {entry.get('attempt', 0)}  {what}{extra}")
    return 0


def list_orders(args: argparse.Namespace) -> int:
    state: State | None = parse_state(args.state) if args.state else None
    rows = _service(args).list(state)
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['ref']}  {row['state']:<10}  attempts {row['attempts']}  {row['reason']}".rstrip())
    print(f"{len(rows)} order(s)", file=sys.stderr)
    return 0


def dispatch_cmd(args: argparse.Namespace) -> int:
    """One dispatcher cycle: generate.yml runs for the queue's depth. Exit 0 when it dispatched what was
    wanted (or nothing was), 1 when it is blocked or rate limited (the reason is on stdout and in ops)."""
    report = _service(args).dispatch()
    if args.json:
        _print_json({**report.as_json(), "lines": report.lines})
    else:
        for line in report.lines:
            print(line)
    return 1 if report.status in ("blocked", "rate_limited") else 0


def finish(args: argparse.Namespace) -> int:
    """The generate run's always() step: release what the run still holds, print a support-safe summary."""
    if args.ref is None:
        lines = _service(args).finish_run()
        print("### Gift worker run\n")
        print("\n".join(f"- {line}" for line in lines) or "- every claim was released by the worker itself")
        return 0
    view = _service(args).finish(args.ref)
    print(f"### Gift order `{view['ref']}`\n")
    print("| state | attempts | reason | last error | updated |\n| --- | --- | --- | --- | --- |")
    print(f"| {view['state']} | {view['attempts']} | {view['reason'] or '–'} | {view['last_error'] or '–'} "
          f"| {view['updated_at']} |")
    return 0


def reconcile_cmd(args: argparse.Namespace) -> int:
    report = _service(args).reconcile(args.out)
    for line in report.actions:
        print(line)
    print(f"reconcile: {len(report.actions)} action(s)")
    return 0


def retry(args: argparse.Namespace) -> int:
    record = _service(args).retry(args.ref)
    print(f"{record.ref}: queued again (attempts so far {record.attempts})")
    return 0


def refund_cmd(args: argparse.Namespace) -> int:
    """`gift refund REF`: the refund id on one line, or one line saying what failed (exit 1)."""
    outcome = _service(args).refund(args.ref)
    if outcome.lost:
        print(f"error: {outcome.ref}: {lost_line(outcome)}", file=sys.stderr)
        return 1
    if outcome.refunded:
        print(f"{outcome.ref}: " + ("refunded" if outcome.made else "already refunded") + f" ({outcome.refund_id})"
              + outcome.settling)
        return 0
    print(f"error: {outcome.ref}: {outcome.message}; recorded (attempt {outcome.attempts}), `gift reconcile` "
          "retries it", file=sys.stderr)
    return 1


def takedown_cmd(args: argparse.Namespace) -> int:
    record = _service(args).takedown(args.ref, args.out)
    print(f"{record.ref}: taken down; the page now says the gift was removed")
    return 0


def migrate_cmd(args: argparse.Namespace) -> int:
    """Create or upgrade the ledger database's schema (numbered SQL files; running it again does nothing)."""
    where, applied = _service(args).migrate()
    for name in applied:
        print(f"applied {name}")
    if where.startswith("folder ledger"):
        print(f"{where}: a folder ledger has no schema to migrate; nothing to do")
    else:
        print(f"{where}: schema up to date" + ("" if applied else " (already up to date)"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    gift = subparsers.add_parser("gift", help="submit and run gift orders; support views")
    verbs = gift.add_subparsers(dest="gift_verb", required=True, metavar="VERB")

    p = verbs.add_parser("submit", help="validate and record an order; prints its ref")
    p.add_argument("order", type=Path, metavar="ORDER.json")
    p.add_argument("--check", action="store_true",
                   help="only validate the order and run the public-field guard; record nothing")
    p.add_argument("--json", action="store_true", help="with --check: print {ok, errors, findings} as JSON")
    _ledger_flag(p)
    p.set_defaults(run=submit)

    p = verbs.add_parser("draft", help="check an order and keep it, sealed, as a draft awaiting payment")
    p.add_argument("order", type=Path, metavar="ORDER.json")
    _ledger_flag(p)
    p.set_defaults(run=draft)

    p = verbs.add_parser("work", help="run due orders (and reclaim expired leases)")
    p.add_argument("--until-idle", action="store_true", help="return when nothing is queued, due or running")
    p.add_argument("--workers", type=int, default=1, metavar="N")
    p.add_argument("--lease-seconds", type=float, default=None, metavar="S", help="lease length (GIFT_LEASE_S)")
    p.add_argument("--out", type=Path, default=Path("site"), metavar="DIR", help="site folder (default site/)")
    p.add_argument("--ref", default=None, help="only this order")
    p.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="claim nothing after S seconds; attempts in flight finish (keep it below the run's timeout)")
    _ledger_flag(p)
    p.set_defaults(run=work)

    p = verbs.add_parser("status", help="support-safe history of one order")
    p.add_argument("ref", type=typed_ref)
    p.add_argument("--json", action="store_true")
    _ledger_flag(p)
    p.set_defaults(run=status)

    p = verbs.add_parser("list", help="orders and their states")
    p.add_argument("--state", default=None, metavar="S")
    p.add_argument("--json", action="store_true")
    _ledger_flag(p)
    p.set_defaults(run=list_orders)

    p = verbs.add_parser("reconcile", help="expired leases and due retries back to the queue; re-dispatch; "
                                           "remove what killed workers left")
    p.add_argument("--out", type=Path, default=Path("site"), metavar="DIR", help="site folder (default site/)")
    _ledger_flag(p)
    p.set_defaults(run=reconcile_cmd)

    p = verbs.add_parser("migrate", help="create or upgrade the ledger database's schema (idempotent)")
    _ledger_flag(p)
    p.set_defaults(run=migrate_cmd)

    p = verbs.add_parser("dispatch", help="start generate.yml runs for the queue's depth (GIFT_QUEUE=github)")
    p.add_argument("--json", action="store_true")
    _ledger_flag(p)
    p.set_defaults(run=dispatch_cmd)

    p = verbs.add_parser("finish", help="end of an Actions run: release what it holds, print a job summary")
    p.add_argument("ref", nargs="?", default=None, type=typed_ref,
                   help="one order (default: every order this run, GITHUB_RUN_ID, still holds)")
    _ledger_flag(p)
    p.set_defaults(run=finish)

    p = verbs.add_parser("retry", help="support: queue a held or failed order again")
    p.add_argument("ref", type=typed_ref)
    _ledger_flag(p)
    p.set_defaults(run=retry)

    p = verbs.add_parser("refund", help="support: refund a failed or held order's Stripe payment (once)")
    p.add_argument("ref", type=typed_ref)
    _ledger_flag(p)
    p.set_defaults(run=refund_cmd)

    p = verbs.add_parser("takedown", help="remove a published gift, leaving a 'removed' page")
    p.add_argument("ref", type=typed_ref)
    p.add_argument("--out", type=Path, default=Path("site"), metavar="DIR")
    _ledger_flag(p)
    p.set_defaults(run=takedown_cmd)

