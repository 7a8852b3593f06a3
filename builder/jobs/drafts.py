"""Order drafts (issue 14): an order checked like `/v1/orders/validate` and kept, sealed, until it is paid.

`create_draft` runs the order model and the public-field guard; only an order that passes both is stored, and
only as its encrypted envelope (nothing private in the clear), with an expiry after which `sweep_drafts`
deletes it with its envelope. Shared by `POST /v1/drafts` and `gift draft`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Draft, Ledger, iso_time, new_draft_id

OrderPrecheck = Callable[[bytes], dict[str, Any]]


def create_draft(body: bytes, *, ledger: Ledger, envelope: Envelope, ttl_s: float, check: OrderPrecheck,
                 now: float) -> dict[str, Any]:
    """{draft_id, expires_at} once stored; the precheck's {ok: false, errors, findings} (nothing stored) else."""
    result = check(body)
    if not result.get("ok"):
        return result
    draft = Draft(id=new_draft_id(), sealed=envelope.seal(body), created_at=now, expires_at=now + ttl_s)
    ledger.save_draft(draft)
    return {"draft_id": draft.id, "expires_at": iso_time(draft.expires_at)}
