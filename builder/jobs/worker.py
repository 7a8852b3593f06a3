"""Workers: claim due orders atomically, hold a renewed lease while working, record every outcome.

The generation itself is injected (`Processor`), so tests drive faults with fakes and production wires
the real pipeline (builder/jobs/generation.py).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import (
    STORAGE_FULL_ERRNOS,
    BuildError,
    EnvelopeError,
    GuardViolation,
    JobError,
    MediaError,
    OrderError,
    ProviderError,
    StorageError,
    describe_os_error,
)
from builder.gifts.contracts import PublishedGift
from builder.gifts.disclosure import made_by
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import JobRecord, Ledger
from builder.jobs.reconcile import settle
from builder.jobs.retry import attempts_left, retry_delay
from builder.jobs.settings import JobSettings
from builder.jobs.states import STORAGE_FULL, State

log = logging.getLogger("giftboard.jobs.worker")


@dataclass(frozen=True)
class JobContext:
    """What a processor gets for one attempt. `order_bytes` is the private order: never log it."""

    ref: str
    token: str
    attempt: int
    out_dir: Path
    known_prediction_id: str | None
    on_prediction_created: Callable[[str], None]
    order_bytes: bytes = field(repr=False)
    ensure_owner: Callable[[], None] = lambda: None  # raises JobError once this attempt lost its lease


Processor = Callable[[JobContext], PublishedGift]


@dataclass(frozen=True)
class Outcome:
    target: State
    reason: str = ""
    retry_after: float | None = None
    retryable: bool = False
    counts: bool = True  # False: the attempt is not the order's fault (a full disk) and spends no budget
    gift: PublishedGift | None = None
    provider: ProviderError | None = None  # the failing call, when a provider failed


@dataclass
class WorkSummary:
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, state: str) -> None:
        self.outcomes[state] = self.outcomes.get(state, 0) + 1


def provider_detail(outcome: Outcome, timings: dict[str, float]) -> dict[str, Any] | None:
    """Which provider served (or failed) each stage and what made it (a trained model or the procedural
    generator), for the audit and the ops page; kinds only, no content."""
    if outcome.gift is not None:
        providers = {timing.stage: timing.provider for timing in outcome.gift.timings}
        return {"providers": providers, "made_by": {stage: made_by(kind) for stage, kind in providers.items()}}
    error = outcome.provider
    if error is None or not error.stage:
        return None
    if error.seconds is not None:
        timings["provider_s"] = round(error.seconds, 6)
    return {"stage": error.stage, "provider": error.provider or "unknown"}


def _classify(error: BaseException) -> Outcome:
    if isinstance(error, GuardViolation):
        return Outcome(State.HELD, reason=error.category)
    if isinstance(error, ProviderError):
        return Outcome(
            State.RETRY_WAIT if error.retryable else State.FAILED,
            reason=error.category,
            retry_after=error.retry_after,
            retryable=error.retryable,
            provider=error,
        )
    if isinstance(error, OrderError):
        return Outcome(State.FAILED, reason="invalid_order")
    if isinstance(error, MediaError):
        return Outcome(State.FAILED, reason="media_rejected")  # e.g. the cover photo: a retry cannot fix it
    if isinstance(error, BuildError):
        return Outcome(State.FAILED, reason="render_error")
    if isinstance(error, EnvelopeError):
        return Outcome(State.FAILED, reason="envelope_unreadable")
    if isinstance(error, JobError):  # a busy ledger lock, a git fetch or push that failed: try again later
        return Outcome(State.RETRY_WAIT, reason="ledger_unavailable", retryable=True)
    if isinstance(error, OSError) and error.errno in STORAGE_FULL_ERRNOS:
        # the output's disk is full: wait for space without spending the order's attempts (ops lists it)
        return Outcome(State.RETRY_WAIT, reason=STORAGE_FULL, retryable=True, counts=False)
    # an unexpected bug: retry (bounded by max attempts); its text may hold order data, so only the type
    return Outcome(State.RETRY_WAIT, reason=f"internal_{type(error).__name__}", retryable=True)


class LeaseKeeper(threading.Thread):
    """Renews a running attempt's lease every third of its length; notices when it was taken away."""

    def __init__(self, ledger: Ledger, record: JobRecord, owner: str, lease_s: float) -> None:
        super().__init__(daemon=True, name=f"lease-{record.ref}")
        self.ledger, self.ref, self.owner, self.attempt = ledger, record.ref, owner, record.attempts
        self.lease_s = lease_s
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def owns(self, record: JobRecord) -> bool:
        return (
            record.state == State.RUNNING and record.lease_owner == self.owner and record.attempts == self.attempt
        )

    def run(self) -> None:
        while not self._stop_event.wait(self.lease_s / 3):
            try:
                with self.ledger.lock(self.ref, timeout=self.lease_s / 3):
                    record = self.ledger.get(self.ref)
                    if not self.owns(record):
                        self.lost.set()
                        return
                    self.ledger.update(record, lease_expires_at=self.ledger.clock() + self.lease_s)
            except (JobError, OSError) as error:  # lock busy, a full disk: try again before the lease runs out
                log.warning("%s: lease renewal failed (%s); retrying", self.ref, type(error).__name__)
                continue

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=self.lease_s)


