"""POST /v1/stripe/webhook over real HTTP, on both ledgers, with events signed the way Stripe signs them (the fake
Stripe API on 127.0.0.1, the official stripe library creating the sessions): a paid session's draft becomes
exactly one order however often and in whatever order its events arrive; bad and stale signatures are 400
and record nothing; a session paid after its draft expired is one failed/draft_expired order; expired and
failed sessions delete their draft; unknown events are acknowledged. Through `intake serve` itself: nothing
of the buyer (Stripe's customer_details included) in the intake's log, the ledger or any byte Stripe received;
`gift reconcile` deletes expired drafts, one line each."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from builder.jobs.drafts import draft_tag
from builder.jobs.envelope import Envelope
from builder.jobs.intake import create_app
from builder.jobs.ledger import Draft, Ledger, new_draft_id, open_ledger
from builder.jobs.settings import JobSettings
from builder.jobs.signature import HEADER, sign
from builder.jobs.states import DRAFT_EXPIRED
from builder.settings import StripeSettings, load_settings
from tests.fakes.intake_server import running
from tests.fakes.stripe_api import FakeStripe
from tests.support import missing_tool
from tests.support.ledgers import has_envelope, nothing_recorded, refs, stored_bytes
from tests.support.postgres import start_cluster
from tests.support.stripe import (  # noqa: F401 - stripe_intake is the `url` fixture
    BUYER,
    CUSTOMER,
    PRIVATE,
    SECRET,
    checkout,
    deliver,
    expire_draft,
    intake,
    paid_session,
    post_draft,
    session_event,
    stripe_env,
    stripe_intake,
)
from tests.support.stripe import draft_order as order

ROOT = Path(__file__).resolve().parents[1]
def test_five_deliveries_in_any_order_make_one_order(url: str, ledger: Ledger, envelope: Envelope,
                                                     fake_stripe: FakeStripe) -> None:
    # a delayed payment method: completed while still unpaid, then async_payment_succeeded; Stripe may deliver
    # them in any order, and each more than once
    draft_id, session_id = paid_session(url)
    completed = session_event(fake_stripe, session_id, "checkout.session.completed", payment_status="unpaid",
                              payment_intent="pi_test_delayed")
    succeeded = session_event(fake_stripe, session_id, "checkout.session.async_payment_succeeded",
                              payment_intent="pi_test_delayed")
    assert deliver(url, fake_stripe, completed).status_code == 200
    assert refs(ledger) == [] and ledger.get_draft(draft_id) is not None  # not paid yet: nothing made
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda p: deliver(url, fake_stripe, p),
                                [succeeded, completed, succeeded, completed, succeeded]))
    assert [a.status_code for a in answers] == [200] * 5 and {a.json()["received"] for a in answers} == {True}
    [ref] = refs(ledger)
    record = ledger.get(ref)
    assert (record.state, record.payment_intent) == ("queued", "pi_test_delayed")
    assert envelope.open(ledger.read_envelope(ref)) == order()  # the draft's sealed input, nothing else
    assert ledger.get_draft(draft_id) is None and ledger.order_of_draft(draft_id) == ref
    assert checkout(url, draft_id).status_code == 409  # a draft pays at most once

    # a card: completed and paid, delivered five times at once, out of order with a stale replay of the first
    card_draft, card_session = paid_session(url)
    paid = session_event(fake_stripe, card_session, "checkout.session.completed", payment_intent="pi_test_card")
    with ThreadPoolExecutor(5) as pool:
        assert {a.status_code for a in pool.map(lambda _: deliver(url, fake_stripe, paid), range(5))} == {200}
    assert deliver(url, fake_stripe, succeeded).status_code == 200  # the first session's again: nothing new
    card_ref = ledger.order_of_draft(card_draft)
    assert card_ref is not None and sorted(refs(ledger)) == sorted([ref, card_ref])
    assert ledger.get(card_ref).payment_intent == "pi_test_card" and has_envelope(ledger, card_ref)
    assert len(fake_stripe.state.sessions) == 2
    kept = stored_bytes(ledger, with_envelopes=False)
    for value in [*PRIVATE, CUSTOMER["phone"], "12 Larkspur Road"]:
        assert value.encode() not in kept, value


def test_bad_and_stale_signatures_are_400_and_record_nothing(url: str, ledger: Ledger,
                                                             fake_stripe: FakeStripe) -> None:
    draft_id, session_id = paid_session(url)
    paid = session_event(fake_stripe, session_id, "checkout.session.completed")
    stale = fake_stripe.sign(paid, at=int(time.time()) - 301)
    for body, signature in ((paid, stale), (paid, fake_stripe.sign(paid, secret="whsec_someone_else")),
                            (paid.replace(b"pi_test_1", b"pi_test_2"), fake_stripe.sign(paid)),
                            (paid, "t=1,v1=00")):
        answer = deliver(url, fake_stripe, body, signature)
        assert answer.status_code == 400 and answer.json() == {"error": "bad or stale Stripe-Signature"}
    unsigned = httpx.post(f"{url}/v1/stripe/webhook", content=paid, timeout=30)
    assert unsigned.status_code == 400
    assert nothing_recorded(ledger) and ledger.get_draft(draft_id) is not None
    for value in PRIVATE:
        assert value not in unsigned.text


def test_unknown_events_are_acknowledged_and_ignored(url: str, ledger: Ledger, fake_stripe: FakeStripe) -> None:
    draft_id, _ = paid_session(url)
    for payload in (fake_stripe.event("payment_intent.succeeded", {"id": "pi_test_1", "object": "payment_intent"}),
                    fake_stripe.event("checkout.session.completed", {"id": "cs_other", "object": "checkout.session",
                                                                     "payment_status": "paid"})):
        assert deliver(url, fake_stripe, payload).status_code == 200
    assert nothing_recorded(ledger) and ledger.get_draft(draft_id) is not None


def test_a_session_paid_after_its_draft_expired_is_a_failed_order(url: str, ledger: Ledger, envelope: Envelope,
                                                                  fake_stripe: FakeStripe) -> None:
    draft_id, session_id = paid_session(url)
    expire_draft(ledger, draft_id)
    paid = session_event(fake_stripe, session_id, "checkout.session.completed", payment_intent="pi_test_late")
    for _ in range(2):
        assert deliver(url, fake_stripe, paid).status_code == 200
    [ref] = refs(ledger)
    record = ledger.get(ref)
    assert (record.state, record.reason, record.payment_intent) in {
        ("failed", DRAFT_EXPIRED, "pi_test_late"), ("refunded", DRAFT_EXPIRED, "pi_test_late")}  # refund: §4
    assert not has_envelope(ledger, ref) and ledger.get_draft(draft_id) is None
    assert [(e["from"], e["to"], e["reason"]) for e in ledger.audit(ref) if "to" in e][:2] == [
        ("", "received", ""), ("received", "failed", DRAFT_EXPIRED)]


def test_expired_and_failed_sessions_delete_their_draft(url: str, ledger: Ledger, fake_stripe: FakeStripe) -> None:
    for kind in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        draft_id, session_id = paid_session(url)
        assert deliver(url, fake_stripe, session_event(fake_stripe, session_id, kind, "unpaid")).status_code == 200
        assert ledger.get_draft(draft_id) is None and ledger.order_of_draft(draft_id) is None
        assert checkout(url, draft_id).status_code == 404
    assert nothing_recorded(ledger)


def test_webhooks_without_their_secret_are_503(ledger: Ledger, envelope: Envelope, fake_stripe: FakeStripe) -> None:
    payload = fake_stripe.event("checkout.session.completed", {"id": "cs_1", "client_reference_id": new_draft_id()})
    with intake(ledger, envelope, StripeSettings()) as base:
        answer = deliver(base, fake_stripe, payload)
    assert answer.status_code == 503
    assert answer.json()["error"] == "Stripe webhooks are not configured: GIFT_STRIPE_WEBHOOK_SECRET not set"
    assert nothing_recorded(ledger)


def serve_env(fake: FakeStripe, key: bytes, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}, **stripe_env(fake),
            "GIFT_ENVELOPE_KEY": key.decode(), "GIFT_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def served(ledger_location: str, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """`intake serve` in its own process: its URL, and its log (complete once the block is left)."""
    proc = subprocess.Popen([sys.executable, "-m", "builder", "intake", "serve", "--port", "0", "--ledger",
                             ledger_location], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    assert proc.stderr is not None
    reader = None
    try:
        line = proc.stderr.readline()
        assert "intake listening on" in line, line
        reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
        reader.start()
        yield line.split()[-1], log
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if reader is not None:
            reader.join(timeout=10)


def test_intake_serve_takes_a_paid_checkout_and_keeps_nothing_of_the_buyer(
        ledger: Ledger, ledger_location: str, fake_stripe: FakeStripe, tmp_path: Path) -> None:
    key = Fernet.generate_key()
    env = serve_env(fake_stripe, key)
    with served(ledger_location, env) as (url, log):
        draft_id, session_id = paid_session(url)
        paid = session_event(fake_stripe, session_id, "checkout.session.completed")
        for _ in range(3):
            assert deliver(url, fake_stripe, paid).status_code == 200
        late = Draft(id=new_draft_id(), sealed=Envelope(key).seal(order()), created_at=time.time() - 600,
                     expires_at=time.time() - 1)
        ledger.save_draft(late)
    ref = ledger.order_of_draft(draft_id)
    assert ref is not None and refs(ledger) == [ref] and ledger.get(ref).state == "queued"
    said = "".join(log)
    assert f"session {session_id} draft {draft_id}: order {ref} queued" in said, said
    everything = [said.encode(), fake_stripe.state.all_bytes(), stored_bytes(ledger, with_envelopes=False)]
    for value in [*PRIVATE, BUYER["name"], CUSTOMER["phone"], "Larkspur"]:
        for data in everything:
            assert value.encode() not in data, value

    # gift reconcile deletes the expired draft (and its envelope), one line with its id
    swept = subprocess.run([sys.executable, "-m", "builder", "gift", "reconcile", "--ledger", ledger_location,
                            "--out", str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120, check=False)
    assert swept.returncode == 0, swept.stderr
    assert f"{late.id}: expired draft deleted with its envelope" in swept.stdout.splitlines()
    assert ledger.get_draft(late.id) is None
    assert json.dumps(CUSTOMER["email"])[1:-1] not in swept.stdout + swept.stderr


def real_session(fake: FakeStripe, session_id: str, **changes: object) -> dict[str, object]:
    """The fake's session as a real 2025 `checkout.session.completed` carries it (fields as Stripe documents them,
    the buyer's details included), with `changes`."""
    return {**fake.state.sessions[session_id], "adaptive_pricing": {"enabled": True}, "after_expiration": None,
            "allow_promotion_codes": None, "amount_subtotal": 2900, "automatic_tax": {"enabled": False},
            "collected_information": {"shipping_details": None}, "customer": None,
            "customer_creation": "if_required", "customer_details": {**CUSTOMER, "tax_exempt": "none",
                                                                     "tax_ids": []},
            "customer_email": None, "invoice": None, "locale": None, "payment_method_types": ["card"],
            "status": "complete", "payment_status": "paid", "payment_intent": "pi_3QxFake1", "url": None,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, **changes}


