"""Refunds (issue 14 §4) through the real CLI (`gift refund`, `gift reconcile`, `ops summary`) against the fake
Stripe API on 127.0.0.1 driven by the official `stripe` library, on both ledgers: a refund is made once (under
the library's retries, after a worker was killed between Stripe's answer and the commit, past Stripe's 24 h
idempotency window), a failing refund is recorded, shown and retried, the automatic policy honours its hours and
`off`, and nothing private reaches Stripe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.app.board import board_site
from builder.jobs.accept import accept_order
from builder.jobs.envelope import Envelope
from builder.jobs.figures import figures_from
from builder.jobs.ledger import Ledger, open_ledger
from builder.jobs.refunds import refund_order, settle_refunds
from builder.jobs.states import DRAFT_EXPIRED, State
from builder.jobs.stripe_checkout import refund_idempotency_key, stripe_client
from builder.settings import StripeSettings
from builder.site.build import BuildOptions
from tests.board_fixtures import copy_content
from tests.fakes.stripe_api import SECRET_KEY, FakeStripe
from tests.gift_orders import BASE, order_json
from tests.support.html_checks import validate_html5
from tests.support.ledgers import has_envelope
from tests.support.postgres import Cluster
from tests.support.stripe import (
    CUSTOMER,
    SECRET,
    STORY,
    deliver,
    expire_draft,
    paid_session,
    run_cli,
    session_event,
    stripe_env,
)
from tests.support.stripe import PRIVATE as DRAFT_PRIVATE

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = [BASE["buyer"]["name"], BASE["buyer"]["email"], BASE["recipient"]["full_name"], "Baker Street",
           "7946 0958", "maya.ex@mailbox.org", "4111 1111", "Biscuit"]
HOUR = 3600.0


@pytest.fixture
def envelope_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def envelope(envelope_key: bytes) -> Envelope:
    return Envelope(envelope_key)


@pytest.fixture
def env(fake_stripe: FakeStripe, envelope_key: bytes, ledger_location: str) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    found.update({"GIFT_ENVELOPE_KEY": envelope_key.decode(), "GIFT_LEDGER_URL": ledger_location,
                  "GIFT_STRIPE_SECRET_KEY": SECRET_KEY, "GIFT_STRIPE_API_BASE": fake_stripe.url,
                  "PYTHONPATH": str(ROOT), "CI": "true"})
    return found


def cli(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m builder …` in this process with exactly `env` (+ `extra`): no traceback, nothing private."""
    done = run_cli({**env, **extra}, *args)
    for value in PRIVATE:
        assert value not in done.stdout + done.stderr, value
    return done


def paid_order(location: str, envelope: Envelope, key: str, *, end: str = "failed", age_s: float = 0.0,
               intent: bool = True, reason: str = "attempts_exhausted") -> str:
    """An order paid through Stripe (its PaymentIntent recorded, as the webhook does) that ended in `end`
    (queued, published, held or failed), `age_s` seconds ago."""
    ledger = open_ledger(location, clock=lambda: time.time() - age_s)
    try:
        ref, _ = accept_order(order_json(idempotency_key=key), ledger=ledger, envelope=envelope)
        with ledger.owned(ref) as order:
            if intent:
                order.update(payment_intent=f"pi_fake_{key}")
            if end == "queued":
                return ref
            order.transition(State.RUNNING, attempts=1, lease_owner="test", lease_expires_at=time.time() + 60)
            if end == "published":
                order.transition(State.PUBLISHED, reason="", url=f"gifts/{order.record.token}/",
                                 published_at=time.time(), lease_owner="")
            elif end == "held":
                order.transition(State.HELD, reason="verbatim_story", lease_owner="")
            else:
                order.transition(State.FAILED, reason=reason, lease_owner="")
        return ref
    finally:
        ledger.close()


def refund_posts(fake: FakeStripe) -> list[str]:
    return [r.idempotency_key or "" for r in fake.state.requests if r.method == "POST" and r.path == "/v1/refunds"]


def assert_nothing_private_sent(fake: FakeStripe, *more: str) -> None:
    sent = fake.state.all_bytes()
    assert sent  # something was sent, and it is only ids
    for value in [*PRIVATE, BASE["idempotency_key"], *more]:
        assert value.encode() not in sent, value


