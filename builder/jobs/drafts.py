"""Order drafts (issue 14): an order checked like `/v1/orders/validate` and kept, sealed, until it is paid.

`create_draft` runs the order model and the public-field guard; only an order that passes both is stored, and
only as its encrypted envelope (nothing private in the clear), with an expiry after which `sweep_drafts`
deletes it with its envelope. `gift draft` calls `create_draft`; `POST /v1/drafts` runs the same precheck,
then `store_draft` (its ledger half) under the intake's ledger deadline.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Draft, Ledger, iso_time, new_draft_id

OrderPrecheck = Callable[[bytes], dict[str, Any]]
DRAFT_TAG = "giftboard_draft"  # the Checkout Session's metadata key for the draft's tag


def draft_tag(envelope: Envelope, draft_id: str) -> str:
    """The draft id's tag, keyed under the envelope key and sent as its Checkout Session's metadata: it says "this
    intake made that draft" and nothing else (no order data; not guessable from the id). A paid session whose
    draft is gone is ours to record and refund only when it carries its draft's tag: another deployment's
    session on the same Stripe account (every endpoint of an account receives every event) is not."""
    return envelope.fingerprint(b"giftboard-draft-tag\0" + draft_id.encode())[:32]


def tagged(envelope: Envelope, draft_id: str, metadata: Any) -> bool:
    """Whether a session's `metadata` carries `draft_id`'s tag."""
    try:
        found = metadata[DRAFT_TAG]
    except (KeyError, TypeError, IndexError):
        return False
    return isinstance(found, str) and hmac.compare_digest(found, draft_tag(envelope, draft_id))


def create_draft(body: bytes, *, ledger: Ledger, envelope: Envelope, ttl_s: float, check: OrderPrecheck,
                 now: float) -> dict[str, Any]:
    """{draft_id, expires_at} once stored; the precheck's {ok: false, errors, findings} (nothing stored) else."""
    result = check(body)
    if not result.get("ok"):
        return result
    return store_draft(body, ledger=ledger, envelope=envelope, ttl_s=ttl_s, now=now)


def store_draft(body: bytes, *, ledger: Ledger, envelope: Envelope, ttl_s: float, now: float) -> dict[str, Any]:
    """The ledger half of `create_draft`, for a body its precheck passed: seal, store, {draft_id, expires_at}."""
    draft = Draft(id=new_draft_id(), sealed=envelope.seal(body), created_at=now, expires_at=now + ttl_s)
    ledger.save_draft(draft)
    return {"draft_id": draft.id, "expires_at": iso_time(draft.expires_at)}
