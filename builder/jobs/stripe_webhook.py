"""`POST /v1/stripe/webhook` (issue 14): what a verified Stripe event does to the ledger.

- `checkout.session.completed` with `payment_status` "paid" or "no_payment_required", and
  `checkout.session.async_payment_succeeded`: the session's draft (`client_reference_id`) becomes its order
  through `Ledger.accept_paid`, in one step keyed by the session id, so any number of deliveries in any order
  make one order. A session whose draft is gone or past its expiry is recorded `failed` (draft_expired) and
  its refund is started after the answer.
- only sessions our checkout made count: they carry their draft's keyed tag (metadata `giftboard_draft`, an HMAC
  of the draft id under the envelope key). Anyone can open a Payment Link of the same account with
  `?client_reference_id=<a draft id they saw>`, and every endpoint of an account receives every event of the
  account (another deployment's, another integration's): an untagged session is acknowledged and ignored with a
  warning, never an order, never a refund, never a deleted draft, whatever its draft id.
- `checkout.session.completed` still "unpaid" (a delayed payment method): nothing yet; its
  async_payment_succeeded or async_payment_failed follows.
- `checkout.session.expired` and `checkout.session.async_payment_failed`: the draft and its envelope are deleted.
- an event whose `livemode` is not the secret key's mode (a live event at an intake with a test key, or the other
  way round): this intake's checkout cannot have made its session, and with that key it could not refund it;
  acknowledged (Stripe would only deliver it again), nothing recorded, one warning line for the operator.
- anything else, and sessions that are not a Giftboard draft's (no draft id as `client_reference_id`, an object
  that is no Checkout Session, a `mode` other than "payment", a v2 thin event): acknowledged and ignored.

Which key orders the order: on this path the Checkout Session alone (`stripe:<session id>`, HMAC'ed like every
idempotency key); an `idempotency_key` inside the draft's order body is not used here. The generic signed
`POST /v1/orders` keeps its own rule (the header key, or the body's; a header contradicting the body is refused).

The event carries the buyer's email and name (`customer_details`): this module reads the session's id, `object`,
`mode`, `client_reference_id`, `payment_status`, `payment_intent` and `metadata.giftboard_draft`, and nothing
else; only ids are recorded or logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from builder.jobs.accept import key_hash, new_gift_token
from builder.jobs.drafts import tagged
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Ledger, PaidOrder, is_draft_id
from builder.jobs.states import DRAFT_EXPIRED, State
from builder.jobs.stripe_checkout import ThinEvent

PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
CLOSED_EVENTS = frozenset({"checkout.session.expired", "checkout.session.async_payment_failed"})
PAID_STATUSES = frozenset({"paid", "no_payment_required"})
SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,200}")  # Stripe's ids: a prefix, then letters, digits and _
PAYMENT_INTENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,200}")


@dataclass(frozen=True)
class WebhookOutcome:
    line: str  # what happened, ids only: for the intake's log
    ref: str = ""
    created: bool = False  # a new queued order: the dispatcher runs after the answer
    refund: bool = False  # a new failed (draft_expired) order: its refund runs after the answer
    warning: bool = False  # the operator should look: logged as a warning


def paid_order(session_id: str, draft_id: str, payment_intent: str, envelope: Envelope) -> PaidOrder:
    """The ledger's view of a paid session: its key hash (one order per session), ids, a fresh gift token."""
    return PaidOrder(
        key_hash=key_hash(f"stripe:{session_id}", envelope),
        fingerprint=envelope.fingerprint(b"giftboard-stripe-checkout\0" + session_id.encode()),
        draft_id=draft_id, session_id=session_id, payment_intent=payment_intent, token=new_gift_token())


def _field(obj: Any, name: str) -> Any:
    """One field of a Stripe object (the library's objects are no dicts), None when absent."""
    try:
        return obj[name]
    except (KeyError, TypeError, IndexError):
        return None


