"""Shared set-up of the payment tests (issue 14), written once for test_drafts, test_checkout, test_stripe_webhook,
test_stripe_client, test_refunds and test_paid_orders: the buyer's order and its private fields, the fake Stripe
API (the `fake_stripe` fixture) and the settings that point the intake or the CLI at it, the intake over real
HTTP, the calls the buyer's browser and Stripe make to it (a draft, its checkout, signed webhook deliveries), and
the real CLI run in this process with exactly the environment a test gives it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from builder.cli import main
from builder.jobs.envelope import Envelope
from builder.jobs.intake import create_app
from builder.jobs.ledger import Draft, Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.signature import HEADER, sign
from builder.settings import StripeSettings, load_settings
from tests.fakes.intake_server import running
from tests.fakes.stripe_api import SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.gift_orders import order_dict

SECRET = "whsec_drafts_secret"  # the intake's Giftboard-Signature secret (drafts, checkout)
BUYER = {"name": "Jonathan Kowalczyk", "email": "jon.k@mailbox.test"}
RECIPIENT = {"display_name": "Maya", "full_name": "Maya Brzęczyszczykiewicz"}
STORY = "Maya lives at 12 Larkspur Road; her number is +44 20 7946 0958."
# the phone as written and as bare digits: a 4-digit fragment alone would turn up by chance in random ids and hashes
PRIVATE = ["Kowalczyk", "Brzęczyszczykiewicz", "jon.k@mailbox.test", "Larkspur", "7946 0958", "2079460958"]
# what Stripe's events carry of the buyer once they paid (customer_details): never read, stored or echoed
CUSTOMER = {"email": BUYER["email"], "name": BUYER["name"], "phone": "+44 20 7946 0958",
            "address": {"line1": "12 Larkspur Road", "city": "London", "country": "GB"}}
PRICE = "price_fake_gift"
SUCCESS = "https://gifts.test/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://gifts.test/order"


def draft_order(message: str = "Happy birthday, Maya! Love, Jon") -> bytes:
    """The JSON of a valid order by BUYER for RECIPIENT with STORY."""
    return json.dumps(order_dict(buyer=BUYER, recipient=RECIPIENT, story=STORY, public_message=message)).encode()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """The fake Stripe API on 127.0.0.1 (a fixture of every test: tests/conftest.py imports it)."""
    with FakeStripe() as server:
        yield server


def stripe_env(fake: FakeStripe) -> dict[str, str]:
    """Every GIFT_STRIPE_* setting, pointed at `fake`."""
    return {"GIFT_STRIPE_SECRET_KEY": SECRET_KEY, "GIFT_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GIFT_STRIPE_PRICE": PRICE, "GIFT_STRIPE_API_BASE": fake.url, "GIFT_STRIPE_SUCCESS_URL": SUCCESS,
            "GIFT_STRIPE_CANCEL_URL": CANCEL}


def stripe_settings(fake: FakeStripe, **extra: str) -> StripeSettings:
    return load_settings({**stripe_env(fake), **extra}).stripe


def intake(ledger: Ledger, envelope: Envelope, stripe: StripeSettings, ttl_s: float = 86400.0,
           **jobs: Any) -> contextlib.AbstractContextManager[str]:
    """The intake app on 127.0.0.1 (its base URL), signing with SECRET, drafts lasting `ttl_s`."""
    return running(create_app(ledger, envelope, JobSettings(webhook_secret=SECRET, draft_ttl_s=ttl_s, **jobs),
                              stripe=stripe))


@pytest.fixture(name="url")
def stripe_intake(ledger: Ledger, envelope: Envelope, fake_stripe: FakeStripe) -> Iterator[str]:
    """The `url` fixture of a module that imports this: the intake with every Stripe setting, on its ledger."""
    with intake(ledger, envelope, stripe_settings(fake_stripe)) as base:
        yield base


def post_draft(url: str, raw: bytes, signature: str | None = None) -> httpx.Response:
    headers = {HEADER: signature or sign(SECRET, raw), "Content-Type": "application/json"}
    return httpx.post(f"{url}/v1/drafts", content=raw, headers=headers, timeout=20)


def checkout(url: str, draft_id: str) -> httpx.Response:
    raw = json.dumps({"draft_id": draft_id}).encode()
    return httpx.post(f"{url}/v1/checkout", content=raw, timeout=30,
                      headers={HEADER: sign(SECRET, raw), "Content-Type": "application/json"})


def paid_session(url: str) -> tuple[str, str]:
    """A draft and its Checkout Session: (draft id, session id)."""
    draft_id = post_draft(url, draft_order()).json()["draft_id"]
    answer = checkout(url, draft_id)
    assert answer.status_code == 201, answer.text
    return draft_id, answer.json()["session_id"]


def expire_draft(ledger: Ledger, draft_id: str) -> None:
    """The same draft (its envelope, its id), as if its expiry had passed a moment ago."""
    draft = ledger.get_draft(draft_id)
    assert draft is not None
    ledger.delete_draft(draft_id)
    ledger.save_draft(Draft(id=draft_id, sealed=draft.sealed, created_at=draft.created_at - 7200,
                            expires_at=time.time() - 1))


def session_event(fake: FakeStripe, session_id: str, kind: str, payment_status: str = "paid",
                  payment_intent: str | None = "pi_test_1") -> bytes:
    """An Event of `kind` around the session as Stripe sends it once the buyer paid: with their details."""
    session = {**fake.state.sessions[session_id], "status": "complete", "payment_status": payment_status,
               "payment_intent": payment_intent, "customer_details": CUSTOMER,
               "customer_email": CUSTOMER["email"]}
    return fake.event(kind, session)


def deliver(url: str, fake: FakeStripe, payload: bytes, signature: str | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/stripe/webhook", content=payload, timeout=30, headers={
        "Stripe-Signature": signature or fake.sign(payload), "Content-Type": "application/json; charset=utf-8"})


def run_cli(env: Mapping[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m builder …` in this process (the real entry point, fast) with exactly `env` (a None value: unset);
    never a traceback."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in env.items() if v is not None})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    done = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    assert "Traceback" not in done.stderr
    return done