def assert_refunded(ledger: Ledger, ref: str, refund_id: str) -> None:
    record = ledger.get(ref)
    assert (record.state, record.refund_id) == (State.REFUNDED, refund_id)
    assert [e.get("refund_id") for e in ledger.audit(ref) if e.get("to") == "refunded"] == [refund_id]
    assert not has_envelope(ledger, ref)


def test_support_refunds_a_failed_order_once_under_a_retried_call(env: dict[str, str], ledger: Ledger,
                                                                  ledger_location: str, envelope: Envelope,
                                                                  fake_stripe: FakeStripe) -> None:
    ref = paid_order(ledger_location, envelope, "pay_once")
    fake_stripe.fail_next(500)  # the library retries under the same key
    done = cli(env, "gift", "refund", ref)
    assert done.returncode == 0, done.stderr
    [refund_id] = fake_stripe.state.refunds
    assert done.stdout == f"{ref}: refunded ({refund_id})\n"
    assert refund_posts(fake_stripe) == [refund_idempotency_key(ref)] * 2
    assert fake_stripe.state.refunds[refund_id]["payment_intent"] == "pi_fake_pay_once"
    assert_refunded(ledger, ref, refund_id)

    again = cli(env, "gift", "refund", ref)
    assert again.returncode == 0 and again.stdout == f"{ref}: already refunded ({refund_id})\n"
    assert len(refund_posts(fake_stripe)) == 2  # nothing more was sent
    status = cli(env, "gift", "status", ref)
    assert f"{ref}: refunded" in status.stdout and f"refund: {refund_id}\n" in status.stdout
    assert f"failed → refunded (support_refund) refund {refund_id}\n" in status.stdout
    assert_nothing_private_sent(fake_stripe)


def test_held_is_refunded_by_support_and_other_orders_are_refused_in_one_line(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope,
        fake_stripe: FakeStripe) -> None:
    held = paid_order(ledger_location, envelope, "pay_held", end="held")
    queued = paid_order(ledger_location, envelope, "pay_queued", end="queued")
    published = paid_order(ledger_location, envelope, "pay_published", end="published")
    unpaid = paid_order(ledger_location, envelope, "pay_generic", intent=False)

    for ref, state in ((queued, "queued"), (published, "published")):
        refused = cli(env, "gift", "refund", ref)
        assert refused.returncode == 1
        assert refused.stderr == f"error: {ref} is {state}; only failed or held orders can be refunded\n"
    refused = cli(env, "gift", "refund", unpaid)
    assert refused.returncode == 1 and refused.stderr == (
        f"error: {unpaid}: no Stripe payment recorded; refund it in the checkout backend that took it\n")
    no_key = cli(env, "gift", "refund", held, GIFT_STRIPE_SECRET_KEY="")
    assert no_key.returncode == 1 and no_key.stderr.count("\n") == 1
    assert "GIFT_STRIPE_SECRET_KEY is not set" in no_key.stderr
    assert not fake_stripe.state.requests  # nothing refused was sent to Stripe

    done = cli(env, "gift", "refund", held)
    assert done.returncode == 0, done.stderr
    [refund_id] = fake_stripe.state.refunds
    assert_refunded(ledger, held, refund_id)
    assert [ledger.get(ref).state for ref in (queued, published, unpaid)] == ["queued", "published", "failed"]
    assert_nothing_private_sent(fake_stripe)


def test_a_ref_as_support_types_it_is_refunded_and_a_wrong_one_is_one_line(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope,
        fake_stripe: FakeStripe) -> None:
    ref = paid_order(ledger_location, envelope, "pay_typed")
    unknown = cli(env, "gift", "refund", "ord_00000000deadbeef")
    assert unknown.returncode == 1 and unknown.stderr == "error: unknown order ref ord_00000000deadbeef\n"
    garbage = cli(env, "gift", "refund", "../orders/x")
    assert garbage.returncode == 1 and garbage.stderr.count("\n") == 1
    assert garbage.stderr.startswith("error: not an order ref: '../orders/x' (a ref is ord_ and 16 letters")
    assert not fake_stripe.state.requests

    spoken = " " + ref.upper()[:8] + " " + ref.upper()[8:14] + "\t" + ref.upper()[14:] + " "  # read over the phone
    done = cli(env, "gift", "refund", spoken)
    [refund_id] = fake_stripe.state.refunds
    assert done.returncode == 0 and done.stdout == f"{ref}: refunded ({refund_id})\n"
    assert_refunded(ledger, ref, refund_id)
    status = cli(env, "gift", "status", ref.upper())
    assert status.returncode == 0 and f"refund: {refund_id}\n" in status.stdout


