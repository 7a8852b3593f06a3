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
    out_dir: Path | None = None,
) -> ReconcileReport:
    """Settle every order; with a dispatcher (GIFT_QUEUE=github) also re-dispatch queued orders whose
    run never started, failed to dispatch, or ended (cancelled, timed out) without taking the order. Then
    sweep what killed writers left in the ledger and under `out_dir/gifts/` (see `sweep_leftovers`)."""
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
    report.actions += sweep_leftovers(ledger, out_dir, ledger.clock())
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


STALE_UNKNOWN_STAGING_S = 3600.0  # a staging folder whose token no order here has: older than this is stale
_STAGING_SUFFIX = re.compile(r"-[0-9a-f]{12}$")


def sweep_leftovers(ledger: Ledger, out_dir: Path | None, now: float) -> list[str]:
    """Remove what killed writers left behind, and only that: temporary ledger files whose order (or key) lock
    nobody holds (every ledger write happens under that lock), and gift staging folders of orders no live
    attempt is running. Returns one line per removal."""
    done: list[str] = []
    for folder, suffix in ((ledger.orders, ".json"), (ledger.envelopes, ".bin"), (ledger.keys, ".json")):
        for name in sorted({p.name.split(".", 2)[1] for p in folder.glob(f".*{suffix}.*.tmp")}):
            lock_name = name if name.startswith("ord_") else f"key-{name}"
            with ledger.try_lock(lock_name) as locked:
                if not locked:
                    continue  # a live writer holds it: its temporary file is in use
                for leftover in folder.glob(f".{name}{suffix}.*.tmp"):
                    leftover.unlink(missing_ok=True)
                    done.append(f"{folder.name}/{leftover.name}: removed (left by a killed writer)")
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
        with ledger.try_lock(ref) as locked:
            if not locked:
                continue  # a takedown or a go-live holds the order right now
            try:
                record = ledger.get(ref)
            except JobError:
                continue  # unreadable: leave its files for a person to look at
            if record.state == State.RUNNING and not record.lease_expired(now):
                continue  # a live attempt is staging its page
            shutil.rmtree(staging, ignore_errors=True)
            done.append(f"{ref}: staging folder {staging.name} removed (left by a killed worker)")
    return done
