"""Shared job-test set-up: a throwaway envelope (a fixture), and a minimal order with its parser.

`envelope` is a fixture for every test (tests/conftest.py imports it; `ledger` is conftest's own, on every
backend); `order(key)` is the JSON of an order `fake_parse` accepts, carrying a private story the tests look
for in what must not hold it.
"""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from builder.errors import OrderError
from builder.jobs.accept import accept_order
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Ledger

PRIVATE = "Maya Example lives at 12 Secret Lane"


class FakeOrder:
    def __init__(self, key: str) -> None:
        self.idempotency_key = key


def fake_parse(raw: bytes) -> FakeOrder:
    data = json.loads(raw)
    if "idempotency_key" not in data:
        raise OrderError(["idempotency_key: field required"])
    return FakeOrder(data["idempotency_key"])


def order(key: str = "pay_1", story: str = PRIVATE) -> bytes:
    return json.dumps({"idempotency_key": key, "story": story}).encode()


def accept(ledger: Ledger, envelope: Envelope, key: str = "pay_1") -> str:
    """Record `order(key)` and return its ref."""
    return accept_order(order(key), ledger=ledger, envelope=envelope, parse=fake_parse)[0]


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(Fernet.generate_key())