def test_a_failing_refund_is_recorded_shown_on_ops_and_retried(env: dict[str, str], ledger: Ledger,
                                                               ledger_location: str, envelope: Envelope,
                                                               fake_stripe: FakeStripe, tmp_path: Path) -> None:
    ref = paid_order(ledger_location, envelope, "pay_flaky")
    for _ in range(3):  # the first call and both of the library's retries
        fake_stripe.fail_next(500, "api_error")
    failed = cli(env, "gift", "refund", ref, GIFT_RETRY_BASE_S="0")  # its retry is due at once
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert failed.stderr.startswith(f"error: {ref}: Stripe refused to refund: api_error, HTTP 500")
    record = ledger.get(ref)
    assert (record.state, record.refund_attempts, record.refund_error) == ("failed", 1, "api_error")
    assert 0 < record.refund_next_at <= time.time()  # due at once: GIFT_RETRY_BASE_S=0
    assert [e["reason"] for e in ledger.audit(ref) if e.get("event") == "refund_failed"] == ["api_error"]
    status = json.loads(cli(env, "gift", "status", ref, "--json").stdout)
    assert status["refund_failing"]["error"] == "api_error" and status["refund_failing"]["attempts"] == 1

    summary = json.loads(cli(env, "ops", "summary", "--json").stdout)
    assert summary["refunds_failing"] == 1 and summary["refunds_last_24h"] == 0
    assert [(a["ref"], a["reason"], a["attempts"]) for a in summary["attention"]] == [
        (ref, "refund_failed:api_error", 1)]
    text = cli(env, "ops", "summary").stdout.splitlines()
    assert "refunds: refunded 0, 0 in the last 24 h, 1 pending (due by policy), 1 failing" in text
    assert any(line.split()[:3] == [ref, "failed", "refund_failed:api_error"] and "attempts 1" in line
               for line in text), text

    out = tmp_path / "board-site"
    board_site(BuildOptions(content=copy_content(tmp_path / "board"), out=out, cache_dir=tmp_path / "cache",
                            ledger=ledger_location, refund_failed_after_s=None)).build()
    page = (out / "ops" / "index.html").read_text()
    assert 'id="ops-refunds"' in page and "refund_failed:api_error" in page and ref in page
    assert not [value for value in PRIVATE if value in page]
    for label, value in (("Refunded", 0), ("Refunded in the last 24 h", 0), ("Pending (due by policy)", 1),
                         ("Failing", 1)):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page, label
    if not ledger_location.startswith("postgresql"):
        assert validate_html5([out / "ops" / "index.html"]) == []

    # the retry was due after its backoff (0 s here): reconcile makes it
    retried = cli(env, "gift", "reconcile", "--out", str(tmp_path / "site"))
    [refund_id] = fake_stripe.state.refunds
    assert f"{ref}: refunded ({refund_id})" in retried.stdout.splitlines()
    assert_refunded(ledger, ref, refund_id)
    assert ledger.get(ref).refund_error == "" and ledger.get(ref).refund_attempts == 1
    assert ledger.audit(ref)[-1]["reason"] == "refund_retry"
    summary = json.loads(cli(env, "ops", "summary", "--json").stdout)
    assert (summary["by_state"]["refunded"], summary["refunds_last_24h"], summary["refunds_failing"],
            summary["refunds_pending"], summary["attention"]) == (1, 1, 0, 0, [])
    # the library's three tries under the first call's key; the retry after that recorded failure under its own
    assert refund_posts(fake_stripe) == [refund_idempotency_key(ref)] * 3 + [refund_idempotency_key(ref, 1)]
    assert_nothing_private_sent(fake_stripe, *DRAFT_PRIVATE, STORY, CUSTOMER["phone"], CUSTOMER["email"],
                                CUSTOMER["address"]["line1"])


