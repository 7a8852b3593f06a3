"""POST /v1/checkout over the real intake HTTP (uvicorn on 127.0.0.1), on both ledgers, with the official stripe
library against the fake Stripe API on 127.0.0.1: one Checkout Session per draft however often it is asked
for (one created at the fake, under the draft's Idempotency-Key), expiring with its draft; 404 unknown,
410 expired, 409 paid already, 503 Stripe not configured (naming what is missing), 502 Stripe refused (one
line, no secret); nothing private in any byte Stripe received."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from builder.errors import ConfigError
from builder.jobs.checkout import session_expiry
from builder.jobs.drafts import draft_tag
from builder.jobs.envelope import Envelope
from builder.jobs.intake import create_app
from builder.jobs.ledger import Draft, Ledger, new_draft_id, open_ledger
from builder.jobs.settings import JobSettings
from builder.jobs.signature import HEADER, sign
from builder.jobs.stripe_checkout import checkout_idempotency_key
from builder.jobs.stripe_webhook import paid_order
from builder.settings import StripeSettings, load_settings
from tests.fakes.intake_server import running
from tests.fakes.stripe_api import FakeStripe
from tests.support import missing_tool
from tests.support.ledgers import refs
from tests.support.postgres import start_cluster
from tests.support.stripe import (  # noqa: F401 - stripe_intake is the `url` fixture
    CANCEL,
    PRICE,
    PRIVATE,
    SECRET,
    SUCCESS,
    checkout,
    intake,
    post_draft,
    stripe_env,
    stripe_intake,
)
from tests.support.stripe import draft_order as order


def test_settings_take_the_return_urls_and_refuse_bad_ones() -> None:
    stripe = load_settings({"GIFT_STRIPE_SUCCESS_URL": SUCCESS, "GIFT_STRIPE_CANCEL_URL": CANCEL}).stripe
    assert (stripe.success_url, stripe.cancel_url) == (SUCCESS, CANCEL)
    assert stripe.missing_for_checkout() == ["GIFT_STRIPE_SECRET_KEY", "GIFT_STRIPE_PRICE"]
    assert load_settings({}).stripe.missing_for_webhook() == ["GIFT_STRIPE_WEBHOOK_SECRET"]
    for name in ("GIFT_STRIPE_SUCCESS_URL", "GIFT_STRIPE_CANCEL_URL"):
        for bad in ("gifts.test/thanks", "ftp://gifts.test/", "https://gifts.test/a b"):
            with pytest.raises(ConfigError, match=f"^{name} must be an http"):
                load_settings({name: bad})


def test_the_same_draft_gets_the_same_session_created_once(url: str, ledger: Ledger, envelope: Envelope,
                                                           fake_stripe: FakeStripe) -> None:
    draft_id = post_draft(url, order()).json()["draft_id"]
    first = checkout(url, draft_id)
    assert first.status_code == 201, first.text
    session = first.json()
    assert session["url"].startswith("https://checkout.stripe.test/") and session["session_id"].startswith("cs_")
    again = checkout(url, draft_id)
    assert again.status_code == 201 and again.json() == session
    assert list(fake_stripe.state.sessions) == [session["session_id"]]  # one session created at Stripe
    posts = [r for r in fake_stripe.state.requests if r.method == "POST"]
    assert len(posts) == 2 and {r.idempotency_key for r in posts} == {checkout_idempotency_key(draft_id)}
    params = posts[0].params
    assert params["client_reference_id"] == draft_id and params["line_items[0][price]"] == PRICE
    assert (params["success_url"], params["cancel_url"]) == (SUCCESS, CANCEL)
    draft = ledger.get_draft(draft_id)
    assert draft is not None and int(params["expires_at"]) == session_expiry(draft) <= draft.expires_at
    assert fake_stripe.state.sessions[session["session_id"]]["expires_at"] == session_expiry(draft)
    assert "customer_email" not in params  # metadata: only the draft's keyed tag (its drafts were made here)
    assert {k: v for k, v in params.items() if k.startswith("metadata")} == {
        "metadata[giftboard_draft]": draft_tag(envelope, draft_id)}
    everything = fake_stripe.state.all_bytes()
    for value in PRIVATE:
        assert value.encode() not in everything, value


def test_unknown_expired_and_paid_drafts_are_refused(url: str, ledger: Ledger, envelope: Envelope,
                                                    fake_stripe: FakeStripe) -> None:
    unknown = checkout(url, new_draft_id())
    assert unknown.status_code == 404 and "unknown draft" in unknown.json()["error"]
    assert checkout(url, "not-a-draft").status_code == 422
    deep = b'{"draft_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # signed, but nested past any parser's limit
    answer = httpx.post(f"{url}/v1/checkout", content=deep, timeout=30, headers={HEADER: sign(SECRET, deep)})
    assert answer.status_code == 422 and "draft_id" in answer.json()["error"]
    now = time.time()
    for expires_at, said in ((now - 1, "has expired"), (now + 600, "expires in under 30 minutes")):
        draft = Draft(id=new_draft_id(), sealed=envelope.seal(order()), created_at=now - 60, expires_at=expires_at)
        ledger.save_draft(draft)
        refused = checkout(url, draft.id)
        assert refused.status_code == 410 and said in refused.json()["error"], refused.text
    paid_id = post_draft(url, order()).json()["draft_id"]
    assert checkout(url, paid_id).status_code == 201
    ref, _ = ledger.accept_paid(paid_order("cs_test_paid", paid_id, "pi_test_paid", envelope))
    paid = checkout(url, paid_id)
    assert paid.status_code == 409 and paid.json() == {"error": "this draft is paid already: it is an order now",
                                                      "ref": ref}
    assert len(fake_stripe.state.sessions) == 1  # none of the refused ones reached Stripe


def test_stripe_not_configured_or_refusing_is_one_clear_line(ledger: Ledger, envelope: Envelope,
                                                             fake_stripe: FakeStripe) -> None:
    with intake(ledger, envelope, StripeSettings(price=PRICE)) as base:
        draft_id = post_draft(base, order()).json()["draft_id"]
        answer = checkout(base, draft_id)
    assert answer.status_code == 503
    assert answer.json()["error"] == ("Stripe Checkout is not configured: GIFT_STRIPE_SECRET_KEY, "
                                      "GIFT_STRIPE_SUCCESS_URL, GIFT_STRIPE_CANCEL_URL not set")
    wrong_key = load_settings({**stripe_env(fake_stripe), "GIFT_STRIPE_SECRET_KEY": "sk_test_wrong_one"}).stripe
    with intake(ledger, envelope, wrong_key) as base:
        refused = checkout(base, draft_id)
        assert refused.status_code == 502
        assert refused.json()["error"] == ("Stripe refused to create a checkout session: "
                                           "invalid_request_error (api_key_invalid), HTTP 401")
        assert "sk_test_wrong_one" not in refused.text
    assert not fake_stripe.state.sessions


class _PaidMeanwhile:
    """The ledger, with the draft's webhook committing its order just as checkout reads the draft."""

    def __init__(self, ledger: Ledger, envelope: Envelope) -> None:
        self._ledger, self._envelope, self.draft_id = ledger, envelope, ""

    def get_draft(self, draft_id: str) -> Draft | None:
        if draft_id == self.draft_id:
            self._ledger.accept_paid(paid_order("cs_test_meanwhile", draft_id, "pi_test_meanwhile", self._envelope))
        return self._ledger.get_draft(draft_id)

    def __getattr__(self, name: str) -> object:
        return getattr(self._ledger, name)


