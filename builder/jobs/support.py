"""Support operations and support-safe views: refs, states, times, attempts and categories only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from builder.errors import JobError
from builder.jobs.ledger import JobRecord, Ledger
from builder.jobs.states import CORRUPT, REFUND_LOST, State

AUDIT_KEYS = ("time", "from", "to", "event", "attempt", "reason", "timings", "run_id", "refund_id")


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else ""


def public_url(record: JobRecord, base_url: str = "") -> str:
    if record.state != State.PUBLISHED or not record.url:
        return ""
    return f"{base_url.rstrip('/')}/{record.url}" if base_url else record.url


def summary(record: JobRecord, base_url: str = "") -> dict[str, Any]:
    view: dict[str, Any] = {
        "ref": record.ref,
        "state": record.state,
        "attempts": record.attempts,
        "reason": record.reason,
        "last_error": record.last_error,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    if record.state == State.RETRY_WAIT:
        view["next_attempt_at"] = iso(record.next_attempt_at)
    if record.state == State.RUNNING:
        view["lease_expires_at"] = iso(record.lease_expires_at)
    if record.run_id:
        view["run_id"] = record.run_id
    if record.refund_id:
        view["refund_id"] = record.refund_id
        if record.refund_status:
            view["refund_status"] = record.refund_status
        if record.refund_status in REFUND_LOST:
            view["refund_lost"] = record.refund_error
    elif record.refund_attempts:
        view["refund_failing"] = {"error": record.refund_error, "attempts": record.refund_attempts,
                                  "next_at": iso(record.refund_next_at)}
    url = public_url(record, base_url)
    if url:
        view["url"] = url
    return view


def status_view(ledger: Ledger, ref: str, base_url: str = "") -> dict[str, Any]:
    record = ledger.get(ref)
    view = summary(record, base_url)
    view["timings"] = record.timings
    view["history"] = [{k: e[k] for k in AUDIT_KEYS if k in e} for e in ledger.audit(ref)]
    return view


def corrupt_summary(ref: str, modified_at: float) -> dict[str, Any]:
    """A record file that cannot be read back, in the shape of `summary`: shown, never silently dropped."""
    return {"ref": ref, "state": CORRUPT, "attempts": 0, "reason": "corrupt_record", "last_error": "",
            "created_at": "", "updated_at": iso(modified_at)}


def list_view(ledger: Ledger, state: State | None = None) -> list[dict[str, Any]]:
    rows = [summary(r) for r in ledger.records(state)]
    if state is None:
        rows += [corrupt_summary(ref, modified) for ref, modified in ledger.corrupt().items()]
    return sorted(rows, key=lambda row: row["ref"])


def support_retry(ledger: Ledger, ref: str) -> JobRecord:
    """`gift retry REF`: a held or failed order goes back to the queue with a fresh attempt budget."""
    with ledger.owned(ref) as order:
        record = order.record
        if record.state not in (State.HELD, State.FAILED):
            raise JobError(f"{ref} is {record.state}; only held or failed orders can be retried")
        if not order.has_envelope():
            raise JobError(f"{ref}: its envelope is gone, so it cannot be generated again")
        now = ledger.clock()
        # a refund that was failing is abandoned with it: the order is to be delivered, not refunded (if it fails
        # again, the refund policy counts its hours from then)
        return order.transition(
            State.QUEUED, reason="support_retry", queued_at=now, next_attempt_at=0.0, budget_from=record.attempts,
            refund_attempts=0, refund_error="", refund_next_at=0.0,
        )


def takedown(ledger: Ledger, ref: str, remove: Callable[[str], None]) -> JobRecord:
    """`gift takedown REF`: remove the page (leaving the 'removed' page), record it, drop the envelope."""
    with ledger.owned(ref) as order:
        if order.record.state != State.PUBLISHED:
            raise JobError(f"{ref} is {order.record.state}; only published gifts can be taken down")
        remove(order.record.token)
        record = order.transition(State.TAKEN_DOWN, reason="takedown")
        order.delete_envelope()
        return record
