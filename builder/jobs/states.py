"""The order state machine: the one place that says which transitions are legal."""

from __future__ import annotations

from enum import StrEnum

from builder.errors import JobError


class State(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    PUBLISHED = "published"
    HELD = "held"
    FAILED = "failed"
    TAKEN_DOWN = "taken_down"
    REFUNDED = "refunded"


TRANSITIONS: dict[State, frozenset[State]] = {
    # a paid order whose draft had expired: nothing to make, recorded failed (draft_expired) and refunded
    State.RECEIVED: frozenset({State.QUEUED, State.FAILED}),
    State.QUEUED: frozenset({State.RUNNING}),
    State.RUNNING: frozenset({State.PUBLISHED, State.RETRY_WAIT, State.HELD, State.FAILED}),
    State.RETRY_WAIT: frozenset({State.QUEUED}),
    # support's `gift retry REF`: a reviewed held order or a failed one goes back to the queue; or its payment
    # is refunded (`gift refund REF`, or the automatic policy for failed orders): refunded is terminal
    State.HELD: frozenset({State.QUEUED, State.REFUNDED}),
    State.FAILED: frozenset({State.QUEUED, State.REFUNDED}),
    State.PUBLISHED: frozenset({State.TAKEN_DOWN}),
    State.TAKEN_DOWN: frozenset(),
    State.REFUNDED: frozenset(),
}

# States a support person must act on; they always carry a reason category.
NEEDS_ATTENTION = frozenset({State.HELD, State.FAILED})
CORRUPT = "corrupt"  # shown in place of a state for a record file that cannot be read back
STORAGE_FULL = "storage_full"  # reason of an attempt the output's full disk stopped: waits, spends no attempt
FINAL = frozenset({State.PUBLISHED, State.TAKEN_DOWN, State.REFUNDED})  # nothing more to make: no envelope kept
REFUNDABLE = frozenset({State.FAILED, State.HELD})
# a Stripe Refund's status (JobRecord.refund_status): Stripe accepted it (the order is refunded) and it is either
# settled or still on its way; or Stripe gave up on it later (the money went back to the Stripe balance, not to
# the buyer): the order stays refunded, shown on the needs-attention list for support to refund another way
REFUND_ACCEPTED = ("succeeded", "pending", "requires_action")
REFUND_UNSETTLED = ("pending", "requires_action")  # `gift reconcile` asks Stripe how these ended
REFUND_LOST = ("failed", "canceled")
DRAFT_EXPIRED = "draft_expired"  # reason of a paid order whose draft was gone: failed at once, refunded


def parse_state(value: str) -> State:
    try:
        return State(value)
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise JobError(f"unknown state {value!r} (one of: {names})") from None


def check_transition(current: State | str, target: State | str) -> State:
    """Return `target` as a State, or raise JobError: an illegal transition is a bug, never an overwrite."""
    source, goal = parse_state(str(current)), parse_state(str(target))
    if goal not in TRANSITIONS[source]:
        raise JobError(f"illegal transition {source.value} → {goal.value}")
    return goal