def test_a_checkout_racing_the_webhook_of_its_draft_is_409(ledger: Ledger, envelope: Envelope,
                                                           fake_stripe: FakeStripe) -> None:
    racing = _PaidMeanwhile(ledger, envelope)
    app = create_app(racing, envelope, JobSettings(webhook_secret=SECRET),  # type: ignore[arg-type]
                     stripe=load_settings(stripe_env(fake_stripe)).stripe)
    with running(app) as base:
        racing.draft_id = post_draft(base, order()).json()["draft_id"]
        answer = checkout(base, racing.draft_id)
    ref = ledger.order_of_draft(racing.draft_id)
    assert ref is not None
    assert (answer.status_code, answer.json()) == (409, {"error": "this draft is paid already: it is an order now",
                                                         "ref": ref})
    assert fake_stripe.state.sessions == {}


def test_a_draft_checked_out_before_the_price_changed_is_409_not_502(ledger: Ledger, envelope: Envelope,
                                                                      fake_stripe: FakeStripe) -> None:
    """The operator changes GIFT_STRIPE_PRICE (or a return URL) and restarts: a draft whose session was made before
    would be Stripe's idempotency_error (the key's first parameters stand for 24 h), a 502 nobody can act on. It
    is 409 saying to make a new draft; no second session (that would let the draft be paid twice)."""
    with intake(ledger, envelope, load_settings(stripe_env(fake_stripe)).stripe) as base:
        draft_id = post_draft(base, order()).json()["draft_id"]
        assert checkout(base, draft_id).status_code == 201
    for change in ({"GIFT_STRIPE_PRICE": "price_fake_gift_2027"}, {"GIFT_STRIPE_SUCCESS_URL": "https://gifts.test/ok"}):
        with intake(ledger, envelope, load_settings({**stripe_env(fake_stripe), **change}).stripe) as base:
            answer = checkout(base, draft_id)
            assert (answer.status_code, answer.json()) == (409, {
                "error": "this draft's Checkout Session was made before GIFT_STRIPE_PRICE or a return URL changed: "
                         "make a new draft"})
            fresh = post_draft(base, order()).json()["draft_id"]
            assert checkout(base, fresh).status_code == 201
    assert len(fake_stripe.state.sessions) == 3


