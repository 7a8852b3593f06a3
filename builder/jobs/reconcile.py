"""Recovery: expired leases become timed-out attempts, due retries go back to the queue, lost runs are
re-dispatched. `settle` is shared by workers (before claiming) and by `gift reconcile`."""

from __future__ import annotations

import logging
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import JobError
from builder.jobs.dispatch import Dispatcher, DispatchError
from builder.jobs.ledger import JobRecord, Ledger, OwnedOrder
from builder.jobs.retry import attempts_left, retry_delay
from builder.jobs.settings import JobSettings
from builder.jobs.states import DRAFT_EXPIRED, FINAL, State

log = logging.getLogger("giftboard.jobs.reconcile")


@dataclass
class ReconcileReport:
    actions: list[str] = field(default_factory=list)

    def add(self, ref: str, text: str) -> None:
        self.actions.append(f"{ref}: {text}")


def expire_lease(
    order: OwnedOrder, settings: JobSettings, now: float, rng: random.Random | None, why: str
) -> JobRecord:
    """A running attempt whose lease ran out (or whose run ended) counts as a timed-out attempt."""
    record = order.record
    cleared = {"lease_owner": "", "lease_expires_at": 0.0, "last_error": why}
    if attempts_left(record.attempts, settings, record.budget_from):
        delay = retry_delay(record.attempts, settings, None, rng)
        return order.transition(State.RETRY_WAIT, reason=why, next_attempt_at=now + delay, **cleared)
    return order.transition(State.FAILED, reason="attempts_exhausted", **cleared)


def release_run(ledger: Ledger, ref: str, owner_prefix: str, settings: JobSettings,
                rng: random.Random | None = None) -> JobRecord:
    """After a run ended (killed, timed out, crashed): an attempt it still holds becomes a timed-out attempt
    now, instead of waiting for the lease to expire."""
    with ledger.owned(ref) as order:
        record = order.record
        if record.state == State.RUNNING and record.lease_owner.startswith(owner_prefix):
            record = expire_lease(order, settings, ledger.clock(), rng, "run_ended")
        return record


def release_run_leases(ledger: Ledger, owner_prefix: str, settings: JobSettings,
                       rng: random.Random | None = None) -> list[str]:
    """A worker run's always() step: every order the run (`owner_prefix`) still holds is given back now
    (a timed-out attempt, queued or waiting for its retry), not when its lease runs out; one line each."""
    lines = []
    for record in ledger.records(State.RUNNING):
        if record.lease_owner.startswith(owner_prefix):
            released = release_run(ledger, record.ref, owner_prefix, settings, rng)
            lines.append(f"{record.ref}: released ({released.state})")
    return lines


def settle(
    order: OwnedOrder, settings: JobSettings, now: float, rng: random.Random | None = None
) -> tuple[JobRecord, list[str]]:
    """Apply every recovery step that is due for one order held by the caller."""
    done: list[str] = []
    record = order.record
    if record.state == State.RECEIVED and not order.has_envelope():
        # every accept writes the envelope before the record, except a paid Checkout Session's whose draft was
        # gone or expired (Ledger.accept_paid): a crash left it in received; it fails as it would have
        record = order.transition(State.FAILED, reason=DRAFT_EXPIRED)
        done.append(f"received → failed ({DRAFT_EXPIRED}: interrupted accept of a paid session without its draft)")
    if record.state == State.RECEIVED:
        # accept holds the order from create to queue: a `received` one we could take is an interrupted accept
        record = order.transition(State.QUEUED, reason="recovered", queued_at=now)
        done.append("received → queued (interrupted accept)")
    if record.lease_expired(now):
        record = expire_lease(order, settings, now, rng, "lease_expired")
        done.append(f"running → {record.state} (lease expired, attempt {record.attempts})")
    if record.state == State.RETRY_WAIT and record.next_attempt_at <= now:
        record = order.transition(State.QUEUED, reason="retry_due", queued_at=now, next_attempt_at=0.0)
        done.append("retry_wait → queued (retry due)")
    if record.state in FINAL and order.has_envelope():
        order.delete_envelope()  # a worker died between publishing and deleting it
        done.append("envelope deleted")
    return record, done


