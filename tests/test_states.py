"""The state machine: every legal transition is allowed, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from builder.errors import JobError
from builder.jobs.states import TRANSITIONS, State, check_transition

LEGAL = {
    ("received", "queued"),
    ("queued", "running"),
    ("running", "published"),
    ("running", "retry_wait"),
    ("retry_wait", "queued"),
    ("running", "held"),
    ("running", "failed"),
    ("published", "taken_down"),
    ("held", "queued"),
    ("failed", "queued"),
    ("received", "failed"),
    ("held", "refunded"),
    ("failed", "refunded"),
}


def test_transition_table_is_exactly_the_design() -> None:
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == LEGAL


@pytest.mark.parametrize("source,target", sorted(LEGAL))
def test_legal_transition_is_allowed(source: str, target: str) -> None:
    assert check_transition(source, target) == State(target)


@pytest.mark.parametrize(
    "source,target",
    [(a.value, b.value) for a, b in itertools.product(State, State) if (a.value, b.value) not in LEGAL],
)
def test_illegal_transition_raises(source: str, target: str) -> None:
    with pytest.raises(JobError, match="illegal transition"):
        check_transition(source, target)


def test_unknown_state_raises() -> None:
    with pytest.raises(JobError, match="unknown state"):
        check_transition("queued", "done")