def test_signed_bodies_that_are_no_event_are_400_and_foreign_objects_ignored(
        ledger: Ledger, ledger_location: str, fake_stripe: FakeStripe) -> None:
    """Validly signed, but no Stripe event (400: Stripe cannot have sent it), or an event whose object is no
    session our checkout made (200: acknowledged, nothing recorded); never a 500, never a traceback."""
    completed = "checkout.session.completed"
    with served(ledger_location, serve_env(fake_stripe, Fernet.generate_key())) as (url, log):
        draft_id, session_id = paid_session(url)
        not_events = [b"{}", b"[]", b"null", b'"evt_1"', b"3", b"not json", b'{"id": "evt_\xff"}',
                      json.dumps({"id": "evt_1", "object": "event", "data": {}}).encode(),
                      json.dumps({"type": completed, "data": {"object": {"id": session_id}}}).encode(),
                      json.dumps({"id": "evt_1", "type": 5}).encode(),
                      json.dumps({"id": "evt_1\nforged log line", "type": completed}).encode(),
                      b'{"id": "evt_1", "type": "x.y", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
        for body in not_events:
            answer = deliver(url, fake_stripe, body)
            assert (answer.status_code, answer.json()) == (400, {"error": "the webhook body is not a Stripe event"})
        ours = real_session(fake_stripe, session_id)
        thin = json.dumps({"id": "evt_test_65R9Ijk", "object": "v2.core.event", "type": completed,
                           "livemode": False, "created": "2025-01-27T17:46:22.134Z",
                           "related_object": {"id": session_id, "type": "checkout.session",
                                              "url": f"/v1/checkout/sessions/{session_id}"}}).encode()
        foreign = [
            json.dumps({"id": "evt_2", "object": "event", "type": completed}).encode(),  # no data
            json.dumps({"id": "evt_test_65SThin", "object": "v2.core.event", "livemode": False,
                        "type": "v2.core.account[requirements].updated", "created": "2025-03-01T10:00:00.000Z",
                        "related_object": {"id": "acct_1", "type": "v2.core.account"}}).encode(),
            json.dumps({"id": "evt_3", "object": "event", "type": completed, "data": "x"}).encode(),
            fake_stripe.event(completed, None),  # type: ignore[arg-type]
            fake_stripe.event(completed, ["x"]),  # type: ignore[arg-type]
            thin,
            fake_stripe.event(completed, {**ours, "object": "payment_intent", "id": "pi_3QxFake1"}),
            fake_stripe.event(completed, {**ours, "mode": "setup", "payment_status": "no_payment_required",
                                          "payment_intent": None, "setup_intent": "seti_1"}),
            fake_stripe.event(completed, {**ours, "mode": "subscription", "subscription": "sub_1"}),
            fake_stripe.event(completed, {**ours, "client_reference_id": None}),
            fake_stripe.event(completed, {**ours, "client_reference_id": "order-1234"}),
            fake_stripe.event(completed, {**ours, "id": "cs_\nforged log line"}),
            fake_stripe.event(completed, {**ours, "id": 7}),
            fake_stripe.event("charge.refunded", {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}),
        ]
        for body in foreign:
            answer = deliver(url, fake_stripe, body)
            assert (answer.status_code, answer.json()) == (200, {"received": True}), body
        assert nothing_recorded(ledger) and ledger.get_draft(draft_id) is not None

        # the real shape of a paid session, with an expanded PaymentIntent: one order, only the ids kept
        expanded = fake_stripe.event(completed, {**ours, "payment_intent": {"id": "pi_3QxFake1",
                                                                            "object": "payment_intent"}})
        assert deliver(url, fake_stripe, expanded).status_code == 200
    said = "".join(log)
    assert "Traceback" not in said and "ERROR" not in said and "forged" not in said, said
    assert "stripe event evt_test_65SThin (v2.core.account[requirements].updated): a v2 thin event" in said
    assert ("WARNING:     stripe event evt_test_65R9Ijk (checkout.session.completed): a v2 thin event; ignored "
            "(orders need a Snapshot payload destination)") in said
    assert said.count("its object is not a Checkout Session; ignored") == 5, said
    assert said.count("not a one-time payment session; ignored") == 2, said
    [ref] = refs(ledger)
    assert ledger.get(ref).payment_intent == "pi_3QxFake1" and ledger.order_of_draft(draft_id) == ref
    for value in [*PRIVATE, BUYER["name"], CUSTOMER["phone"], "Larkspur"]:
        assert value not in said and value.encode() not in stored_bytes(ledger, with_envelopes=False), value


def test_only_sessions_our_checkout_made_count(url: str, ledger: Ledger, fake_stripe: FakeStripe,
                                              caplog: pytest.LogCaptureFixture) -> None:
    # a Payment Link of the same account opened with ?client_reference_id=<a live draft's id> (the buyer saw it
    # in the checkout form): paid cheaply, or left to expire; neither is an order, nor deletes the draft
    caplog.set_level(logging.INFO, logger="giftboard.jobs.intake")
    live_draft, live_session = paid_session(url)
    link = {**fake_stripe.state.sessions[live_session], "id": "cs_live_b1PaymentLink", "metadata": {},
            "payment_link": "plink_1Cheap", "amount_total": 100, "status": "complete", "payment_status": "paid",
            "payment_intent": "pi_3Cheap", "customer_details": CUSTOMER}
    for kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded",
                 "checkout.session.expired", "checkout.session.async_payment_failed"):
        answer = deliver(url, fake_stripe, fake_stripe.event(kind, link))
        assert (answer.status_code, answer.json()) == (200, {"received": True})
    assert nothing_recorded(ledger) and ledger.get_draft(live_draft) is not None
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 4 and all("not made by this intake's checkout" in line for line in warned), warned
    assert deliver(url, fake_stripe, session_event(fake_stripe, live_session, "checkout.session.completed")
                   ).status_code == 200
    assert ledger.order_of_draft(live_draft) is not None  # its own session, tagged, is
    for record in ledger.records():
        ledger.delete_draft(live_draft)
        assert record.payment_intent == "pi_test_1"


