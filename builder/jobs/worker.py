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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import (
    STORAGE_FULL_ERRNOS,
    BuildError,
    EnvelopeError,
    GuardViolation,
    JobError,
    LeaseLost,
    LedgerUnavailable,
    MediaError,
    OrderError,
    ProviderError,
    StorageError,
    describe_os_error,
)
from builder.gifts.contracts import PublishedGift
from builder.gifts.disclosure import made_by
from builder.gifts.providers.base import JobJournal, PriorJob
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import JobRecord, Ledger, OwnedOrder
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
    journal: JobJournal  # the remote audio job of this order: recorded in the ledger before it is paid for
    order_bytes: bytes = field(repr=False)
    # `with context.go_live(): <make the page visible>`: holds this attempt's ownership of the order (its
    # row or lock) while the page goes live; raises LeaseLost, publishing nothing, once the attempt lost it
    go_live: Callable[[], AbstractContextManager[object]] = field(default=lambda: _unguarded())


@contextmanager
def _unguarded() -> Iterator[None]:
    yield


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
    if isinstance(error, JobError):  # a busy ledger lock, an unreachable database, a lost lease: try again
        return Outcome(State.RETRY_WAIT, reason="ledger_unavailable", retryable=True)
    if isinstance(error, OSError) and error.errno in STORAGE_FULL_ERRNOS:
        # the output's disk is full: wait for space without spending the order's attempts (ops lists it)
        return Outcome(State.RETRY_WAIT, reason=STORAGE_FULL, retryable=True, counts=False)
    # an unexpected bug: retry (bounded by max attempts); its text may hold order data, so only the type
    return Outcome(State.RETRY_WAIT, reason=f"internal_{type(error).__name__}", retryable=True)


class LeaseKeeper(threading.Thread):
    """Renews a running attempt's lease every third of its length (a fenced write); notices when it was
    taken away."""

    def __init__(self, ledger: Ledger, record: JobRecord, lease_s: float) -> None:
        super().__init__(daemon=True, name=f"lease-{record.ref}")
        self.ledger, self.ref, self.attempt = ledger, record.ref, record.attempts
        self.lease_s = lease_s
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease_s / 3):
            try:
                with self.ledger.owned(self.ref, self.attempt, timeout=self.lease_s / 3) as order:
                    order.update(lease_expires_at=self.ledger.clock() + self.lease_s)
            except LeaseLost:
                self.lost.set()
                return
            except (JobError, OSError) as error:  # lock busy, database restarting, a full disk: try again
                log.warning("%s: lease renewal failed (%s); retrying", self.ref, type(error).__name__)
                continue

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=self.lease_s)


def _prior_job(record: JobRecord) -> PriorJob | None:
    """What an earlier attempt recorded of its remote audio job (an id without an intent predates intents
    and carries no lyrics hash, so it is never reused for lyrics it may not match)."""
    if not record.prediction_intent:
        return None
    return PriorJob(record.prediction_intent, record.prediction_lyrics, record.prediction_id)


def run_owner_prefix(run_id: str) -> str:
    return f"run-{run_id}:"


def default_owner(run_id: str = "") -> str:
    """Lease owner id; on Actions (`run_id`, GITHUB_RUN_ID) it names the run, so the run's always() step can
    release what it held."""
    prefix = run_owner_prefix(run_id) if run_id else ""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