def test_stripe_rate_limits_card_errors_and_a_stripe_that_never_answers_are_one_line_each(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope,
        fake_stripe: FakeStripe) -> None:
    ref = paid_order(ledger_location, envelope, "pay_refused")
    fake_stripe.fail_next(429, "invalid_request_error", "rate_limit")  # the library does not retry a 429
    limited = cli(env, "gift", "refund", ref)
    assert limited.returncode == 1 and limited.stderr.count("\n") == 1
    assert limited.stderr.startswith(f"error: {ref}: Stripe refused to refund: invalid_request_error (rate_limit), "
                                     "HTTP 429; recorded (attempt 1)")
    fake_stripe.fail_next(402, "card_error", "expired_card", saved=True)  # Stripe replays it to that key for 24 h
    declined = cli(env, "gift", "refund", ref)
    assert declined.returncode == 1 and "card_error (expired_card), HTTP 402; recorded (attempt 2)" in declined.stderr

    # a Stripe that never answers: GIFT_STRIPE_TIMEOUT_S per try (not the library's 80 s), three tries, one key
    fake_stripe.stall_next(30.0, times=3)
    started = time.monotonic()
    silent = cli(env, "gift", "refund", ref, GIFT_STRIPE_TIMEOUT_S="0.5")
    assert time.monotonic() - started < 15
    assert silent.returncode == 1 and silent.stderr.count("\n") == 1, silent.stderr
    assert silent.stderr.startswith(f"error: {ref}: Stripe did not answer the request to refund (timed out or the "
                                    "connection failed, 3 tries); recorded (attempt 3)")
    record = ledger.get(ref)
    assert (record.state, record.refund_attempts, record.refund_error) == ("failed", 3, "api_connection_error")
    assert refund_posts(fake_stripe) == [refund_idempotency_key(ref, n) for n in (0, 1, 2, 2, 2)]
    assert not fake_stripe.state.refunds
    status = cli(env, "gift", "status", ref).stdout
    assert "refund failing: api_connection_error after 3 call(s)" in status

    done = cli(env, "gift", "refund", ref)
    [refund_id] = fake_stripe.state.refunds
    assert done.returncode == 0 and done.stdout == f"{ref}: refunded ({refund_id})\n"
    assert refund_posts(fake_stripe)[-1] == refund_idempotency_key(ref, 3)  # not the 402's key: a new call
    # each retry after a recorded failure first asked Stripe whether a refund had been made after all
    lookups = [r.path for r in fake_stripe.state.requests if r.method == "GET"]
    assert lookups == ["/v1/refunds?payment_intent=pi_fake_pay_refused&limit=100"] * 3
    assert_nothing_private_sent(fake_stripe)


