"""Accepting an order: the one code path shared by `gift submit` and the intake endpoint.

Validate, then under the idempotency key's lock: same key and body → the same ref; same key, other
body → IdempotencyConflict; new key → index entry, encrypted envelope, record (received → queued),
every write fsync'ed before the caller answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from builder.errors import IdempotencyConflict, OrderError
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import JobRecord, Ledger, new_ref
from builder.jobs.states import State

OrderParser = Callable[[bytes], Any]


def key_hash(idempotency_key: str, envelope: Envelope) -> str:
    """Keyed (HMAC under the envelope key): a payment id is short enough to guess from a plain hash, and the
    ledger may live in a git repository that more people can read than the payment system."""
    return envelope.fingerprint(b"giftboard-idempotency\0" + idempotency_key.encode())


def default_parser() -> OrderParser:
    from builder.gifts.order import parse_order  # the order model lives with the gift pipeline

    return parse_order


def new_gift_token() -> str:
    """128+ bits of randomness, minted once per order, by the publisher's policy."""
    from builder.gifts.publisher import new_gift_token as mint  # with the pipeline: imported when first needed

    return mint()


def _plain(value: Any) -> str:
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value or "")


def _canonical(raw: bytes) -> bytes:
    """The body as data, so a replay that only re-serialises the same JSON is still the same order."""
    return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def accept_order(
    raw: bytes,
    idempotency_key: str | None = None,
    *,
    ledger: Ledger,
    envelope: Envelope,
    parse: OrderParser | None = None,
) -> tuple[str, bool]:
    """Durably record an order; return (ref, created). Raises OrderError (invalid, nothing recorded)
    or IdempotencyConflict (nothing recorded)."""
    order = (parse or default_parser())(raw)
    body_key = _plain(getattr(order, "idempotency_key", ""))
    header_key = (idempotency_key or "").strip()
    if header_key and body_key and header_key != body_key:
        raise OrderError(["idempotency_key: does not match the Idempotency-Key header"])
    key = header_key or body_key
    if not key:
        raise OrderError(["idempotency_key: required (in the order or the Idempotency-Key header)"])
    hashed = key_hash(key, envelope)
    fingerprint = envelope.fingerprint(_canonical(raw))
    with ledger.key_lock(hashed):
        found = ledger.find_key(hashed)
        if found is not None:
            ref, recorded = found
            if recorded != fingerprint:
                raise IdempotencyConflict()
            if not ledger.exists(ref):
                _record(ledger, envelope, ref, hashed, raw)  # finish an accept interrupted by a crash
            return ref, False
        ref = new_ref()
        ledger.write_key(hashed, ref, fingerprint)  # first: a crash after this is repaired by the replay
        _record(ledger, envelope, ref, hashed, raw)
        return ref, True


def _record(ledger: Ledger, envelope: Envelope, ref: str, hashed: str, raw: bytes) -> JobRecord:
    with ledger.lock(ref):
        ledger.write_envelope(ref, envelope.seal(raw))
        now = ledger.clock()
        record = JobRecord(
            ref=ref,
            state=State.RECEIVED.value,
            token=new_gift_token(),
            key_hash=hashed,
            created_at=now,
            updated_at=now,
            state_since=now,
        )
        record = ledger.create(record)
        return ledger.transition(record, State.QUEUED, reason="", queued_at=now)
