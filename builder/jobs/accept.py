"""Accepting an order: the one code path shared by `gift submit` and the intake endpoint.

Validate, hash the idempotency key and the body (keyed), seal the envelope, then `ledger.accept` records
it all at once: same key and body → the same ref; same key, other body → IdempotencyConflict; new key →
the order, its envelope, its first audit lines and its outbox entry, durable before the caller answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from builder.errors import IdempotencyConflict, OrderError
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Ledger, NewOrder

OrderParser = Callable[[bytes], Any]
__all__ = ["IdempotencyConflict", "OrderParser", "accept_order", "key_hash"]


def key_hash(idempotency_key: str, envelope: Envelope) -> str:
    """Keyed (HMAC under the envelope key): a payment id is short enough to guess from a plain hash, and the
    ledger's readers (support, backups) are more people than the payment system's."""
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
    new = NewOrder(key_hash=key_hash(key, envelope), fingerprint=envelope.fingerprint(_canonical(raw)),
                   sealed=envelope.seal(raw), token=new_gift_token())
    return ledger.accept(new)