def test_a_pending_refund_is_refunded_and_followed_until_stripe_settles_or_loses_it(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope, fake_stripe: FakeStripe,
        tmp_path: Path) -> None:
    """Stripe accepts a refund as pending (or requires_action): the order is refunded, says so, and `gift
    reconcile` asks Stripe how it ended; one Stripe fails later stays refunded and is shown as lost money."""
    settles, loses = (paid_order(ledger_location, envelope, key) for key in ("pay_pending_ok", "pay_pending_lost"))
    site = str(tmp_path / "site")
    for ref, status in ((settles, "pending"), (loses, "requires_action")):
        fake_stripe.next_refund(status)
        done = cli(env, "gift", "refund", ref)
        refund_id = ledger.get(ref).refund_id
        assert done.returncode == 0 and done.stdout == (
            f"{ref}: refunded ({refund_id}) — {status} at Stripe, `gift reconcile` follows it\n")
        assert_refunded(ledger, ref, refund_id)
        assert f"refund: {refund_id} ({status} at Stripe)\n" in cli(env, "gift", "status", ref).stdout
    settled_id, lost_id = ledger.get(settles).refund_id, ledger.get(loses).refund_id

    quiet = cli(env, "gift", "reconcile", "--out", site)
    assert quiet.returncode == 0 and "refund" not in quiet.stdout  # nothing changed at Stripe yet
    fake_stripe.settle_refund(settled_id, "succeeded")
    fake_stripe.settle_refund(lost_id, "failed", "expired_or_canceled_card")
    followed = cli(env, "gift", "reconcile", "--out", site)
    assert followed.returncode == 0, followed.stderr
    lines = followed.stdout.splitlines()
    assert f"{settles}: refund {settled_id} succeeded" in lines
    assert (f"{loses}: refund {lost_id} was failed by Stripe after it accepted it (stripe_failed/"
            "expired_or_canceled_card): the money is back in the Stripe balance, not with the buyer; refund them "
            "another way (Stripe Dashboard)") in lines
    assert [ledger.get(ref).state for ref in (settles, loses)] == ["refunded", "refunded"]
    assert f"refund: {settled_id}\n" in cli(env, "gift", "status", settles).stdout
    assert (f"refund: {lost_id} (failed at Stripe: stripe_failed/expired_or_canceled_card, the money is back in "
            "the Stripe balance)\n") in cli(env, "gift", "status", loses).stdout
    again = cli(env, "gift", "refund", loses)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "the money is back in the Stripe" in again.stderr

    summary = json.loads(cli(env, "ops", "summary", "--json").stdout)
    assert (summary["by_state"]["refunded"], summary["refunds_failing"]) == (2, 1)
    assert [(a["ref"], a["state"], a["reason"]) for a in summary["attention"]] == [
        (loses, "refunded", "refund_failed:stripe_failed/expired_or_canceled_card")]
    out = tmp_path / "board-site"
    board_site(BuildOptions(content=copy_content(tmp_path / "board"), out=out, cache_dir=tmp_path / "cache",
                            ledger=ledger_location, refund_failed_after_s=None)).build()
    page = (out / "ops" / "index.html").read_text()
    assert loses in page and "refund_failed:stripe_failed/expired_or_canceled_card" in page and settles not in page
    assert "a refund Stripe accepted and then lost: the money is back in the Stripe balance" in page
    assert not [value for value in PRIVATE if value in page]  # the page names orders by ref, never by buyer
    assert "<dt>Failing</dt><dd>1</dd>" in page
    if not ledger_location.startswith("postgresql"):
        assert validate_html5([out / "ops" / "index.html"]) == []
    assert "refund" not in cli(env, "gift", "reconcile", "--out", site).stdout  # settled both ways: not asked again
    gets = [r.path for r in fake_stripe.state.requests if r.method == "GET"]
    assert sorted(gets) == sorted([f"/v1/refunds/{settled_id}", f"/v1/refunds/{lost_id}"] * 2)
    assert len(fake_stripe.state.refunds) == 2
    assert_nothing_private_sent(fake_stripe)


def test_a_refund_stripe_answers_failed_is_not_recorded_as_refunded(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope, fake_stripe: FakeStripe,
        tmp_path: Path) -> None:
    ref = paid_order(ledger_location, envelope, "pay_refund_failed")
    fake_stripe.next_refund("failed", "lost_or_stolen_card")
    failed = cli(env, "gift", "refund", ref, GIFT_RETRY_BASE_S="0")
    [failed_id] = fake_stripe.state.refunds
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert failed.stderr.startswith(f"error: {ref}: Stripe did not refund: refund {failed_id} is failed "
                                    "(lost_or_stolen_card); recorded (attempt 1)")
    record = ledger.get(ref)
    assert (record.state, record.refund_id, record.refund_error) == ("failed", "", "stripe_failed/lost_or_stolen_card")
    summary = json.loads(cli(env, "ops", "summary", "--json").stdout)
    assert [a["reason"] for a in summary["attention"]] == ["refund_failed:stripe_failed/lost_or_stolen_card"]

    # Stripe would answer the failed refund again to its key for 24 h: the retry is a new call, a new refund
    done = cli(env, "gift", "reconcile", "--out", str(tmp_path / "site"))
    [refund_id] = [rid for rid in fake_stripe.state.refunds if rid != failed_id]
    assert f"{ref}: refunded ({refund_id})" in done.stdout.splitlines()
    assert refund_posts(fake_stripe) == [refund_idempotency_key(ref), refund_idempotency_key(ref, 1)]
    assert_refunded(ledger, ref, refund_id)
    assert_nothing_private_sent(fake_stripe)