def _id_of(value: Any, pattern: re.Pattern[str]) -> str:
    """An id field that Stripe sends as a string, or as the object when expanded; "" unless it has the shape of
    the id it should be (nothing else from the event reaches the log or the ledger)."""
    if not isinstance(value, str):
        value = _field(value, "id")
    return value if isinstance(value, str) and pattern.fullmatch(value) else ""


def _not_ours(session: Any) -> str:
    """Why a "checkout.session.*" event's object is not a session our checkout made, or ""."""
    if not isinstance(session, stripe.StripeObject | Mapping):
        return "its object is not a Checkout Session"
    kind, mode = _field(session, "object"), _field(session, "mode")
    if kind is not None and kind != "checkout.session":
        return "its object is not a Checkout Session"
    if mode is not None and mode != "payment":
        return "not a one-time payment session"
    return ""


def handle_event(event: stripe.Event | ThinEvent, *, ledger: Ledger, envelope: Envelope,
                 livemode: bool | None = None) -> WebhookOutcome:
    """Apply one verified event; raises the ledger's errors (the intake answers 503, Stripe delivers again).
    `livemode`: the secret key's mode (None: unknown, not checked); an event of the other mode is ignored."""
    kind = str(event.type)
    head = f"stripe event {event.id} ({kind})"
    if isinstance(event, ThinEvent):
        return WebhookOutcome(f"{head}: a v2 thin event; ignored (orders need a Snapshot payload destination)",
                              warning=True)
    if kind not in PAID_EVENTS | CLOSED_EVENTS:
        return WebhookOutcome(f"{head}: ignored")
    event_live = _field(event, "livemode")
    if livemode is not None and isinstance(event_live, bool) and event_live != livemode:
        said = ("a live-mode event, and GIFT_STRIPE_SECRET_KEY is a test key" if event_live else
                "a test-mode event, and GIFT_STRIPE_SECRET_KEY is a live key")
        return WebhookOutcome(f"{head}: {said} (this intake's sessions are of the key's mode); ignored, nothing "
                              "recorded: check the endpoint's signing secret and the key", warning=True)
    session = _field(_field(event, "data"), "object")
    why = _not_ours(session)
    if why:
        return WebhookOutcome(f"{head}: {why}; ignored")
    session_id = _id_of(_field(session, "id"), SESSION_ID)
    draft_id = _field(session, "client_reference_id")
    if not session_id or not isinstance(draft_id, str) or not is_draft_id(draft_id):
        return WebhookOutcome(f"{head} session {session_id or '?'}: not a Giftboard draft's session; ignored")
    head = f"{head} session {session_id} draft {draft_id}"
    if not tagged(envelope, draft_id, _field(session, "metadata")):
        return WebhookOutcome(f"{head}: not made by this intake's checkout (no draft tag of ours: a Payment Link, "
                              "another integration or deployment); ignored, nothing recorded", warning=True)
    if kind in CLOSED_EVENTS:
        ledger.delete_draft(draft_id)
        return WebhookOutcome(f"{head}: not paid; draft deleted")
    if kind == "checkout.session.completed" and _field(session, "payment_status") not in PAID_STATUSES:
        return WebhookOutcome(f"{head}: payment not complete yet; waiting for its async payment event")
    paid = paid_order(session_id, draft_id, _id_of(_field(session, "payment_intent"), PAYMENT_INTENT_ID), envelope)
    ref, created = ledger.accept_paid(paid)
    record = ledger.get(ref)
    if not created:
        return WebhookOutcome(f"{head}: order {ref} recorded before ({record.state})", ref=ref)
    if record.state == State.FAILED and record.reason == DRAFT_EXPIRED:
        if not record.payment_intent:  # no_payment_required: nothing was charged, so nothing to give back
            return WebhookOutcome(f"{head}: completed after its draft expired: order {ref} failed "
                                  f"({DRAFT_EXPIRED}); no payment was taken, nothing to refund", ref=ref)
        return WebhookOutcome(f"{head}: paid after its draft expired: order {ref} failed ({DRAFT_EXPIRED}), "
                              "refund starts", ref=ref, refund=True)
    return WebhookOutcome(f"{head}: order {ref} queued", ref=ref, created=True)
