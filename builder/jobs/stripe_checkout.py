"""Stripe through its official library: the client built from settings, Checkout Sessions keyed by draft id,
webhook events verified by Stripe's own `Webhook.construct_event`, and refunds keyed by order.

Nothing private is ever passed here: a session carries the draft id (client_reference_id), its keyed tag
(metadata) and the Price id, never the buyer, the recipient or the story. Every create sends an idempotency key
derived from the draft or order it is for, so a retried call (the library's own network retries, or ours after
a crash) never creates a second session or a second refund.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import stripe

from builder.errors import PaymentError, SignatureError
from builder.jobs.states import REFUND_ACCEPTED
from builder.settings import StripeSettings

NETWORK_RETRIES = 2
ALREADY_REFUNDED = "charge_already_refunded"
# an event's id and type (v2 types carry brackets: v2.core.account[requirements].updated); nothing else is logged
EVENT_FIELD = re.compile(r"[A-Za-z0-9_.\[\]-]{1,255}")


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


def stripe_client(settings: StripeSettings) -> stripe.StripeClient:
    """A StripeClient on the configured key and base address (Stripe's own unless overridden) whose calls wait
    GIFT_STRIPE_TIMEOUT_S for an answer (the library's own default is 80 s, three times over with its retries:
    minutes of a refund holding its order's lock, or of a buyer waiting for checkout)."""
    if not settings.secret_key:
        raise PaymentError("GIFT_STRIPE_SECRET_KEY is not set: set it to the account's secret key (sk_…)")
    return stripe.StripeClient(
        settings.secret_key,
        base_addresses={"api": settings.api_base},
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.new_default_http_client(timeout=settings.timeout_s),
    )


def checkout_idempotency_key(draft_id: str) -> str:
    return f"giftboard-checkout-{draft_id}"


def refund_idempotency_key(ref: str, attempt: int = 0) -> str:
    """The key of order `ref`'s refund call after `attempt` recorded failures. Stripe saves the answer of a call
    once it began (a card_error, a 500 too) and replays it to every later call under the same key for 24 hours,
    so a retry after a recorded failure needs a key of its own; a run killed before it recorded anything reuses
    the key of the call it was making and gets that call's refund back."""
    return f"giftboard-refund-{ref}" + (f"-retry{attempt}" if attempt else "")


def _failure(action: str, error: stripe.StripeError) -> PaymentError:
    if isinstance(error, stripe.APIConnectionError):  # no answer: a timeout, a refused or dropped connection
        return PaymentError(f"Stripe did not answer the request to {action} (timed out or the connection failed, "
                            f"{NETWORK_RETRIES + 1} tries)", category="api_connection_error")
    detail = getattr(error, "error", None)
    kind = getattr(detail, "type", None) or type(error).__name__
    code = getattr(detail, "code", None) or error.code
    status = error.http_status
    said = f"{kind}" + (f" ({code})" if code else "") + (f", HTTP {status}" if status else "")
    category = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", str(kind)).lower()
    return PaymentError(f"Stripe refused to {action}: {said}", category=category + (f"/{code}" if code else ""),
                        code=str(code or ""))


def create_checkout_session(client: stripe.StripeClient, *, draft_id: str, price: str, success_url: str,
                            cancel_url: str, expires_at: int | None = None,
                            metadata: dict[str, str] | None = None) -> CheckoutSession:
    """One Checkout Session for `draft_id` (the same one however often this is called for it, as long as the
    parameters are the same: `expires_at` must be derived from the draft, never from the clock)."""
    params: dict[str, object] = {
        "mode": "payment",
        "line_items": [{"price": price, "quantity": 1}],
        "client_reference_id": draft_id,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if expires_at is not None:
        params["expires_at"] = expires_at
    if metadata:
        params["metadata"] = metadata
    try:
        session = client.v1.checkout.sessions.create(
            params, {"idempotency_key": checkout_idempotency_key(draft_id)})
    except stripe.StripeError as error:
        raise _failure("create a checkout session", error) from None
    if not session.url:
        raise PaymentError("Stripe answered a checkout session without a url")
    return CheckoutSession(id=session.id, url=session.url)


@dataclass(frozen=True)
class StripeRefund:
    """A Refund as Stripe answered it: its id, status (succeeded, pending, requires_action, failed, canceled) and
    Stripe's failure_reason once it failed ("" otherwise). Only these are read: never its metadata's order."""

    id: str
    status: str
    failure_reason: str = ""

    @property
    def accepted(self) -> bool:
        """Stripe took the refund on (money back now or once it settles); failed and canceled ones are not."""
        return self.status in REFUND_ACCEPTED

    @property
    def category(self) -> str:
        """What a ledger keeps of a refund Stripe gave up on: `stripe_failed/<failure_reason>` (or canceled)."""
        return f"stripe_{self.status}" + (f"/{self.failure_reason}" if self.failure_reason else "")


def _refund(refund: stripe.Refund) -> StripeRefund:
    return StripeRefund(id=str(refund.id), status=str(refund.status or ""),
                        failure_reason=str(getattr(refund, "failure_reason", None) or ""))


def create_refund(client: stripe.StripeClient, *, payment_intent: str, ref: str, attempt: int = 0) -> StripeRefund:
    """Refund the payment of order `ref` in full; answers the refund (the same one on every retry of the call)."""
    try:
        refund = client.v1.refunds.create(
            {"payment_intent": payment_intent, "metadata": {"order": ref}},
            {"idempotency_key": refund_idempotency_key(ref, attempt)})
    except stripe.StripeError as error:
        raise _failure("refund", error) from None
    return _refund(refund)


def retrieve_refund(client: stripe.StripeClient, refund_id: str) -> StripeRefund:
    """The refund `refund_id` as Stripe holds it now (how a pending one ended)."""
    try:
        return _refund(client.v1.refunds.retrieve(refund_id))
    except stripe.StripeError as error:
        raise _failure("look up a refund", error) from None


def existing_refund(client: stripe.StripeClient, *, payment_intent: str, ref: str) -> StripeRefund | None:
    """A refund Stripe already holds for `payment_intent` that it accepted (ours, keyed by `ref`, first; else any
    that is not failed or canceled), or None."""
    try:
        listed = client.v1.refunds.list({"payment_intent": payment_intent, "limit": 100})
    except stripe.StripeError as error:
        raise _failure("list refunds", error) from None
    live = [refund for refund in listed.data if refund.status in REFUND_ACCEPTED]
    ours = [refund for refund in live if refund.metadata and refund.metadata.to_dict().get("order") == ref]
    found = (ours or live)[:1]
    return _refund(found[0]) if found else None


def refund_payment(client: stripe.StripeClient, *, payment_intent: str, ref: str, attempt: int = 0) -> StripeRefund:
    """Refund order `ref` once, its `attempt` earlier calls having failed. `create_refund` under the call's
    idempotency key (the library's retries, or a run after a crash, get the same refund back from Stripe); a retry
    after a recorded failure first asks Stripe for a refund it already accepted (a call that timed out may have
    made one) and records that; when Stripe says the charge was already refunded (our key outlived its 24 h
    window, or someone refunded it in the Dashboard), the refund it already has. Every refund is of the whole
    payment, so Stripe itself refuses a second one. A refund Stripe answers as failed or canceled is not a
    refund: a PaymentError (category `stripe_failed/<failure_reason>`)."""
    if attempt:
        found = existing_refund(client, payment_intent=payment_intent, ref=ref)
        if found is not None:
            return found
    try:
        refund = create_refund(client, payment_intent=payment_intent, ref=ref, attempt=attempt)
    except PaymentError as error:
        if error.code != ALREADY_REFUNDED:
            raise
        found = existing_refund(client, payment_intent=payment_intent, ref=ref)
        if found is None:
            raise
        return found
    if not refund.accepted:
        raise PaymentError(f"Stripe did not refund: refund {refund.id} is {refund.status}"
                           + (f" ({refund.failure_reason})" if refund.failure_reason else ""),
                           category=refund.category)
    return refund


@dataclass(frozen=True)
class ThinEvent:
    """A verified v2 "thin" event notification (`object: v2.core.event`): ids only, never a Checkout Session."""

    id: str
    type: str


def verify_event(payload: bytes, signature_header: str | None, settings: StripeSettings) -> stripe.Event | ThinEvent:
    """The event in `payload` if its Stripe-Signature is valid and recent, else a SignatureError (also for a body
    that is validly signed but no Stripe event: not UTF-8, not JSON, not an object with a string id and type). A
    v2 thin event (an event destination's notification; `construct_event` refuses those) is a ThinEvent."""
    if not settings.webhook_secret:
        raise SignatureError("GIFT_STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified")
    try:
        stripe.WebhookSignature.verify_header(payload, signature_header, settings.webhook_secret,
                                              settings.webhook_tolerance_s)
    except stripe.SignatureVerificationError:
        raise SignatureError("bad or stale Stripe-Signature") from None
    except ValueError:  # not UTF-8: nothing Stripe signed
        raise SignatureError("the webhook body is not a Stripe event") from None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise SignatureError("the webhook body is not a Stripe event") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(name), str) and EVENT_FIELD.fullmatch(data[name])
                                             for name in ("id", "type")):
        raise SignatureError("the webhook body is not a Stripe event")
    if data.get("object") == "v2.core.event":
        return ThinEvent(id=data["id"], type=data["type"])
    try:
        return stripe.Webhook.construct_event(
            payload, signature_header, settings.webhook_secret, tolerance=settings.webhook_tolerance_s)
    except stripe.SignatureVerificationError:
        raise SignatureError("bad or stale Stripe-Signature") from None
    except (ValueError, TypeError, AttributeError):
        raise SignatureError("the webhook body is not a Stripe event") from None