def test_the_automatic_policy_honours_its_hours_and_off(env: dict[str, str], ledger: Ledger, ledger_location: str,
                                                        envelope: Envelope, fake_stripe: FakeStripe,
                                                        tmp_path: Path) -> None:
    old = paid_order(ledger_location, envelope, "pay_old", age_s=2 * HOUR)
    recent = paid_order(ledger_location, envelope, "pay_recent", age_s=0.25 * HOUR)
    # stands in for the webhook's received → failed of a paid order whose draft had expired
    expired = paid_order(ledger_location, envelope, "pay_expired", reason=DRAFT_EXPIRED)
    generic = paid_order(ledger_location, envelope, "pay_generic", age_s=2 * HOUR, intent=False)
    held = paid_order(ledger_location, envelope, "pay_held", end="held", age_s=2 * HOUR)
    retried = paid_order(ledger_location, envelope, "pay_retried", age_s=2 * HOUR)
    assert cli(env, "gift", "retry", retried).returncode == 0  # support retried it: it is not failed any more
    site = str(tmp_path / "site")

    bad = cli(env, "gift", "reconcile", "--out", site, GIFT_REFUND_FAILED_AFTER_H="soon")
    assert bad.returncode == 1 and bad.stderr == (
        "error: GIFT_REFUND_FAILED_AFTER_H must be a number of hours (0 or more) or off, got 'soon'\n")

    no_key = cli(env, "gift", "reconcile", "--out", site, GIFT_STRIPE_SECRET_KEY="")
    assert no_key.returncode == 0
    assert f"{expired}: refund due, not sent: GIFT_STRIPE_SECRET_KEY is not set" in no_key.stdout.splitlines()
    assert not fake_stripe.state.requests

    off = cli(env, "gift", "reconcile", "--out", site, GIFT_REFUND_FAILED_AFTER_H="off")
    assert off.returncode == 0, off.stderr
    [expired_refund] = fake_stripe.state.refunds  # a draft that expired is refunded whatever the policy says
    assert f"{expired}: refunded ({expired_refund})" in off.stdout.splitlines()
    summary = json.loads(cli(env, "ops", "summary", "--json", GIFT_REFUND_FAILED_AFTER_H="3").stdout)
    assert summary["refunds_pending"] == 0
    summary = json.loads(cli(env, "ops", "summary", "--json", GIFT_REFUND_FAILED_AFTER_H="1").stdout)
    assert summary["refunds_pending"] == 1

    three = cli(env, "gift", "reconcile", "--out", site, GIFT_REFUND_FAILED_AFTER_H="3")
    assert three.returncode == 0 and len(fake_stripe.state.refunds) == 1 and "refunded" not in three.stdout
    one = cli(env, "gift", "reconcile", "--out", site, GIFT_REFUND_FAILED_AFTER_H="1")
    assert one.returncode == 0, one.stderr
    refunded = [line for line in one.stdout.splitlines() if "refunded (" in line]
    assert len(refunded) == 1 and refunded[0].startswith(f"{old}: refunded (re_")
    assert ledger.get(expired).reason == DRAFT_EXPIRED and ledger.get(old).reason == "refund_policy"
    states = {ref: ledger.get(ref).state for ref in (old, recent, expired, generic, held, retried)}
    assert states == {old: "refunded", recent: "failed", expired: "refunded", generic: "failed", held: "held",
                      retried: "queued"}
    assert len(fake_stripe.state.refunds) == 2 and len(set(refund_posts(fake_stripe))) == 2
    assert_nothing_private_sent(fake_stripe)