def test_a_paid_session_whose_draft_is_gone_is_refunded_only_if_the_draft_was_ours(
        url: str, ledger: Ledger, fake_stripe: FakeStripe) -> None:
    # ours: the draft was swept before its (delayed) payment succeeded; the session carries the draft's tag
    draft_id, session_id = paid_session(url)
    tag = fake_stripe.state.sessions[session_id]["metadata"]
    assert list(tag) == ["giftboard_draft"] and draft_id not in tag["giftboard_draft"]
    ledger.delete_draft(draft_id)
    late = session_event(fake_stripe, session_id, "checkout.session.async_payment_succeeded",
                         payment_intent="pi_test_swept")
    assert deliver(url, fake_stripe, late).status_code == 200
    [ref] = refs(ledger)
    deadline = time.monotonic() + 20
    while ledger.get(ref).state != "refunded" and time.monotonic() < deadline:
        time.sleep(0.05)
    record = ledger.get(ref)
    assert (record.state, record.reason, record.payment_intent) == ("refunded", DRAFT_EXPIRED, "pi_test_swept")
    assert [r["payment_intent"] for r in fake_stripe.state.refunds.values()] == ["pi_test_swept"]

    # not ours: a well-formed draft id this intake never made (another deployment on the same Stripe account),
    # untagged or tagged under another envelope key: acknowledged, nothing recorded, nothing refunded
    other = Envelope(Fernet.generate_key())
    for metadata in ({}, {"giftboard_draft": draft_tag(other, "drf_" + "ab" * 12)}, {"giftboard_draft": 5}):
        session = {**fake_stripe.state.sessions[session_id], "id": "cs_test_elsewhere", "status": "complete",
                   "client_reference_id": "drf_" + "ab" * 12, "payment_status": "paid",
                   "payment_intent": "pi_test_elsewhere", "metadata": metadata, "customer_details": CUSTOMER}
        answer = deliver(url, fake_stripe, fake_stripe.event("checkout.session.completed", session))
        assert (answer.status_code, answer.json()) == (200, {"received": True})
    assert refs(ledger) == [ref] and len(fake_stripe.state.refunds) == 1
    assert fake_stripe.post_count("/v1/refunds") == 1


