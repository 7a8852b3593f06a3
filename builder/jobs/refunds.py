"""Refunds (issue 14): a paid order that cannot be delivered gets its money back through Stripe, once.

`refund_order` is the one way to refund: `gift refund REF` (support), the automatic policy `gift reconcile` runs
(`due_refunds`: failed orders past GIFT_REFUND_FAILED_AFTER_H, orders whose draft had expired, refunds whose
last call failed), and the webhook for a paid order whose draft was gone. It holds the order's lock
(`ledger.owned`) across the Stripe call, so two refunders never race, and a refund never runs twice:

- the refund is created under an idempotency key derived from the order and its recorded failed calls
  (stripe_checkout.refund_idempotency_key): the library's own retries, and a second run after a worker was killed
  between Stripe's answer and our commit, get the same refund back; a retry after a recorded failure has a key of
  its own (Stripe replays a saved error to its key for 24 h) and first looks for a refund Stripe already made;
- past Stripe's 24 h idempotency window a second create is refused as `charge_already_refunded`; the refund
  Stripe already holds for the PaymentIntent is looked up and recorded instead (stripe_checkout.refund_payment);
- once recorded, the order is `refunded` (terminal): asking again answers the recorded refund id, calls nothing.

Stripe may answer a refund as `succeeded`, or as `pending` / `requires_action` to settle later: either way it
accepted the refund and the order is `refunded` with that status (JobRecord.refund_status). A refund Stripe
answers `failed` or `canceled` at once is a failed call (below). `gift reconcile` asks Stripe how the unsettled
ones ended (`settle_refunds`); one Stripe failed or canceled later stays refunded but shows the loss.

A refund call that fails leaves the order where it was (failed or held), counts the failure (refund_attempts),
keeps its category (Stripe's error type/code, never free text) and when to try again (refund_next_at: the same
exponential backoff with full jitter as generation retries, GIFT_RETRY_BASE_S / GIFT_RETRY_CAP_S), with an
audit note `refund_failed`. Ops shows those orders on the needs-attention list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from builder.errors import JobError, PaymentError
from builder.jobs.ledger import JobRecord, Ledger
from builder.jobs.retry import backoff_delay
from builder.jobs.settings import JobSettings
from builder.jobs.states import DRAFT_EXPIRED, REFUND_LOST, REFUND_UNSETTLED, REFUNDABLE, State

if TYPE_CHECKING:
    import stripe  # slow to import: builder.jobs.stripe_checkout brings it in when a refund is sent

SUPPORT = "support_refund"  # reason of a refund support asked for (`gift refund REF`)
POLICY = "refund_policy"  # reason of one the automatic policy made (failed for GIFT_REFUND_FAILED_AFTER_H)
RETRY = "refund_retry"  # reason of one `gift reconcile` made after an earlier call for the order failed


@dataclass(frozen=True)
class RefundOutcome:
    """What one refund call did: `refund_id` once the order is refunded (`made` False when it already was);
    else the failed call's `error` category, its one-line `message`, the `attempts` so far and `next_at`."""

    ref: str
    refund_id: str = ""
    made: bool = False
    error: str = ""
    message: str = ""
    attempts: int = 0
    next_at: float = 0.0
    status: str = ""  # the refund's status at Stripe (succeeded, or pending / requires_action while it settles)

    @property
    def refunded(self) -> bool:
        return bool(self.refund_id)

    @property
    def lost(self) -> bool:
        """Stripe accepted the refund, then failed or canceled it: the buyer has not got the money."""
        return self.status in REFUND_LOST

    @property
    def settling(self) -> str:
        """` — pending at Stripe` while the money is on its way (empty once settled); for the one-line answers."""
        return f" — {self.status} at Stripe, `gift reconcile` follows it" if self.status in REFUND_UNSETTLED else ""


def check_refundable(record: JobRecord) -> None:
    """A JobError saying why `record` cannot be refunded (not failed or held, or not paid through Stripe)."""
    if record.state not in REFUNDABLE:
        raise JobError(f"{record.ref} is {record.state}; only failed or held orders can be refunded")
    if not record.payment_intent:
        raise JobError(f"{record.ref}: no Stripe payment recorded; refund it in the checkout backend that took it")


def refund_order(ledger: Ledger, client: stripe.StripeClient, ref: str, *, reason: str, now: float | None = None,
                 settings: JobSettings | None = None, rng: random.Random | None = None,
                 only_if_due: bool = False) -> RefundOutcome:
    """Refund order `ref` in full (see the module docstring). A JobError when it cannot be refunded at all (not
    failed or held; no Stripe payment recorded); a Stripe failure is recorded and returned, never raised. With
    `only_if_due` (the automatic policy) an order no longer due under the lock (support retried it meanwhile)
    is left alone: the outcome is empty."""
    settings = settings or JobSettings()
    with ledger.owned(ref) as order:
        record = order.record
        if record.state == State.REFUNDED:
            return already_refunded(record)
        at = ledger.clock() if now is None else now
        if only_if_due and not record.refund_due(at, failed_before(at, settings)):
            return RefundOutcome(ref)
        check_refundable(record)
        from builder.jobs.stripe_checkout import refund_payment

        try:
            refund = refund_payment(client, payment_intent=record.payment_intent, ref=ref,
                                    attempt=record.refund_attempts)
        except PaymentError as error:
            attempts = record.refund_attempts + 1
            next_at = at + backoff_delay(attempts, settings.retry_base_s, settings.retry_cap_s, rng)
            order.update(refund_attempts=attempts, refund_error=error.category, refund_next_at=next_at)
            order.note("refund_failed", reason=error.category, refund_attempt=attempts)
            return RefundOutcome(ref, error=error.category, message=str(error), attempts=attempts, next_at=next_at)
        order.transition(State.REFUNDED, reason=reason, detail={"refund_id": refund.id}, refund_id=refund.id,
                         refund_status=refund.status, refund_error="", refund_next_at=0.0)
        order.delete_envelope()  # nothing will be made: the private input goes
        return RefundOutcome(ref, refund_id=refund.id, made=True, attempts=record.refund_attempts,
                             status=refund.status)