FINISH_RETRY_S = 30.0  # how long an outcome is retried while the database restarts (the lease is renewed)


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
        run_id: int = 0,
    ) -> None:
        self.ledger, self.envelope, self.processor = ledger, envelope, processor
        self.run_id = run_id  # the Actions run this worker is (GITHUB_RUN_ID): reconcile asks if it ended
        self.settings, self.out_dir = settings, out_dir
        self.owner = owner or default_owner()
        self.rng = rng or random.Random()
        self.only_ref = only_ref
        self.summary = WorkSummary()
        self._in_flight = 0
        self._mutex = threading.Lock()

    # claiming ----------------------------------------------------------------------------------------
    def claim(self) -> JobRecord | None:
        """Atomically take one due order: lock it (skipping those others hold), settle it, move it to
        running with the next attempt number, which fences every later write of this attempt."""
        for _ in range(16):  # settling an expired lease may leave that order waiting: try the next one
            now = self.ledger.clock()
            with self.ledger.next_due(now, self.only_ref) as order:
                if order is None:
                    return None
                record, _ = settle(order, self.settings, now, self.rng)
                if record.state != State.QUEUED:
                    continue
                return order.transition(
                    State.RUNNING,
                    reason="",
                    attempts=record.attempts + 1,
                    lease_owner=self.owner,
                    lease_expires_at=now + self.settings.lease_s,
                    run_id=self.run_id or record.run_id,
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
        if self.only_ref:
            with self.ledger.next_due(self.ledger.clock(), self.only_ref) as order:
                return order is not None
        return self.ledger.count_due(self.ledger.clock()) > 0

    # processing --------------------------------------------------------------------------------------
    def process(self, record: JobRecord) -> str:
        keeper = LeaseKeeper(self.ledger, record, self.settings.lease_s)
        keeper.start()
        started = time.monotonic()
        try:
            outcome = self._attempt(record, keeper)
            return self._finish_retrying(record, outcome, time.monotonic() - started)
        finally:
            keeper.stop()

    def _attempt(self, record: JobRecord, keeper: LeaseKeeper) -> Outcome:
        def intend(intent: str, lyrics_hash: str) -> None:
            """Fenced and committed before the create is sent: a killed worker's retry finds this intent."""
            with self.ledger.owned(record.ref, record.attempts) as order:
                order.update(prediction_intent=intent, prediction_lyrics=lyrics_hash, prediction_id="")
                order.note("prediction_intent", attempt=record.attempts)

        def created(prediction_id: str) -> None:
            with self.ledger.owned(record.ref, record.attempts) as order:
                if order.record.prediction_id != prediction_id:
                    order.update(prediction_id=prediction_id)
                    order.note("prediction_created", attempt=record.attempts)

        @contextmanager
        def go_live() -> Iterator[OwnedOrder]:
            """The page goes live inside this block: the order stays this attempt's until it ends (reconcile
            may have reclaimed a lease that ran out, another worker published or support took it down)."""
            if keeper.lost.is_set():
                raise LeaseLost(f"{record.ref}: lease lost before publishing; the page was not made live")
            with self.ledger.owned(record.ref, record.attempts) as order:
                yield order

        try:
            order_bytes = self.envelope.open(self.ledger.read_envelope(record.ref))
            context = JobContext(
                ref=record.ref,
                token=record.token,
                attempt=record.attempts,
                out_dir=self.out_dir,
                journal=JobJournal(prior=_prior_job(record), intend=intend, created=created),
                order_bytes=order_bytes,
                go_live=go_live,
            )
            return Outcome(State.PUBLISHED, gift=self.processor(context))
        except Exception as error:  # every failure becomes a recorded, categorised outcome
            outcome = _classify(error)
            log.info("%s: attempt %d → %s (%s)", record.ref, record.attempts, outcome.target, outcome.reason)
            return outcome

    def _finish_retrying(self, claimed: JobRecord, outcome: Outcome, elapsed: float) -> str:
        """Record the outcome; while the database is unreachable (a restart) keep trying, the lease renewed
        meanwhile, so the audit never misses an attempt that ended."""
        deadline = time.monotonic() + FINISH_RETRY_S
        delay = 0.05
        while True:
            try:
                return self._finish(claimed, outcome, elapsed)
            except LedgerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _finish(self, claimed: JobRecord, outcome: Outcome, elapsed: float) -> str:
        try:
            with self.ledger.owned(claimed.ref, claimed.attempts, timeout=60.0) as order:
                return self._record_outcome(order, outcome, elapsed)
        except LeaseLost:
            # reconcile or another worker took the order back; the page (if any) used the same token
            with self.ledger.owned(claimed.ref, timeout=60.0) as order:
                order.note("lease_lost", attempt=claimed.attempts, worker=self.owner)
            return "lease_lost"

    def _record_outcome(self, order: OwnedOrder, outcome: Outcome, elapsed: float) -> str:
        record = order.record
        now = self.ledger.clock()
        timings = {"queue_wait_s": record.timings.get("queue_wait_s", 0.0), "attempt_s": round(elapsed, 6)}
        cleared = {"lease_owner": "", "lease_expires_at": 0.0}
        detail = provider_detail(outcome, timings)
        if outcome.target == State.PUBLISHED and outcome.gift is not None:
            for timing in outcome.gift.timings:
                timings[f"{timing.stage}_s"] = round(timing.seconds, 6)
            timings["end_to_end_s"] = round(now - record.created_at, 6)
            record = order.transition(
                State.PUBLISHED, reason="", timings=timings, url=outcome.gift.url_path,
                published_at=now, detail=detail, **cleared,
            )
            order.delete_envelope()
        elif outcome.retryable and not outcome.counts:
            # never sooner than the base delay: freeing disk space takes a person, not a jittered instant
            delay = max(self.settings.retry_base_s, retry_delay(record.attempts, self.settings, None, self.rng))
            record = order.transition(
                State.RETRY_WAIT, reason=outcome.reason, timings=timings,
                next_attempt_at=now + delay, last_error=outcome.reason, detail=detail,
                budget_from=record.budget_from + 1, **cleared,  # this attempt is given back
            )
        elif outcome.retryable and attempts_left(record.attempts, self.settings, record.budget_from):
            delay = retry_delay(record.attempts, self.settings, outcome.retry_after, self.rng)
            record = order.transition(
                State.RETRY_WAIT, reason=outcome.reason, timings=timings,
                next_attempt_at=now + delay, last_error=outcome.reason, detail=detail, **cleared,
            )
        elif outcome.retryable:
            record = order.transition(
                State.FAILED, reason="attempts_exhausted", timings=timings,
                last_error=outcome.reason, detail=detail, **cleared,
            )
        else:
            record = order.transition(
                outcome.target, reason=outcome.reason, timings=timings,
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
            state = self.process(record)
            with self._mutex:
                self.summary.attempts += 1
                self.summary.count(state)
            return True
        finally:
            with self._mutex:
                self._in_flight -= 1

    def run(
        self, *, until_idle: bool, workers: int = 1, poll_s: float = 0.05, stop: threading.Event | None = None,
        time_budget_s: float | None = None,
    ) -> WorkSummary:
        """Drain due orders with `workers` threads. `time_budget_s`: claim nothing after that many seconds;
        attempts in flight finish and record their outcome (the run ends with nothing held)."""
        stop = stop or threading.Event()
        budget = threading.Timer(time_budget_s, stop.set) if time_budget_s is not None else None
        if budget is not None:
            budget.daemon = True
            budget.start()
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
                    if until_idle and not self.has_work():
                        return
                except JobError as error:  # the ledger stayed locked or unreachable: an order this step held
                    log.warning("worker step failed (%s); the order is reclaimed when its lease expires",
                                type(error).__name__)  # keep serving the others
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
        finally:
            if budget is not None:
                budget.cancel()
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
