"""The ledger interface: one small protocol, two backends (a folder and PostgreSQL).

`open_ledger(location)` picks the backend: a `postgresql://…` URL opens `PostgresLedger`
(builder/jobs/pg_ledger.py: psycopg 3 with a connection pool, schema from numbered SQL migrations);
anything else is a folder path for `FolderLedger` (builder/jobs/folder_ledger.py: the embedded default, one
machine). Both keep the same PII-free `JobRecord`, the same append-only audit, the same encrypted
envelopes, and both enforce the one state machine in builder/jobs/states.py.

The protocol (every method may raise `LedgerUnavailable` when the database cannot be reached):

- `accept(new) -> (ref, created)`: record a new order, its envelope, its first audit lines and its
  dispatch outbox entry in one step; the idempotency key hash is unique, so a replay returns the same ref
  (`created` False) and the same key with another body raises `IdempotencyConflict`.
- `accept_paid(paid) -> (ref, created)`: a paid Stripe Checkout Session's draft becomes its order, in one
  step keyed by the session (`paid.key_hash`): the order exactly as `accept` records it (received → queued,
  its envelope = the draft's sealed bytes, audit, outbox) with its PaymentIntent id, and the draft and its
  envelope deleted; when the draft is gone or past its expiry, a `failed` order (received → failed,
  reason draft_expired, no envelope) to be refunded. A replay (any delivery, any order, the draft gone or
  not) answers the same ref with `created` False. `order_of_draft(draft_id)`: the ref a draft was paid as.
- `get(ref)`, `records(state=None)`, `audit(ref)`, `read_envelope(ref)`: reads; `corrupt()`: refs whose
  record cannot be read back, with when it was last written (the folder's torn files; a database has none).
- `owned(ref, attempt=None)`: **the only way to change an order.** A context manager that locks the
  order (a file lock, or the row `FOR UPDATE`), re-reads it and yields an `OwnedOrder`. With `attempt`
  it also checks that the order is still `running` under that attempt number (the fencing token) and
  raises `LeaseLost` otherwise; every write inside repeats the check (`WHERE ref = … AND attempts = …`).
  The lock is held until the block ends, so a gift page can go live inside it: nobody can reclaim,
  publish or take the order down meanwhile.
- `next_due(now, only_ref=None)`: like `owned`, for the oldest order a worker may claim or settle now
  (queued, a retry whose time came, an expired lease); yields None when nothing is due. Orders another
  worker holds are skipped (`FOR UPDATE SKIP LOCKED`, a non-blocking file lock), never waited for.
- `count_due(now)`: how many orders are due now (progress bars, `--until-idle`).
- `reconcile_candidates(now, include_queued)`: refs that recovery may need to touch (received, expired
  leases, due retries, final orders that still hold an envelope; queued ones too when re-dispatching).
- `refund_candidates(now, failed_before)`: refs of the orders `JobRecord.refund_due` says to refund now, oldest
  first (the database reads its `orders_refundable` index; the folder reads every record).
- `unsettled_refunds()`: refs of refunded orders whose refund Stripe accepted as pending or requires_action,
  oldest first: `gift reconcile` asks Stripe how they ended (builder/jobs/refunds.py settle_refunds).
- `sweep(now)`: remove what killed writers left behind (the folder's orphaned temporary files; a database
  has none); one line per removal.
- `figures(now)`: the support-safe aggregates the ops summary shows (computed by the database where there
  is one, never by loading every record).
- `dispatcher(name)`: the durable state of a dispatcher (builder/jobs/pool.py), held for one cycle: yields a
  `DispatcherSlot` (its `state` dict, `save(state)` writes it at once), or None at once when another
  dispatcher holds it (it is dispatching now; a second one would dispatch for the same need twice).
  `dispatcher_states()`: every dispatcher's last saved state, for the ops figures.
- `describe()`: where the ledger is, safe to print (no password); `close()`.

`OwnedOrder` (what `owned` and `next_due` yield): `record`, `transition(target, …)` (legal transitions
only, with its audit line), `update(**fields)` (not the state), `note(event, **detail)` (an audit line
that is no transition), `has_envelope()`, `delete_envelope()`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from builder.errors import JobError
from builder.jobs.states import DRAFT_EXPIRED, REFUNDABLE, State

if TYPE_CHECKING:
    from builder.jobs.figures import LedgerFigures

Clock = Callable[[], float]
RECORD_VERSION = 1
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class JobRecord:
    """What the ledger knows about an order: no name, no story, no email, no payment data."""

    ref: str
    state: str
    token: str
    key_hash: str
    created_at: float
    updated_at: float
    state_since: float
    attempts: int = 0  # attempts started; the running attempt's number is its fencing token
    seq: int = 0  # transitions committed; audit lines carry the seq they commit
    budget_from: int = 0  # attempts spent before support's last `gift retry`: the budget restarts there
    reason: str = ""  # reason category of the last failure, hold or retry, e.g. "provider_5xx"
    lease_owner: str = ""
    lease_expires_at: float = 0.0
    next_attempt_at: float = 0.0
    queued_at: float = 0.0
    first_started_at: float = 0.0
    published_at: float = 0.0
    url: str = ""  # url path of the published gift, e.g. "gifts/<token>/"
    run_id: int = 0  # GitHub Actions run that was dispatched for the order
    dispatched_at: float = 0.0
    dispatches: int = 0
    prediction_id: str = ""  # provider job id, looked up before creating a new one
    prediction_intent: str = ""  # Idempotency-Key recorded before the provider job was created
    prediction_lyrics: str = ""  # hash of the lyrics that job was made for: reused only for the same lyrics
    last_error: str = ""  # category of the last failed attempt
    # the payment (issue 14): Stripe's PaymentIntent id for an order paid through Checkout ("" for one from the
    # generic signed intake, whose checkout backend refunds it); the refund's id once Stripe made it, and the
    # refund calls that failed (their count, the last one's category, when the next one is due); the refund's
    # status at Stripe as last seen (states.REFUND_ACCEPTED or REFUND_LOST; "" before 0006 or never refunded)
    payment_intent: str = ""
    refund_id: str = ""
    refund_status: str = ""
    refund_attempts: int = 0
    refund_error: str = ""
    refund_next_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    version: int = RECORD_VERSION

    @property
    def status(self) -> State:
        return State(self.state)

    def lease_expired(self, now: float) -> bool:
        return self.state == State.RUNNING and self.lease_expires_at <= now

    def due_at(self) -> float | None:
        """When a worker may take this order (claim or settle it); None when no worker should."""
        if self.state in (State.QUEUED, State.RECEIVED):
            return self.queued_at or self.created_at
        if self.state == State.RETRY_WAIT:
            return self.next_attempt_at
        if self.state == State.RUNNING:
            return self.lease_expires_at
        return None

    def refund_due(self, now: float, failed_before: float | None) -> bool:
        """Whether `gift reconcile` should refund this order now (builder/jobs/refunds.py): a paid order in failed
        or held whose last refund call failed and whose retry is due, or a paid failed order whose draft had
        expired, or that has been failed since `failed_before` (None: that policy is off)."""
        if self.state not in REFUNDABLE or not self.payment_intent or self.refund_next_at > now:
            return False
        if self.refund_attempts:
            return True
        if self.state != State.FAILED:
            return False  # a held order is support's call (`gift refund REF`)
        return self.reason == DRAFT_EXPIRED or (failed_before is not None and self.state_since <= failed_before)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True, indent=1) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> JobRecord:
        return cls.from_dict(json.loads(data))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise JobError(f"ledger record has unknown fields: {', '.join(sorted(unknown))}")
        record = cls(**raw)
        State(record.state)  # a record with an unknown state is corrupt
        return record


@dataclass(frozen=True)
class NewOrder:
    """What `accept` records: hashes, the sealed envelope and the freshly minted token, nothing in clear."""

    key_hash: str  # HMAC of the idempotency key under the envelope key (unique in the ledger)
    fingerprint: str  # HMAC of the canonical body: a replay with another body is a conflict
    sealed: bytes = field(repr=False)
    token: str = field(repr=False)


@dataclass(frozen=True)
class Draft:
    """An order not paid yet: its id (the Checkout Session's client_reference_id), the private input sealed
    (never stored in the clear), and when it stops being payable."""

    id: str
    sealed: bytes
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class PaidOrder:
    """What `accept_paid` records for a paid Checkout Session: ids and hashes only (Stripe's event carries the
    buyer's email: none of it gets here)."""

    key_hash: str  # accept.key_hash("stripe:" + session id): one order per session
    fingerprint: str  # marks the key as a Checkout Session's (a generic order reusing it is a conflict)
    draft_id: str  # the session's client_reference_id
    session_id: str
    payment_intent: str  # "" when Stripe took no payment (no_payment_required)
    token: str = field(repr=False)


def paid_audit_detail(paid: PaidOrder) -> dict[str, Any]:
    """The ids an order paid through Checkout keeps in its first transition's audit line."""
    return {"paid": "stripe_checkout", "draft": paid.draft_id, "session": paid.session_id}


def new_draft_id() -> str:
    return "drf_" + secrets.token_hex(12)


def is_draft_id(value: str) -> bool:
    return bool(re.fullmatch(r"drf_[0-9a-f]{24}", value))


def check_draft_id(draft_id: str) -> str:
    if not is_draft_id(draft_id):
        raise JobError("bad draft id")
    return draft_id


def new_ref() -> str:
    """An order reference: random, short enough to read over the phone, unrelated to the gift token."""
    return "ord_" + secrets.token_hex(8)


def check_ref(ref: str) -> str:
    if not ref.startswith("ord_") or not ref[4:].isalnum():
        raise JobError(f"not an order ref: {ref!r} (a ref is ord_ and 16 letters or digits, as `gift submit` "
                       "printed it)")
    return ref


def typed_ref(text: str) -> str:
    """A ref as support typed it (read over the phone, copied from an email): white space anywhere dropped and
    upper case folded, since refs are ord_ and lower-case hex (`new_ref`); `check_ref` still judges the rest."""
    return "".join(text.split()).lower()


def iso_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def audit_entry(
    now: float,
    source: str,
    target: State | str,
    *,
    attempt: int,
    reason: str,
    seq: int,
    timings: dict[str, float] | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One transition's audit line, the same on both backends."""
    entry: dict[str, Any] = {
        "time": iso_time(now), "t": round(now, 3), "seq": seq, "from": str(source), "to": str(target),
        "attempt": attempt, "reason": reason,
    }
    if timings:
        entry["timings"] = {k: round(v, 3) for k, v in timings.items()}
    if detail:
        entry.update(detail)
    return entry


def note_entry(now: float, event: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"time": iso_time(now), "t": round(now, 3), "event": event, **detail}


class OwnedOrder(Protocol):
    """An order held for one change (see the module docstring)."""

    @property
    def record(self) -> JobRecord: ...

    def transition(
        self,
        target: State,
        *,
        reason: str | None = None,
        timings: dict[str, float] | None = None,
        detail: dict[str, Any] | None = None,
        **changes: Any,
    ) -> JobRecord: ...

    def update(self, **changes: Any) -> JobRecord: ...

    def note(self, event: str, **detail: Any) -> None: ...

    def has_envelope(self) -> bool: ...

    def delete_envelope(self) -> None: ...


class DispatcherSlot(Protocol):
    """A dispatcher's state, held by one dispatcher for one cycle (see `Ledger.dispatcher`)."""

    @property
    def state(self) -> dict[str, Any]: ...

    def save(self, state: dict[str, Any]) -> None: ...


class Ledger(Protocol):
    """Orders, audit and envelopes behind one interface (see the module docstring)."""

    clock: Clock

    def describe(self) -> str: ...

    def accept(self, new: NewOrder) -> tuple[str, bool]: ...

    def accept_paid(self, paid: PaidOrder) -> tuple[str, bool]: ...

    def order_of_draft(self, draft_id: str) -> str | None: ...

    def get(self, ref: str) -> JobRecord: ...

    def records(self, state: State | None = None) -> list[JobRecord]: ...

    def corrupt(self) -> dict[str, float]: ...

    def audit(self, ref: str) -> list[dict[str, Any]]: ...

    def read_envelope(self, ref: str) -> bytes: ...

    def save_draft(self, draft: Draft) -> None: ...

    def get_draft(self, draft_id: str) -> Draft | None: ...

    def delete_draft(self, draft_id: str) -> None: ...

    def sweep_drafts(self, now: float) -> list[str]: ...

    def owned(self, ref: str, attempt: int | None = None, *, timeout: float = 30.0
              ) -> AbstractContextManager[OwnedOrder]: ...

    def next_due(self, now: float, only_ref: str | None = None) -> AbstractContextManager[OwnedOrder | None]: ...

    def count_due(self, now: float) -> int: ...

    def reconcile_candidates(self, now: float, include_queued: bool) -> list[str]: ...

    def refund_candidates(self, now: float, failed_before: float | None) -> list[str]: ...

    def unsettled_refunds(self) -> list[str]: ...

    def sweep(self, now: float) -> list[str]: ...

    def figures(self, now: float) -> LedgerFigures: ...

    def dispatcher(self, name: str) -> AbstractContextManager[DispatcherSlot | None]: ...

    def dispatcher_states(self) -> dict[str, dict[str, Any]]: ...

    def close(self) -> None: ...


def is_database_url(location: str | Path) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def ledger_place(text: str) -> Path | str:
    """A `--ledger` value: a database URL as it is (a Path would fold its `//`), anything else a folder."""
    return text if is_database_url(text) else Path(text)


def has_ledger(location: Path | str | None) -> bool:
    """Whether there is a ledger to report on: a database URL, or a folder that holds orders."""
    if location is None:
        return False
    return is_database_url(location) or (Path(location) / "orders").is_dir()


def open_ledger(location: str | Path, clock: Clock = time.time, *, check_schema: bool = True) -> Ledger:
    """The ledger at `location`: a `postgresql://` URL (checked to be on the latest schema unless told
    otherwise) or a folder."""
    text = str(location)
    if is_database_url(text):
        from builder.jobs.pg_ledger import PostgresLedger  # psycopg is only imported when it is used

        return PostgresLedger(text, clock, check_schema=check_schema)
    from builder.jobs.folder_ledger import FolderLedger

    return FolderLedger(Path(text), clock)