def _wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_killed_between_stripes_answer_and_the_commit_refunds_once(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope,
        fake_stripe: FakeStripe, tmp_path: Path) -> None:
    first = paid_order(ledger_location, envelope, "pay_killed")
    second = paid_order(ledger_location, envelope, "pay_killed_late")

    def killed_mid_refund(*args: str, **extra: str) -> None:
        """Start `python -m builder …`; SIGKILL it once Stripe made the refund but before it heard of it."""
        made = len(fake_stripe.state.refunds)
        fake_stripe.delay_next(60.0)
        process = subprocess.Popen([sys.executable, "-m", "builder", *args], cwd=ROOT, env={**env, **extra},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _wait_for(lambda: len(fake_stripe.state.refunds) > made)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL

    # support's `gift refund` killed: run again within Stripe's idempotency window → the same refund
    killed_mid_refund("gift", "refund", first)
    assert ledger.get(first).state == "failed"  # nothing was committed
    done = cli(env, "gift", "refund", first)
    [refund_id] = fake_stripe.state.refunds
    assert done.returncode == 0 and done.stdout == f"{first}: refunded ({refund_id})\n"
    assert_refunded(ledger, first, refund_id)

    # reconcile killed, and the key forgotten (past 24 h): Stripe refuses a second refund, the first is recorded
    policy = {"GIFT_REFUND_FAILED_AFTER_H": "0"}
    killed_mid_refund("gift", "reconcile", "--out", str(tmp_path / "site"), **policy)
    assert ledger.get(second).state == "failed"
    fake_stripe.forget_keys()
    again = cli(env, "gift", "reconcile", "--out", str(tmp_path / "site"), **policy)
    assert again.returncode == 0, again.stderr
    assert len(fake_stripe.state.refunds) == 2
    [late_id] = [rid for rid in fake_stripe.state.refunds if rid != refund_id]
    assert f"{second}: refunded ({late_id})" in again.stdout.splitlines()
    assert_refunded(ledger, second, late_id)
    gets = [r for r in fake_stripe.state.requests if r.method == "GET" and r.path.startswith("/v1/refunds?")]
    assert len(gets) == 1 and "payment_intent=pi_fake_pay_killed_late" in gets[0].path
    assert_nothing_private_sent(fake_stripe)


def test_two_support_refunds_and_reconcile_at_once_make_one_stripe_refund(
        env: dict[str, str], ledger: Ledger, ledger_location: str, envelope: Envelope, fake_stripe: FakeStripe,
        tmp_path: Path) -> None:
    """Two `gift refund` processes on the same order and `gift reconcile` (the policy due at once) while Stripe
    is slow: the order's lock makes one refund; the others wait and answer it, reconcile reports no action."""
    ref = paid_order(ledger_location, envelope, "pay_racing")
    fake_stripe.delay_next(3.0)
    command = [sys.executable, "-m", "builder", "gift"]
    pipes = {"cwd": ROOT, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    refunds = [subprocess.Popen([*command, "refund", ref], env=env, **pipes) for _ in range(2)]  # type: ignore[call-overload]
    _wait_for(lambda: len(fake_stripe.state.refunds) == 1)
    reconcile = subprocess.Popen([*command, "reconcile", "--out", str(tmp_path / "site")],  # type: ignore[call-overload]
                                 env={**env, "GIFT_REFUND_FAILED_AFTER_H": "0"}, **pipes)
    answers = [process.communicate(timeout=120) for process in [*refunds, reconcile]]
    [refund_id] = fake_stripe.state.refunds
    outs = sorted(out for out, _ in answers[:2])
    assert outs == [f"{ref}: already refunded ({refund_id})\n", f"{ref}: refunded ({refund_id})\n"], answers
    assert all(err == "" for _, err in answers[:2]) and reconcile.returncode == 0, answers
    assert not [line for line in answers[2][0].splitlines() if "refund" in line], answers[2][0]  # none of it
    assert len(refund_posts(fake_stripe)) == 1
    assert_refunded(ledger, ref, refund_id)


@pytest.mark.parametrize("ledger_location", ["postgres"], indirect=True)
def test_a_refund_while_postgresql_restarts_is_one_line_then_recorded_once(
        env: dict[str, str], ledger_location: str, postgres_cluster: Cluster, envelope: Envelope,
        fake_stripe: FakeStripe) -> None:
    """PostgreSQL restarts between Stripe's answer and our commit: one line, exit 1, nothing recorded; the next
    `gift refund` gets the same refund back under the order's key and records it."""
    url = ledger_location
    ref = paid_order(url, envelope, "pay_pg_restart")
    fake_stripe.delay_next(2.0)
    process = subprocess.Popen([sys.executable, "-m", "builder", "gift", "refund", ref], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(fake_stripe.state.refunds) == 1)
    postgres_cluster.restart_immediate()  # the transaction holding the order's row is cut
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and SECRET_KEY not in err and "password" not in err
    ledger = open_ledger(url)
    try:
        assert ledger.get(ref).state == "failed"
        done = cli(env, "gift", "refund", ref)
        [refund_id] = fake_stripe.state.refunds
        assert done.returncode == 0 and done.stdout == f"{ref}: refunded ({refund_id})\n", done.stderr
        assert_refunded(ledger, ref, refund_id)
    finally:
        ledger.close()
    assert refund_posts(fake_stripe) == [refund_idempotency_key(ref)] * 2
    assert_nothing_private_sent(fake_stripe)


def test_the_database_refund_figures_are_the_folder_figures_of_the_same_orders(
        postgres_cluster: Cluster, envelope_key: bytes, fake_stripe: FakeStripe) -> None:
    """`ops summary` on PostgreSQL counts refunds with queries; the folder's pure computation over the same
    records and audit must agree field by field (refunded in the last 24 h, failing, their attention lines)."""
    url = postgres_cluster.new_database()
    envelope = Envelope(envelope_key)
    client = stripe_client(StripeSettings(secret_key=SECRET_KEY, api_base=fake_stripe.url))
    refs = [paid_order(url, envelope, f"pay_fig_{n}", end="held" if n % 3 == 0 else "failed") for n in range(6)]
    ledger = open_ledger(url)
    try:
        for ref in refs[:2]:
            assert refund_order(ledger, client, ref, reason="support_refund").made
        fake_stripe.fail_next(400, "invalid_request_error", "charge_disputed")  # a 400 is not retried
        failing = refund_order(ledger, client, refs[2], reason="support_refund")
        assert failing.error == "invalid_request_error/charge_disputed"
        fake_stripe.next_refund("pending")  # accepted, then lost: refunded and needing attention
        lost = refund_order(ledger, client, refs[3], reason="support_refund")
        assert ledger.unsettled_refunds() == [refs[3]]
        fake_stripe.settle_refund(lost.refund_id, "canceled")
        assert len(settle_refunds(ledger, client, ledger.unsettled_refunds())) == 1
        assert ledger.unsettled_refunds() == []
        now = ledger.clock()
        records = ledger.records()
        expected = figures_from(records, {r.ref: ledger.audit(r.ref) for r in records}, now)
        assert ledger.figures(now) == expected
        assert (expected.refunds_last_24h, expected.refunds_failing, expected.by_state["refunded"]) == (3, 2, 3)
        assert [a.reason for a in expected.attention if a.ref == refs[2]] == [
            "refund_failed:invalid_request_error/charge_disputed"]
        assert [a.reason for a in expected.attention if a.ref == refs[3]] == ["refund_failed:stripe_canceled"]
    finally:
        ledger.close()


@pytest.mark.parametrize("stripe_down", [False, True], ids=["refunded-at-once", "refunded-by-reconcile"])
def test_a_session_paid_after_its_draft_expired_is_refunded_once(
        stripe_down: bool, env: dict[str, str], ledger: Ledger, envelope: Envelope, fake_stripe: FakeStripe,
        tmp_path: Path) -> None:
    """Through the intake's real HTTP: the webhook records the failed/draft_expired order and refunds it after
    its answer; when Stripe is down then, the failure is recorded and `gift reconcile` makes the refund."""
    from builder.jobs.intake import create_app
    from builder.jobs.settings import JobSettings
    from builder.settings import load_settings
    from tests.fakes.intake_server import running

    jobs = JobSettings(webhook_secret=SECRET, retry_base_s=0.0)  # a failed refund call is due again at once
    with running(create_app(ledger, envelope, jobs, stripe=load_settings(stripe_env(fake_stripe)).stripe)) as url:
        draft_id, session_id = paid_session(url)
        expire_draft(ledger, draft_id)
        if stripe_down:
            for _ in range(3):
                fake_stripe.fail_next(503, "api_error")
        paid = session_event(fake_stripe, session_id, "checkout.session.completed", payment_intent="pi_test_late")
        for _ in range(2):
            assert deliver(url, fake_stripe, paid).status_code == 200
        [ref] = [record.ref for record in ledger.records()]
        _wait_for(lambda: ledger.get(ref).state == "refunded" or ledger.get(ref).refund_attempts > 0)
    if stripe_down:
        record = ledger.get(ref)
        assert (record.state, record.refund_error, record.refund_attempts) == ("failed", "api_error", 1)
        assert not fake_stripe.state.refunds
        done = cli(env, "gift", "reconcile", "--out", str(tmp_path / "site"), GIFT_REFUND_FAILED_AFTER_H="off")
        assert done.returncode == 0, done.stderr
    [refund_id] = fake_stripe.state.refunds
    assert fake_stripe.state.refunds[refund_id]["payment_intent"] == "pi_test_late"
    assert_refunded(ledger, ref, refund_id)
    assert ledger.get(ref).reason == DRAFT_EXPIRED
    assert refund_posts(fake_stripe)[-1] == refund_idempotency_key(ref, 1 if stripe_down else 0)
    assert_nothing_private_sent(fake_stripe, *DRAFT_PRIVATE, STORY, CUSTOMER["phone"], CUSTOMER["email"],
                                CUSTOMER["address"]["line1"])