def run_owner_prefix(run_id: str) -> str:
    return f"run-{run_id}:"


def default_owner(run_id: str = "") -> str:
    """Lease owner id; on Actions (`run_id`, GITHUB_RUN_ID) it names the run, so the run's always() step can
    release what it held."""
    prefix = run_owner_prefix(run_id) if run_id else ""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Drains due orders from a ledger with one or more threads; safe beside other worker processes."""

    def __init__(
        self,
        ledger: Ledger,
        envelope: Envelope,
        processor: Processor,
        settings: JobSettings,
        out_dir: Path,
        *,
        owner: str | None = None,
        rng: random.Random | None = None,
        only_ref: str | None = None,
        on_commit: Callable[[str], None] | None = None,
    ) -> None:
        self.ledger, self.envelope, self.processor = ledger, envelope, processor
        self.settings, self.out_dir = settings, out_dir
        self.owner = owner or default_owner()
        self.rng = rng or random.Random()
        self.only_ref = only_ref
        self.on_commit = on_commit  # production: push the ledger branch after each claim and outcome
        self.summary = WorkSummary()
        self._in_flight = 0
        self._mutex = threading.Lock()
        self._seen: dict[str, tuple[int, int, int, JobRecord]] = {}  # ref → (inode, mtime_ns, size, record)

    # claiming ----------------------------------------------------------------------------------------
    def _read(self, ref: str) -> JobRecord | None:
        """The record, re-read only when its file changed: idle polling costs a stat per order. Only a hint:
        `claim` re-reads under the lock. Every write renames a new file in, so the inode changes too."""
        try:
            stat = self.ledger.record_path(ref).stat()
        except (OSError, JobError):
            return None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._mutex:
            cached = self._seen.get(ref)
        if cached is not None and cached[:3] == key:
            return cached[3]
        try:
            record = self.ledger.get(ref)
        except JobError:
            return None
        with self._mutex:
            self._seen[ref] = (*key, record)
        return record

    def _candidates(self) -> list[str]:
        now = self.ledger.clock()
        refs = [self.only_ref] if self.only_ref else self.ledger.refs()
        due: list[tuple[float, str]] = []
        for ref in refs:
            record = self._read(ref)
            if record is None:
                continue
            if record.state in (State.QUEUED, State.RECEIVED):
                due.append((record.queued_at or record.created_at, ref))
            elif record.state == State.RETRY_WAIT and record.next_attempt_at <= now:
                due.append((record.next_attempt_at, ref))
            elif record.lease_expired(now):
                due.append((record.lease_expires_at, ref))
        due.sort()
        return [ref for _, ref in due]

    def claim(self) -> JobRecord | None:
        """Atomically take one due order: lock it, re-read it, settle it, and move it to running."""
        for ref in self._candidates():
            with self.ledger.try_lock(ref) as locked:
                if not locked:
                    continue  # another worker is on it right now
                record = self.ledger.get(ref)
                now = self.ledger.clock()
                record, _ = settle(self.ledger, record, self.settings, now, self.rng)
                if record.state != State.QUEUED:
                    continue
                return self.ledger.transition(
                    record,
                    State.RUNNING,
                    reason="",
                    attempts=record.attempts + 1,
                    lease_owner=self.owner,
                    lease_expires_at=now + self.settings.lease_s,
                    first_started_at=record.first_started_at or now,
                    timings={**record.timings, "queue_wait_s": round(now - (record.queued_at or now), 6)},
                    detail={"worker": self.owner},
                )
        return None

    def has_work(self) -> bool:
        """True while anything here could still run: due work, or an attempt in flight in this process."""
        with self._mutex:
            if self._in_flight:
                return True
        return bool(self._candidates())

    # processing --------------------------------------------------------------------------------------
    def process(self, record: JobRecord) -> str:
        keeper = LeaseKeeper(self.ledger, record, self.owner, self.settings.lease_s)
        keeper.start()
        started = time.monotonic()
        try:
            outcome = self._attempt(record, keeper)
        finally:
            keeper.stop()
        return self._finish(record, keeper, outcome, time.monotonic() - started)

    def _attempt(self, record: JobRecord, keeper: LeaseKeeper) -> Outcome:
        def on_prediction_created(prediction_id: str) -> None:
            with self.ledger.lock(record.ref):
                current = self.ledger.get(record.ref)
                if keeper.owns(current):
                    self.ledger.update(current, prediction_id=prediction_id)
                    self.ledger.note(record.ref, "prediction_created", attempt=record.attempts)

        def ensure_owner() -> None:
            """Right before a page goes live: is this attempt still the order's? (reconcile may have
            reclaimed a lease that ran out, and another worker published or support took the gift down)"""
            with self.ledger.lock(record.ref):
                if keeper.lost.is_set() or not keeper.owns(self.ledger.get(record.ref)):
                    raise JobError(f"{record.ref}: lease lost before publishing; the page was not swapped in")

        try:
            order_bytes = self.envelope.open(self.ledger.read_envelope(record.ref))
            context = JobContext(
                ref=record.ref,
                token=record.token,
                attempt=record.attempts,
                out_dir=self.out_dir,
                known_prediction_id=record.prediction_id or None,
                on_prediction_created=on_prediction_created,
                order_bytes=order_bytes,
                ensure_owner=ensure_owner,
            )
            return Outcome(State.PUBLISHED, gift=self.processor(context))
        except Exception as error:  # every failure becomes a recorded, categorised outcome
            outcome = _classify(error)
            log.info("%s: attempt %d → %s (%s)", record.ref, record.attempts, outcome.target, outcome.reason)
            return outcome

    def _finish(self, claimed: JobRecord, keeper: LeaseKeeper, outcome: Outcome, elapsed: float) -> str:
        with self.ledger.lock(claimed.ref, timeout=60.0):
            record = self.ledger.get(claimed.ref)
            if not keeper.owns(record):
                # reconcile or another worker took the order back; the page (if any) used the same token
                self.ledger.note(claimed.ref, "lease_lost", attempt=claimed.attempts, worker=self.owner)
                return "lease_lost"
            now = self.ledger.clock()
            timings = {"queue_wait_s": record.timings.get("queue_wait_s", 0.0), "attempt_s": round(elapsed, 6)}
            cleared = {"lease_owner": "", "lease_expires_at": 0.0}
            detail = provider_detail(outcome, timings)
            if outcome.target == State.PUBLISHED and outcome.gift is not None:
                for timing in outcome.gift.timings:
                    timings[f"{timing.stage}_s"] = round(timing.seconds, 6)
                timings["end_to_end_s"] = round(now - record.created_at, 6)
                record = self.ledger.transition(
                    record, State.PUBLISHED, reason="", timings=timings, url=outcome.gift.url_path,
                    published_at=now, detail=detail, **cleared,
                )
                self.ledger.delete_envelope(record.ref)
            elif outcome.retryable and not outcome.counts:
                # never sooner than the base delay: freeing disk space takes a person, not a jittered instant
                delay = max(self.settings.retry_base_s, retry_delay(record.attempts, self.settings, None, self.rng))
                record = self.ledger.transition(
                    record, State.RETRY_WAIT, reason=outcome.reason, timings=timings,
                    next_attempt_at=now + delay, last_error=outcome.reason, detail=detail,
                    budget_from=record.budget_from + 1, **cleared,  # this attempt is given back
                )
            elif outcome.retryable and attempts_left(record.attempts, self.settings, record.budget_from):
                delay = retry_delay(record.attempts, self.settings, outcome.retry_after, self.rng)
                record = self.ledger.transition(
                    record, State.RETRY_WAIT, reason=outcome.reason, timings=timings,
                    next_attempt_at=now + delay, last_error=outcome.reason, detail=detail, **cleared,
                )
            elif outcome.retryable:
                record = self.ledger.transition(
                    record, State.FAILED, reason="attempts_exhausted", timings=timings,
                    last_error=outcome.reason, detail=detail, **cleared,
                )
            else:
                record = self.ledger.transition(
                    record, outcome.target, reason=outcome.reason, timings=timings,
                    last_error=outcome.reason, detail=detail, **cleared,
                )
            return record.state

    # loops -------------------------------------------------------------------------------------------
    def step(self) -> bool:
        """Claim and process one order; False when nothing was due."""
        with self._mutex:
            self._in_flight += 1
        try:
            record = self.claim()
            if record is None:
                return False
            self._commit(f"{record.ref}: claimed, attempt {record.attempts}")
            state = self.process(record)
            self._commit(f"{record.ref}: attempt {record.attempts} → {state}")
            with self._mutex:
                self.summary.attempts += 1
                self.summary.count(state)
            return True
        finally:
            with self._mutex:
                self._in_flight -= 1

    def _commit(self, message: str) -> None:
        if self.on_commit is None:
            return
        try:
            self.on_commit(message)
        except JobError as error:  # the local ledger is still right; the next push carries it
            log.warning("ledger push failed: %s", error)

    def run(
        self, *, until_idle: bool, workers: int = 1, poll_s: float = 0.05, stop: threading.Event | None = None
    ) -> WorkSummary:
        stop = stop or threading.Event()
        stopped_by: list[BaseException] = []

        def loop() -> None:
            try:
                serve()
            except BaseException as error:  # a worker that cannot go on stops the others and fails the run
                stopped_by.append(error)
                stop.set()

        def serve() -> None:
            while not stop.is_set():
                try:
                    if self.step():
                        continue
                except JobError as error:  # the ledger stayed locked: this order's lease will expire and
                    log.warning("worker step failed (%s); the order is reclaimed when its lease expires",
                                type(error).__name__)  # reconcile takes it back; keep serving the others
                    stop.wait(poll_s)
                    continue
                if until_idle and not self.has_work():
                    return
                stop.wait(poll_s)

        threads = [threading.Thread(target=loop, name=f"worker-{n}", daemon=True) for n in range(workers)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)
        except KeyboardInterrupt:
            stop.set()
            raise
        if stopped_by:
            _raise_stopped(stopped_by[0], self.summary)
        return self.summary


def _raise_stopped(error: BaseException, summary: WorkSummary) -> None:
    """A worker thread died: say why in one line (a storage error names its path), never only in a log."""
    done = f"{summary.attempts} attempt(s) finished before it stopped"
    if isinstance(error, OSError):
        raise StorageError(f"a worker stopped: {describe_os_error(error)}; {done}; an order it was running "
                           "goes back to the queue when its lease runs out (gift reconcile)") from error
    raise error  # a project error already says what is wrong in one line; anything else is a bug to see
