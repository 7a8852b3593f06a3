"""Recovery: expired leases become timed-out attempts, due retries go back to the queue, lost runs are
re-dispatched. `settle` is shared by workers (before claiming) and by `gift reconcile`."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from builder.errors import JobError
from builder.jobs.dispatch import Dispatcher, DispatchError, dispatch_order
from builder.jobs.ledger import JobRecord, Ledger
from builder.jobs.retry import attempts_left, retry_delay
from builder.jobs.settings import JobSettings
from builder.jobs.states import State

log = logging.getLogger("giftboard.jobs.reconcile")


@dataclass
class ReconcileReport:
    actions: list[str] = field(default_factory=list)

    def add(self, ref: str, text: str) -> None:
        self.actions.append(f"{ref}: {text}")


def expire_lease(
    ledger: Ledger, record: JobRecord, settings: JobSettings, now: float, rng: random.Random | None, why: str
) -> JobRecord:
    """A running attempt whose lease ran out (or whose run ended) counts as a timed-out attempt."""
    cleared = {"lease_owner": "", "lease_expires_at": 0.0, "last_error": why}
    if attempts_left(record.attempts, settings, record.budget_from):
        delay = retry_delay(record.attempts, settings, None, rng)
        return ledger.transition(
            record, State.RETRY_WAIT, reason=why, next_attempt_at=now + delay, **cleared
        )
    return ledger.transition(record, State.FAILED, reason="attempts_exhausted", **cleared)


def release_run(ledger: Ledger, ref: str, owner_prefix: str, settings: JobSettings,
                rng: random.Random | None = None) -> JobRecord:
    """After a run ended (killed, timed out, crashed): an attempt it still holds becomes a timed-out attempt
    now, instead of waiting for the lease to expire."""
    with ledger.lock(ref):
        record = ledger.get(ref)
        if record.state == State.RUNNING and record.lease_owner.startswith(owner_prefix):
            record = expire_lease(ledger, record, settings, ledger.clock(), rng, "run_ended")
        return record


def settle(
    ledger: Ledger, record: JobRecord, settings: JobSettings, now: float, rng: random.Random | None = None
) -> tuple[JobRecord, list[str]]:
    """Apply every recovery step that is due for one record; the caller holds the order's lock."""
    done: list[str] = []
    if record.state == State.RECEIVED:
        # accept holds the order lock from create to queue: a lockable `received` is an interrupted accept
        record = ledger.transition(record, State.QUEUED, reason="recovered", queued_at=now)
        done.append("received → queued (interrupted accept)")
    if record.lease_expired(now):
        record = expire_lease(ledger, record, settings, now, rng, "lease_expired")
        done.append(f"running → {record.state} (lease expired, attempt {record.attempts})")
    if record.state == State.RETRY_WAIT and record.next_attempt_at <= now:
        record = ledger.transition(record, State.QUEUED, reason="retry_due", queued_at=now, next_attempt_at=0.0)
        done.append("retry_wait → queued (retry due)")
    if record.state in (State.PUBLISHED, State.TAKEN_DOWN) and ledger.envelope_path(record.ref).exists():
        ledger.delete_envelope(record.ref)  # a worker died between publishing and deleting it
        done.append("envelope deleted")
    return record, done


def reconcile(
    ledger: Ledger,
    settings: JobSettings,
    *,
    dispatcher: Dispatcher | None = None,
    rng: random.Random | None = None,
) -> ReconcileReport:
    """Settle every order; with a dispatcher (GIFT_QUEUE=github) also re-dispatch queued orders whose
    run never started, failed to dispatch, or ended (cancelled, timed out) without taking the order."""
    report = ReconcileReport()
    for ref in ledger.refs():
        try:
            with ledger.lock(ref, timeout=10.0):
                record = ledger.get(ref)
                now = ledger.clock()
                if dispatcher is not None and record.state == State.RUNNING and record.run_id:
                    record = _expire_if_run_ended(ledger, record, settings, dispatcher, now, rng, report)
                record, done = settle(ledger, record, settings, now, rng)
                for text in done:
                    report.add(ref, text)
                needs_dispatch = dispatcher is not None and _needs_dispatch(record, dispatcher, settings, now)
        except JobError as error:
            report.add(ref, f"skipped ({error})")
            continue
        if needs_dispatch and dispatcher is not None:
            ok = dispatch_order(ledger, ref, dispatcher)
            report.add(ref, "dispatched" if ok else "dispatch failed, still queued")
    return report


def _expire_if_run_ended(
    ledger: Ledger,
    record: JobRecord,
    settings: JobSettings,
    dispatcher: Dispatcher,
    now: float,
    rng: random.Random | None,
    report: ReconcileReport,
) -> JobRecord:
    try:
        run = dispatcher.run_state(record.run_id)
    except DispatchError as error:
        ledger.note(record.ref, "run_lookup_failed", reason=error.category)
        return record
    if run.status != "completed":
        return record
    report.add(record.ref, f"run {record.run_id} ended ({run.conclusion or 'no conclusion'}) while running")
    return expire_lease(ledger, record, settings, now, rng, f"run_{run.conclusion or 'ended'}")


def _needs_dispatch(record: JobRecord, dispatcher: Dispatcher, settings: JobSettings, now: float) -> bool:
    if record.state != State.QUEUED:
        return False
    if not record.run_id:
        # never dispatched, a failed dispatch, or an API that gave no run id and a run that never came
        return record.dispatches == 0 or now - record.dispatched_at > settings.lease_s
    try:
        run = dispatcher.run_state(record.run_id)
    except DispatchError:
        return False  # cannot tell: try again on the next reconcile rather than double-dispatch
    # the order is still queued, so a completed run (cancelled, failed, or gone before it claimed) left it
    return run.status == "completed"