def test_an_event_of_the_other_mode_than_the_key_is_ignored_with_a_warning(
        ledger: Ledger, envelope: Envelope, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture) -> None:
    """A live event at an intake with a test key (or a test event with a live key): its session is not one this
    intake made, nor one it could refund. 200 (Stripe would only retry), nothing recorded, one warning."""
    caplog.set_level(logging.INFO, logger="giftboard.jobs.intake")
    for key, wrong, right in (("sk_test_fake_key", True, False), ("sk_live_fake_key", False, True)):
        draft = Draft(id=new_draft_id(), sealed=envelope.seal(order()), created_at=time.time(),
                      expires_at=time.time() + 3600)
        ledger.save_draft(draft)
        settings = StripeSettings(secret_key=key, webhook_secret=fake_stripe.webhook_secret, api_base=fake_stripe.url)
        session = {"id": f"cs_{'live' if wrong else 'test'}_a1Mode", "object": "checkout.session",
                   "mode": "payment", "status": "complete", "payment_status": "paid", "payment_intent": "pi_3Mode",
                   "client_reference_id": draft.id, "customer_details": CUSTOMER, "livemode": wrong,
                   "metadata": {"giftboard_draft": draft_tag(envelope, draft.id)}}
        event = json.loads(fake_stripe.event("checkout.session.completed", session))
        before = refs(ledger)
        with intake(ledger, envelope, settings) as url:
            for kind in ("checkout.session.completed", "checkout.session.expired"):
                body = json.dumps({**event, "type": kind, "livemode": wrong}).encode()
                answer = deliver(url, fake_stripe, body)
                assert (answer.status_code, answer.json()) == (200, {"received": True})
            assert refs(ledger) == before and ledger.get_draft(draft.id) is not None
            mode = "live" if wrong else "test"
            warned = [r for r in caplog.records if r.levelno == logging.WARNING and f"a {mode}-mode event" in r.message]
            assert len(warned) == 2, caplog.text
            # the key's own mode: the order
            answer = deliver(url, fake_stripe, json.dumps({**event, "livemode": right}).encode())
            assert answer.status_code == 200 and ledger.order_of_draft(draft.id) is not None
        ledger.delete_draft(draft.id)
        for record in ledger.records():
            assert record.payment_intent == "pi_3Mode"
        caplog.clear()
    assert len(ledger.records()) == 2
    for value in [*PRIVATE, CUSTOMER["phone"]]:
        assert value not in caplog.text