def reconcile(
    ledger: Ledger,
    settings: JobSettings,
    *,
    dispatcher: Dispatcher | None = None,
    rng: random.Random | None = None,
    out_dir: Path | None = None,
) -> ReconcileReport:
    """Settle every order that needs it (the database finds those with its indexes; the folder reads every
    record); with a dispatcher (GIFT_QUEUE=github) an order whose run ended (cancelled, timed out) while it
    held the order goes back to the queue at once. Runs for queued work are the dispatcher's
    (builder/jobs/pool.py: `gift dispatch`, which reconcile.yml runs after this). Then sweep what killed
    writers left in the ledger and under `out_dir/gifts/` (see `sweep_leftovers`), and delete expired drafts with
    their envelopes (one line each, the draft id only)."""
    report = ReconcileReport()
    now = ledger.clock()
    for ref in ledger.reconcile_candidates(now, include_queued=False):
        try:
            with ledger.owned(ref, timeout=10.0) as order:
                now = ledger.clock()
                if dispatcher is not None and order.record.state == State.RUNNING and order.record.run_id:
                    _expire_if_run_ended(order, settings, dispatcher, now, rng, report)
                _, done = settle(order, settings, now, rng)
                for text in done:
                    report.add(ref, text)
        except JobError as error:
            report.add(ref, f"skipped ({error})")
            continue
    report.actions += sweep_leftovers(ledger, out_dir, ledger.clock())
    for draft_id in ledger.sweep_drafts(ledger.clock()):
        report.add(draft_id, "expired draft deleted with its envelope")
    return report


def _expire_if_run_ended(
    order: OwnedOrder,
    settings: JobSettings,
    dispatcher: Dispatcher,
    now: float,
    rng: random.Random | None,
    report: ReconcileReport,
) -> JobRecord:
    record = order.record
    try:
        run = dispatcher.run_state(record.run_id)
    except DispatchError as error:
        order.note("run_lookup_failed", reason=error.category)
        return record
    if run.status != "completed":
        return record
    report.add(record.ref, f"run {record.run_id} ended ({run.conclusion or 'no conclusion'}) while running")
    return expire_lease(order, settings, now, rng, f"run_{run.conclusion or 'ended'}")


STALE_UNKNOWN_STAGING_S = 3600.0  # a staging folder whose token no order here has: older than this is stale
_STAGING_SUFFIX = re.compile(r"-[0-9a-f]{12}$")


def sweep_leftovers(ledger: Ledger, out_dir: Path | None, now: float) -> list[str]:
    """Remove what killed writers left behind, and only that: temporary ledger files whose order (or key) lock
    nobody holds (every ledger write happens under that lock), and gift staging folders of orders no live
    attempt is running. Returns one line per removal."""
    done = ledger.sweep(now)
    if out_dir is not None:
        done += _sweep_staging(ledger, out_dir, now)
    return done


def _sweep_staging(ledger: Ledger, out_dir: Path, now: float) -> list[str]:
    from builder.gifts.publisher import GIFTS_DIR, STAGING_PREFIX

    gifts = out_dir / GIFTS_DIR
    leftovers = sorted(gifts.glob(f"{STAGING_PREFIX}*")) if gifts.is_dir() else []
    if not leftovers:
        return []
    refs_by_token = {record.token: record.ref for record in ledger.records()}
    done: list[str] = []
    for staging in leftovers:
        token = _STAGING_SUFFIX.sub("", staging.name[len(STAGING_PREFIX):])
        ref = refs_by_token.get(token)
        if ref is None:
            try:
                if now - staging.stat().st_mtime < STALE_UNKNOWN_STAGING_S:
                    continue  # not an order of this ledger: only age can tell
            except FileNotFoundError:
                continue
            shutil.rmtree(staging, ignore_errors=True)
            done.append(f"{GIFTS_DIR}/{staging.name}: removed (stale staging folder)")
            continue
        try:
            with ledger.owned(ref, timeout=5.0) as order:  # no go-live or takedown of this order meanwhile
                if order.record.state == State.RUNNING and not order.record.lease_expired(now):
                    continue  # a live attempt is staging its page
                shutil.rmtree(staging, ignore_errors=True)
                done.append(f"{ref}: staging folder {staging.name} removed (left by a killed worker)")
        except JobError:
            continue  # busy or unreadable: leave its files for the next reconcile or a person
    return done