def test_a_checkout_while_postgresql_is_down_is_503_in_time(envelope: Envelope, fake_stripe: FakeStripe,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL stopped: the buyer gets 503 within the ledger deadline, not after the ledger's own 45 s of
    retries; one ERROR line; nothing reached Stripe; back up, the same draft checks out."""
    try:
        cluster = start_cluster()
    except FileNotFoundError as error:
        missing_tool(str(error))
    try:
        ledger = open_ledger(cluster.new_database())
        try:
            app = create_app(ledger, envelope, JobSettings(webhook_secret=SECRET),
                             stripe=load_settings(stripe_env(fake_stripe)).stripe, ledger_deadline_s=3.0)
            with running(app) as base:
                draft_id = post_draft(base, order()).json()["draft_id"]
                cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "-t", "60", "stop")
                started = time.monotonic()
                answer = checkout(base, draft_id)
                assert (answer.status_code, answer.json()) == (503, {"error": "ledger unavailable, retry later"})
                assert time.monotonic() - started < 8 and fake_stripe.state.sessions == {}
                cluster.start()
                deadline = time.monotonic() + 90
                while (again := checkout(base, draft_id)).status_code == 503 and time.monotonic() < deadline:
                    time.sleep(1)
                assert again.status_code == 201, again.text
        finally:
            ledger.close()
    finally:
        cluster.stop()
    errors = {r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("giftboard")}
    assert errors == {"ledger did not answer a checkout within 3 s: answered 503"}, errors


def test_orders_and_drafts_while_postgresql_is_down_are_503_in_time(envelope: Envelope,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL stopped: POST /v1/orders and /v1/drafts answer 503 within the ledger deadline, not after the
    ledger's own 45 s of retries, one ERROR line each; an invalid draft is still 422 (its check needs no ledger);
    back up, the same order (same Idempotency-Key) is recorded once and a draft is stored."""
    try:
        cluster = start_cluster()
    except FileNotFoundError as error:
        missing_tool(str(error))
    raw = order()
    key = json.loads(raw)["idempotency_key"]
    order_headers = {HEADER: sign(SECRET, raw), "Content-Type": "application/json", "Idempotency-Key": key}
    try:
        ledger = open_ledger(cluster.new_database())
        try:
            app = create_app(ledger, envelope, JobSettings(webhook_secret=SECRET), ledger_deadline_s=3.0)
            with running(app) as base:
                cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "-t", "60", "stop")
                for post in (lambda: httpx.post(f"{base}/v1/orders", content=raw, headers=order_headers, timeout=30),
                             lambda: post_draft(base, raw)):
                    started = time.monotonic()
                    answer = post()
                    assert (answer.status_code, answer.json()) == (503, {"error": "ledger unavailable, retry later"})
                    assert time.monotonic() - started < 8
                assert post_draft(base, b'{"story": 1}').status_code == 422
                cluster.start()
                deadline = time.monotonic() + 90
                while (again := httpx.post(f"{base}/v1/orders", content=raw, headers=order_headers,
                                           timeout=30)).status_code == 503 and time.monotonic() < deadline:
                    time.sleep(1)
                assert again.status_code == 202, again.text
                replay = httpx.post(f"{base}/v1/orders", content=raw, headers=order_headers, timeout=30)
                assert replay.json()["ref"] == again.json()["ref"] and len(refs(ledger)) == 1
                assert post_draft(base, raw).status_code == 201
        finally:
            ledger.close()
    finally:
        cluster.stop()
    errors = {r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("giftboard")}
    assert errors == {"ledger did not answer an order within 3 s: answered 503",
                      "ledger did not answer a draft within 3 s: answered 503"}, errors