def test_a_webhook_while_postgresql_is_down_is_503_in_time_then_one_order(
        envelope: Envelope, fake_stripe: FakeStripe, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL stopped: the webhook answers 503 within its deadline (Stripe would time out on the ledger's own
    retries, 45 s), one ERROR line, no traceback; started again: Stripe's next delivery makes the one order."""
    try:
        cluster = start_cluster()
    except FileNotFoundError as error:
        missing_tool(str(error))
    try:
        ledger = open_ledger(cluster.new_database())
        try:
            app = create_app(ledger, envelope, JobSettings(webhook_secret=SECRET),
                             stripe=load_settings(stripe_env(fake_stripe)).stripe, ledger_deadline_s=3.0)
            with running(app) as url:
                draft_id, session_id = paid_session(url)
                paid = session_event(fake_stripe, session_id, "checkout.session.completed")
                cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "-t", "60", "stop")
                started = time.monotonic()
                answer = deliver(url, fake_stripe, paid)
                assert (answer.status_code, answer.json()) == (503, {"error": "ledger unavailable, retry later"})
                assert time.monotonic() - started < 8
                cluster.start()
                deadline = time.monotonic() + 90  # Stripe's next deliveries, until the pool has reconnected
                while (status := deliver(url, fake_stripe, paid).status_code) == 503 and time.monotonic() < deadline:
                    time.sleep(1)
                assert status == 200
                assert deliver(url, fake_stripe, paid).status_code == 200
            [ref] = refs(ledger)
            assert ledger.order_of_draft(draft_id) == ref and ledger.get(ref).state == "queued"
        finally:
            ledger.close()
    finally:
        cluster.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("giftboard")]
    assert errors and {r.getMessage() for r in errors} == {
        f"stripe event {json.loads(paid)['id']}: the ledger did not answer within 3 s; answered 503, Stripe "
        "delivers it again"}
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_a_webhook_on_a_read_only_folder_ledger_is_503_and_one_line(fake_stripe: FakeStripe, tmp_path: Path) -> None:
    """The folder ledger's disk mounted read-only under `intake serve`: 503 (Stripe delivers again), one ERROR
    line saying why and where; the same event at a writable intake then makes its order."""
    location = tmp_path / "ledger"
    key = Fernet.generate_key()
    ledger = open_ledger(str(location))
    draft = Draft(id=new_draft_id(), sealed=Envelope(key).seal(order()), created_at=time.time(),
                  expires_at=time.time() + 3600)
    ledger.save_draft(draft)
    session = {"id": "cs_test_a1ReadOnly", "object": "checkout.session", "mode": "payment", "status": "complete",
               "payment_status": "paid", "payment_intent": "pi_3ReadOnly", "client_reference_id": draft.id,
               "customer_details": CUSTOMER, "livemode": False,
               "metadata": {"giftboard_draft": draft_tag(Envelope(key), draft.id)}}
    paid = fake_stripe.event("checkout.session.completed", session)
    probe = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c",
                            f"mount --bind {location} {location} && mount -o remount,bind,ro {location}"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        missing_tool(f"a read-only bind mount (unshare --mount): {probe.stderr.strip()}")
    script = (f"mount --bind {location} {location} && mount -o remount,bind,ro {location} && exec "
              f"{sys.executable} -m builder intake serve --port 0 --ledger {location}")
    env = serve_env(fake_stripe, key)
    proc = subprocess.Popen(["unshare", "--map-root-user", "--mount", "sh", "-c", script], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "intake listening on" in line, line
        for _ in range(2):
            answer = deliver(line.split()[-1], fake_stripe, paid)
            assert (answer.status_code, answer.json()) == (503, {"error": "ledger unavailable, retry later"})
    finally:
        proc.terminate()
        said = proc.communicate(timeout=20)[1]
    errors = [text for text in said.splitlines() if "ERROR" in text]
    assert len(errors) == 2 and "Traceback" not in said, said
    assert "ledger unavailable (Read-only file system:" in errors[0] and str(location) in errors[0], errors
    assert refs(ledger) == [] and ledger.get_draft(draft.id) is not None
    with served(str(location), env) as (url, _):
        assert deliver(url, fake_stripe, paid).status_code == 200
    [ref] = refs(ledger)
    assert ledger.get(ref).state == "queued" and ledger.get_draft(draft.id) is None


def test_a_stripe_key_or_secret_of_the_wrong_shape_stops_the_intake_with_one_line(
        ledger_location: str, fake_stripe: FakeStripe) -> None:
    """A publishable key, a signing secret pasted without its whsec_ prefix or with a space: every checkout would
    be 502 and every event 400 (Stripe disables an endpoint that fails for days); the intake refuses to start."""
    cases = {"GIFT_STRIPE_SECRET_KEY": ("pk_live_51Hx9Publishable", "publishable key"),
             "GIFT_STRIPE_WEBHOOK_SECRET": ("8f2c1e0b4d7a9c3e5f1b2d4a6c8e0f1a", "signing secret (whsec_")}
    for name, (value, said) in [*cases.items(), ("GIFT_STRIPE_WEBHOOK_SECRET", ("whsec_abc def", "whsec_"))]:
        env = serve_env(fake_stripe, Fernet.generate_key(), **{name: value})
        done = subprocess.run([sys.executable, "-m", "builder", "intake", "serve", "--port", "0", "--ledger",
                               ledger_location], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and len(lines) == 1 and lines[0].count(name) == 1 and said in lines[0], lines
        assert value not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_a_free_session_completed_after_its_draft_expired_is_not_refunded(
        url: str, ledger: Ledger, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture) -> None:
    """no_payment_required (a 100 % discount: no PaymentIntent) after the draft expired: the order fails as
    draft_expired, and no refund is tried (none is possible; the log says so instead of promising one)."""
    caplog.set_level(logging.INFO, logger="giftboard.jobs.intake")
    draft_id, session_id = paid_session(url)
    ledger.delete_draft(draft_id)
    free = session_event(fake_stripe, session_id, "checkout.session.completed", payment_status="no_payment_required",
                         payment_intent=None)
    for _ in range(2):
        assert deliver(url, fake_stripe, free).status_code == 200
    [ref] = refs(ledger)
    time.sleep(0.5)  # what would run after the answer
    record = ledger.get(ref)
    assert (record.state, record.reason, record.payment_intent) == ("failed", DRAFT_EXPIRED, "")
    assert fake_stripe.post_count("/v1/refunds") == 0
    assert f"order {ref} failed (draft_expired); no payment was taken, nothing to refund" in caplog.text
    assert "refund not started" not in caplog.text and "gift reconcile refunds it" not in caplog.text


def test_a_session_whose_key_a_generic_order_holds_is_acknowledged_not_retried_forever(
        url: str, ledger: Ledger, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture) -> None:
    """Another checkout backend posted the same payment to POST /v1/orders keyed `stripe:<session id>`: the
    webhook cannot record a second order, and no retry can change that, so 200 (not a 4xx Stripe would deliver
    again for three days) and one ERROR line; the generic order stands."""
    draft_id, session_id = paid_session(url)
    raw = json.dumps({**json.loads(order()), "idempotency_key": f"stripe:{session_id}"}).encode()
    generic = httpx.post(f"{url}/v1/orders", content=raw, timeout=30,
                         headers={HEADER: sign(SECRET, raw), "Content-Type": "application/json"})
    assert generic.status_code == 202, generic.text
    paid = session_event(fake_stripe, session_id, "checkout.session.completed")
    for _ in range(2):
        answer = deliver(url, fake_stripe, paid)
        assert (answer.status_code, answer.json()) == (200, {"received": True, "recorded": False})
    assert refs(ledger) == [generic.json()["ref"]] and ledger.order_of_draft(draft_id) is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "holds its checkout session's key" in errors[0], errors
