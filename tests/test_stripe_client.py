"""The official `stripe` library, wired through the settings object, against the fake Stripe API on 127.0.0.1:
Checkout Sessions and refunds are created once per idempotency key (retries included), Stripe's errors become
one clear line, and webhook signatures are checked with Stripe's own construct_event (bad, stale, tampered)."""

from __future__ import annotations

import time

import pytest

from builder.errors import ConfigError, PaymentError, SignatureError
from builder.jobs.stripe_checkout import (
    checkout_idempotency_key,
    create_checkout_session,
    create_refund,
    refund_idempotency_key,
    stripe_client,
    verify_event,
)
from builder.settings import DEFAULT_STRIPE_API_BASE, StripeSettings, load_settings
from tests.fakes.stripe_api import FakeStripe
from tests.support.stripe import PRICE, stripe_settings

_settings = stripe_settings


def _session(fake: FakeStripe, draft_id: str = "drf_0001", price: str = PRICE):
    client = stripe_client(_settings(fake))
    return create_checkout_session(client, draft_id=draft_id, price=price,
                                   success_url="https://gifts.test/thanks", cancel_url="https://gifts.test/")


def test_settings_read_stripe_once_and_hide_secrets() -> None:
    settings = load_settings({"GIFT_STRIPE_SECRET_KEY": "sk_live_hidden", "GIFT_STRIPE_WEBHOOK_SECRET": "whsec_h",
                              "GIFT_STRIPE_PRICE": "price_1"})
    assert settings.stripe.configured and settings.stripe.api_base == DEFAULT_STRIPE_API_BASE
    assert settings.stripe.webhook_tolerance_s == 300
    assert "sk_live_hidden" not in repr(settings) and "whsec_h" not in repr(settings)
    assert not load_settings({}).stripe.configured
    with pytest.raises(ConfigError, match="GIFT_STRIPE_API_BASE must be an http"):
        load_settings({"GIFT_STRIPE_API_BASE": "ftp://x"})
    with pytest.raises(ConfigError, match="GIFT_STRIPE_WEBHOOK_TOLERANCE_S"):
        load_settings({"GIFT_STRIPE_WEBHOOK_TOLERANCE_S": "0"})
    with pytest.raises(PaymentError, match="GIFT_STRIPE_SECRET_KEY is not set"):
        stripe_client(load_settings({}).stripe)


def test_a_checkout_session_is_created_once_per_draft(fake_stripe: FakeStripe) -> None:
    first = _session(fake_stripe)
    again = _session(fake_stripe)
    assert first == again and first.url.startswith("https://checkout.stripe.test/")
    assert len(fake_stripe.state.sessions) == 1
    posts = [r for r in fake_stripe.state.requests if r.method == "POST"]
    assert {r.idempotency_key for r in posts} == {checkout_idempotency_key("drf_0001")}
    params = posts[0].params
    assert params["client_reference_id"] == "drf_0001" and params["line_items[0][price]"] == PRICE
    assert params["mode"] == "payment" and "metadata" not in posts[0].body.decode()
    assert _session(fake_stripe, draft_id="drf_0002").id != first.id


def test_a_reused_key_with_other_parameters_is_refused_in_one_line(fake_stripe: FakeStripe) -> None:
    _session(fake_stripe)
    with pytest.raises(PaymentError) as refused:
        _session(fake_stripe, price="price_other")
    assert str(refused.value) == ("Stripe refused to create a checkout session: "
                                  "idempotency_error (idempotency_key_in_use), HTTP 400")
    assert len(fake_stripe.state.sessions) == 1


def test_a_5xx_is_retried_by_the_library_under_the_same_key(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_next(500)
    session = _session(fake_stripe)
    posts = [r for r in fake_stripe.state.requests if r.method == "POST"]
    assert len(posts) == 2 and posts[0].idempotency_key == posts[1].idempotency_key
    assert list(fake_stripe.state.sessions) == [session.id]


def test_stripe_errors_are_one_line_with_type_and_code(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_next(400, "invalid_request_error", "resource_missing")
    with pytest.raises(PaymentError, match=r"invalid_request_error \(resource_missing\), HTTP 400$"):
        _session(fake_stripe)
    wrong_key = StripeSettings(secret_key="sk_test_wrong", api_base=fake_stripe.url)
    with pytest.raises(PaymentError, match=r"api_key_invalid\), HTTP 401$") as refused:
        create_refund(stripe_client(wrong_key), payment_intent="pi_1", ref="ord-1")
    assert "sk_test_wrong" not in str(refused.value)
    assert not fake_stripe.state.sessions and not fake_stripe.state.refunds


def test_a_refund_is_created_once_per_order_under_retries(fake_stripe: FakeStripe) -> None:
    client = stripe_client(_settings(fake_stripe))
    fake_stripe.fail_next(503)
    first = create_refund(client, payment_intent="pi_fake_1", ref="ord-7")
    again = create_refund(client, payment_intent="pi_fake_1", ref="ord-7")
    assert first == again and list(fake_stripe.state.refunds) == [first.id]
    assert first.status == "succeeded" and fake_stripe.state.refunds[first.id]["object"] == "refund"
    keys = {r.idempotency_key for r in fake_stripe.state.requests}
    assert keys == {refund_idempotency_key("ord-7")}


def test_webhook_events_are_verified_with_stripes_signature(fake_stripe: FakeStripe) -> None:
    settings = _settings(fake_stripe)
    session = {"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid",
               "client_reference_id": "drf_0001"}
    payload = fake_stripe.event("checkout.session.completed", session)
    event = verify_event(payload, fake_stripe.sign(payload), settings)
    assert event.type == "checkout.session.completed"
    assert event.data.object["client_reference_id"] == "drf_0001"

    stale = fake_stripe.sign(payload, at=int(time.time()) - settings.webhook_tolerance_s - 5)
    tampered = payload.replace(b"paid", b"unpaid")
    for body, header in ((payload, stale), (tampered, fake_stripe.sign(payload)),
                         (payload, fake_stripe.sign(payload, secret="whsec_other")), (payload, None),
                         (b"not json", fake_stripe.sign(b"not json"))):
        with pytest.raises(SignatureError):
            verify_event(body, header, settings)
    with pytest.raises(SignatureError, match="GIFT_STRIPE_WEBHOOK_SECRET is not set"):
        verify_event(payload, fake_stripe.sign(payload), StripeSettings())
    looser = _settings(fake_stripe, GIFT_STRIPE_WEBHOOK_TOLERANCE_S="3600")
    assert verify_event(payload, stale, looser).id == event.id
