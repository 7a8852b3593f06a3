"""`POST /v1/checkout`: a draft's one Stripe Checkout Session (issue 14).

The session is created through builder/jobs/stripe_checkout.py with an idempotency key derived from the draft
id, and with parameters derived from the draft only (never from the clock), so asking again for the same draft
answers the same session: Stripe replays its first answer. Its `expires_at` is the draft's expiry (at most 24 h
after the draft was made: Stripe's limit), so a session cannot be paid after its draft is gone; a draft with
less than Stripe's minimum of 30 minutes left is refused (make a new draft) rather than sold a session that
outlives it. Nothing private is sent: the draft id, its keyed tag (metadata `giftboard_draft`: builder/jobs/
drafts.py), the Price id and the two return URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from builder.errors import PaymentError
from builder.jobs.drafts import DRAFT_TAG, draft_tag
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Draft, Ledger, iso_time
from builder.jobs.stripe_checkout import create_checkout_session
from builder.settings import StripeSettings

MIN_SESSION_S = 30 * 60  # Stripe: a Checkout Session's expires_at is 30 minutes to 24 hours after its creation
MAX_SESSION_S = 24 * 3600
CLOCK_SLACK_S = 120  # our clock against Stripe's


@dataclass(frozen=True)
class CheckoutAnswer:
    status: int
    body: dict[str, Any]


def session_expiry(draft: Draft) -> int:
    """When the draft's session expires: the draft's own expiry, capped at 24 h after the draft was made (so it
    is never more than 24 h after the session's creation). Derived from the draft alone: the same every time."""
    return int(min(draft.expires_at, draft.created_at + MAX_SESSION_S - CLOCK_SLACK_S))


def checkout_draft(ledger: Ledger, draft_id: str, now: float) -> Draft | CheckoutAnswer:
    """The ledger's half of a checkout: the draft to sell, or the answer that it cannot be: 409 paid already
    (an order now), 404 unknown, 410 expired or about to. `open_session` is the Stripe half; the intake bounds
    the ledger half's wait (a stopped database) apart from Stripe's own timeout."""
    draft = ledger.get_draft(draft_id)
    paid = ledger.order_of_draft(draft_id)  # after the draft: a webhook that paid it in between is seen here
    if paid is not None:
        return CheckoutAnswer(409, {"error": "this draft is paid already: it is an order now", "ref": paid})
    if draft is None:
        return CheckoutAnswer(404, {"error": "unknown draft (never made, or expired and deleted)"})
    if draft.expires_at <= now:
        return CheckoutAnswer(410, {"error": "this draft has expired: make a new draft",
                                    "expired_at": iso_time(draft.expires_at)})
    expires_at = session_expiry(draft)
    if expires_at < now + MIN_SESSION_S + CLOCK_SLACK_S:
        return CheckoutAnswer(410, {"error": "this draft expires in under 30 minutes, too soon for a Stripe "
                                             "Checkout Session: make a new draft",
                                    "expires_at": iso_time(draft.expires_at)})
    return draft


def open_session(client: stripe.StripeClient, settings: StripeSettings, draft: Draft,
                 envelope: Envelope) -> CheckoutAnswer:
    """Stripe's half of a checkout: the draft's one session (201), or 409 when its key holds other parameters."""
    try:
        session = create_checkout_session(client, draft_id=draft.id, price=settings.price,
                                          success_url=settings.success_url, cancel_url=settings.cancel_url,
                                          expires_at=session_expiry(draft),
                                          metadata={DRAFT_TAG: draft_tag(envelope, draft.id)})
    except PaymentError as error:
        if error.category.split("/")[0] != "idempotency_error":
            raise
        # its session was made under other settings (GIFT_STRIPE_PRICE or a return URL changed since): Stripe
        # keeps the first parameters for its key for 24 h, and a second session would let the draft be paid twice
        return CheckoutAnswer(409, {"error": "this draft's Checkout Session was made before GIFT_STRIPE_PRICE or a "
                                             "return URL changed: make a new draft"})
    return CheckoutAnswer(201, {"url": session.url, "session_id": session.id})