def already_refunded(record: JobRecord) -> RefundOutcome:
    """What asking again for a refunded order answers: its refund, and how it ended when Stripe lost it."""
    lost = record.refund_status in REFUND_LOST
    return RefundOutcome(record.ref, refund_id=record.refund_id, status=record.refund_status,
                         error=record.refund_error if lost else "")


def lost_line(outcome: RefundOutcome) -> str:
    return (f"refund {outcome.refund_id} was {outcome.status} by Stripe after it accepted it ({outcome.error}): the "
            "money is back in the Stripe balance, not with the buyer; refund them another way (Stripe Dashboard)")


def failed_before(now: float, settings: JobSettings) -> float | None:
    """Orders failed at or before this time are due a refund by policy (None: GIFT_REFUND_FAILED_AFTER_H=off)."""
    after = settings.refund_failed_after_s
    return None if after is None else now - after


def due_refunds(ledger: Ledger, settings: JobSettings, now: float) -> list[str]:
    """Refs `gift reconcile` refunds now: the policy's, the expired drafts' and the due retries of failed calls."""
    return ledger.refund_candidates(now, failed_before(now, settings))


def run_due_refunds(ledger: Ledger, settings: JobSettings, client: stripe.StripeClient | None, refs: list[str],
                    rng: random.Random | None = None) -> list[str]:
    """`gift reconcile`'s refunds of `refs` (from `due_refunds`), one line each. Without a Stripe client
    (GIFT_STRIPE_SECRET_KEY unset) nothing is sent: each due order is reported as waiting for that key."""
    lines: list[str] = []
    for ref in refs:
        if client is None:
            lines.append(f"{ref}: refund due, not sent: GIFT_STRIPE_SECRET_KEY is not set")
            continue
        try:
            record = ledger.get(ref)
            reason = (DRAFT_EXPIRED if record.reason == DRAFT_EXPIRED
                      else RETRY if record.refund_attempts else POLICY)
            outcome = refund_order(ledger, client, ref, reason=reason, settings=settings, rng=rng,
                                   only_if_due=True)
        except JobError as error:
            lines.append(f"{ref}: refund skipped ({error})")
            continue
        if outcome.made or outcome.error:  # one already refunded (by support, meanwhile) is no action
            lines.append(f"{ref}: {outcome_line(outcome)}")
    return lines


def settle_refunds(ledger: Ledger, client: stripe.StripeClient | None, refs: list[str]) -> list[str]:
    """`gift reconcile` asks Stripe how each refund in `refs` (Ledger.unsettled_refunds: accepted as pending or
    requires_action) ended, one line per change: settled (`succeeded`), or lost (`failed` / `canceled`: Stripe
    put the money back in the account's balance, not the buyer's card). A lost refund's order stays refunded
    (nothing will be made; its envelope is gone) with refund_status and refund_error
    (`stripe_failed/<failure_reason>`) saying so, an audit note `refund_lost`, and a needs-attention line on ops:
    support refunds the buyer another way. Without a Stripe client nothing is asked; a failed look-up is one line
    and is asked again next time."""
    if not refs:
        return []
    if client is None:
        return [f"{len(refs)} refund(s) pending at Stripe not followed: GIFT_STRIPE_SECRET_KEY is not set"]
    from builder.jobs.stripe_checkout import retrieve_refund

    lines: list[str] = []
    for ref in refs:
        try:
            with ledger.owned(ref) as order:
                record = order.record
                if record.state != State.REFUNDED or record.refund_status not in REFUND_UNSETTLED:
                    continue
                refund = retrieve_refund(client, record.refund_id)
                if refund.status == record.refund_status:
                    continue
                if refund.accepted:
                    order.update(refund_status=refund.status)
                    order.note("refund_settled", reason=refund.status, refund_id=refund.id)
                    lines.append(f"{ref}: refund {refund.id} {refund.status}")
                    continue
                order.update(refund_status=refund.status, refund_error=refund.category)
                order.note("refund_lost", reason=refund.category, refund_id=refund.id)
                lines.append(f"{ref}: " + lost_line(already_refunded(order.record)))
        except (JobError, PaymentError) as error:
            lines.append(f"{ref}: refund status not checked ({error})")
    return lines


def outcome_line(outcome: RefundOutcome) -> str:
    """One support-safe line about a refund call (no ref: callers prefix it)."""
    if outcome.lost:
        return lost_line(outcome)
    if outcome.refunded:
        return (f"refunded ({outcome.refund_id}){outcome.settling}" if outcome.made
                else f"already refunded ({outcome.refund_id}); nothing sent to Stripe")
    return (f"refund failed ({outcome.error}, attempt {outcome.attempts}); the order stays as it was and the "
            "refund is retried by `gift reconcile`")
