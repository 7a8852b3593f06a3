"""Issue 9's crash test, on both ledger backends (the `ledger_location` fixture): 100 orders through the real
intake over HTTP (two intake processes on PostgreSQL, one on the folder), every key sent to each intake and
replayed; three worker processes SIGKILLed at random and restarted; a provider fake on 127.0.0.1 with 20% 5xx
and random latency; on PostgreSQL one `pg_ctl restart -m immediate` in the middle. In the end: exactly 100
orders, each published exactly once (one token, one page), every attempt's end in the audit, nothing stuck.

The same run with orders arriving as Stripe webhooks (`arrival="stripe"`, issue 14): each order is a draft
(`POST /v1/drafts`), its Checkout Session (`POST /v1/checkout`, the official stripe library against the fake
Stripe API on 127.0.0.1) and its signed `checkout.session.completed` (half of them a delayed payment:
completed while unpaid, then `async_payment_succeeded`), every event delivered six times across the intakes
while workers are killed and the database restarts. In the end: one Checkout Session per draft, one order
per session, one page per order."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from builder.jobs.ledger import is_database_url, open_ledger
from builder.jobs.reconcile import reconcile
from builder.jobs.settings import load_settings
from builder.jobs.signature import HEADER, sign
from tests.fakes.flaky_provider import FlakyProvider
from tests.fakes.stripe_api import SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.support.ledgers import stored_bytes
from tests.test_gift_cli import valid_order

ROOT = Path(__file__).resolve().parents[1]
ORDERS = 100
SENDS_PER_KEY = 6  # the first send to each intake, then replays: 3 to each intake
KILL_ROUNDS = 10  # counted, not timed: a loaded machine only makes each round slower
RECOVERY_S = 300.0  # a hang bound, not a target
SECRET = "whsec_crash"


def start_intake(location: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "builder", "intake", "serve", "--port", "0", "--ledger", location],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "intake listening on" in line, line
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # never let its log fill the pipe
    return proc, line.split()[-1]


def start_worker(location: str, out_dir: Path, provider: str, env: dict[str, str]) -> subprocess.Popen:
    """Start a worker as a supervisor would: one that cannot open the ledger (the database is restarting)
    exits, and is started again until it is ready."""
    deadline = time.monotonic() + 120
    while True:
        proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.crash_worker", location, str(out_dir), provider],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        if "ready" in proc.stdout.readline():
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # never let its log fill the pipe
            return proc
        error = proc.stderr.read()
        proc.wait()
        assert time.monotonic() < deadline, f"the crash worker never became ready: {error[-2000:]}"
        time.sleep(0.5)


def send(url: str, raw: bytes, key: str) -> str:
    """POST like a payment webhook: retried on 503 and connection errors (a database restart) with the same
    key until the intake answers 202; returns the ref."""
    deadline = time.monotonic() + 120
    while True:
        try:
            response = httpx.post(f"{url}/v1/orders", content=raw, timeout=30, headers={
                HEADER: sign(SECRET, raw), "Content-Type": "application/json", "Idempotency-Key": key})
            if response.status_code == 202:
                return str(response.json()["ref"])
            assert response.status_code == 503, (response.status_code, response.text)
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the intake never answered 202"
        time.sleep(0.1)


def post_until(url: str, path: str, raw: bytes, ok: int, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST until answered `ok`: 503 and connection errors (a database restart) are retried."""
    deadline = time.monotonic() + 120
    while True:
        try:
            response = httpx.post(f"{url}{path}", content=raw, timeout=30, headers=headers or {
                HEADER: sign(SECRET, raw), "Content-Type": "application/json"})
            if response.status_code == ok:
                return response
            assert response.status_code == 503, (path, response.status_code, response.text)
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the intake never answered {ok} to {path}"
        time.sleep(0.1)


class StripeArrivals:
    """Orders arriving the Stripe way: a draft, its Checkout Session, then its signed events, each delivered
    many times; the draft and session of an order are made once, by whichever delivery comes first."""

    def __init__(self, fake: FakeStripe, bodies: dict[str, bytes], intakes: list[str]) -> None:
        self.fake, self.bodies, self.intakes = fake, bodies, intakes
        self.sessions: dict[str, tuple[str, str, list[bytes]]] = {}  # key → (draft id, session id, events)
        self._locks = {key: threading.Lock() for key in bodies}

    def prepare(self, key: str) -> tuple[str, str, list[bytes]]:
        with self._locks[key]:
            if key not in self.sessions:
                url = self.intakes[0]
                draft_id = post_until(url, "/v1/drafts", self.bodies[key], 201).json()["draft_id"]
                raw = json.dumps({"draft_id": draft_id}).encode()
                session_id = post_until(self.intakes[-1], "/v1/checkout", raw, 201).json()["session_id"]
                session = {**self.fake.state.sessions[session_id], "status": "complete",
                           "payment_intent": f"pi_crash_{key}", "payment_status": "paid",
                           "customer_details": {"email": "jon@example.org", "name": "Jonathan Example"}}
                if int(key[-3:]) % 2:  # a delayed payment method: completed unpaid, then succeeded
                    events = [self.fake.event("checkout.session.completed", {**session, "payment_status": "unpaid"}),
                              self.fake.event("checkout.session.async_payment_succeeded", session)]
                else:
                    events = [self.fake.event("checkout.session.completed", session)]
                self.sessions[key] = (draft_id, session_id, events)
            return self.sessions[key]

    def deliver(self, url: str, key: str, n: int) -> None:
        _, _, events = self.prepare(key)
        payload = events[n % len(events)]
        post_until(url, "/v1/stripe/webhook", payload, 200, headers={
            "Stripe-Signature": self.fake.sign(payload), "Content-Type": "application/json"})


@pytest.mark.slow
@pytest.mark.parametrize("arrival", ["signed", "stripe"])
def test_one_order_per_payment_and_one_page_per_order_through_kills_and_a_database_restart(
    tmp_path: Path, ledger_location: str, request: pytest.FixtureRequest, arrival: str
) -> None:
    location = ledger_location
    database = is_database_url(location)
    rng = random.Random(int(os.environ.get("CRASH_SEED", "9")))
    fake_stripe = FakeStripe().start() if arrival == "stripe" else None
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIFT_")},
           "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_WEBHOOK_SECRET": SECRET,
           "GIFT_LEASE_S": "1.5", "GIFT_RETRY_BASE_S": "0.02", "GIFT_RETRY_CAP_S": "0.2",
           "GIFT_MAX_ATTEMPTS": "1000", "PYTHONPATH": str(ROOT)}
    if fake_stripe is not None:
        env.update({"GIFT_STRIPE_SECRET_KEY": SECRET_KEY, "GIFT_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "GIFT_STRIPE_PRICE": "price_crash", "GIFT_STRIPE_API_BASE": fake_stripe.url,
                    "GIFT_STRIPE_SUCCESS_URL": "https://gifts.test/thanks", "GIFT_STRIPE_CANCEL_URL": "https://gifts.test/"})
    settings = load_settings(env)
    out_dir = tmp_path / "site"
    provider = FlakyProvider(failure_rate=0.2, max_latency_s=0.3, seed=rng.randrange(1 << 30)).start()
    intakes = [start_intake(location, env) for _ in range(2 if database else 1)]
    workers = [start_worker(location, out_dir, provider.url, env) for _ in range(3)]
    ledger = open_ledger(location)
    kills = restarts = 0
    try:
        bodies = {f"pay_crash_{n:03d}": json.dumps(valid_order(f"pay_crash_{n:03d}")).encode() for n in range(ORDERS)}
        sends = [(key, intakes[i % len(intakes)][1], i) for key in bodies for i in range(SENDS_PER_KEY)]
        rng.shuffle(sends)
        answers: dict[str, set[str]] = {key: set() for key in bodies}
        lock = threading.Lock()
        stripe = StripeArrivals(fake_stripe, bodies, [url for _, url in intakes]) if fake_stripe else None

        def deliver(item: tuple[str, str, int]) -> None:
            key, url, n = item
            if stripe is not None:
                stripe.deliver(url, key, n)
                return
            ref = send(url, bodies[key], key)
            with lock:
                answers[key].add(ref)

        with ThreadPoolExecutor(12) as pool:
            pending = [pool.submit(deliver, item) for item in sends]
            # while payments arrive and workers run: SIGKILL a random worker and start another, and (on
            # PostgreSQL) crash the database once in the middle
            for round_no in range(KILL_ROUNDS):
                time.sleep(rng.uniform(0.3, 1.2))
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(timeout=10)
                kills += 1
                if database and round_no == KILL_ROUNDS // 2:
                    request.getfixturevalue("postgres_cluster").restart_immediate()
                    restarts += 1
                workers[victim] = start_worker(location, out_dir, provider.url, env)
            for future in pending:
                future.result()

        if stripe is not None:  # the ref each draft was paid as (a webhook's answer carries none)
            answers = {key: {str(ledger.order_of_draft(draft_id))} for key, (draft_id, _, _) in stripe.sessions.items()}
        # one order per payment: every send of a key got the same ref, and the ledger has exactly 100 orders
        assert all(len(refs) == 1 for refs in answers.values()), answers
        refs = sorted(next(iter(found)) for found in answers.values())
        assert len(set(refs)) == ORDERS
        recovery_ends = time.monotonic() + RECOVERY_S
        while time.monotonic() < recovery_ends:
            reconcile(ledger, settings)
            if {record.state for record in ledger.records()} == {"published"}:
                break
            time.sleep(0.3)
    finally:
        for proc in [*workers, *(proc for proc, _ in intakes)]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        provider.shutdown()
        if fake_stripe is not None:
            fake_stripe.stop()

    try:
        records = ledger.records()
        assert sorted(record.ref for record in records) == refs  # exactly the 100 orders, no more
        assert {record.state for record in records} == {"published"}  # nothing stuck
        assert ledger.count_due(ledger.clock() + 3600) == 0
        tokens = {record.token for record in records}
        pages = sorted(p.name for p in (out_dir / "gifts").iterdir() if p.is_dir() and not p.name.startswith("."))
        assert pages == sorted(tokens)  # one page per order, at its token
        for record in records:
            audit = ledger.audit(record.ref)
            assert sum(1 for e in audit if e.get("to") == "published") == 1, record.ref
            assert record.url == f"gifts/{record.token}/"
            # every attempt that started has its end in the audit: a failure, a timed-out lease, or the publish
            started = [e["attempt"] for e in audit if e.get("to") == "running"]
            ended = [e["attempt"] for e in audit if e.get("from") == "running"]
            assert started == list(range(1, record.attempts + 1)) == ended, (record.ref, audit)
        reasons = {e.get("reason") for r in records for e in ledger.audit(r.ref) if e.get("from") == "running"}
        assert "provider_5xx" in reasons and "lease_expired" in reasons
        assert provider.failures > 0 and kills == KILL_ROUNDS and restarts == (1 if database else 0)
        assert b"Larkspur" not in stored_bytes(ledger, with_envelopes=False)  # the story stays in envelopes
        assert b"Larkspur" not in stored_bytes(ledger, with_envelopes=True)  # and those are gone once published
        if stripe is not None:  # one Checkout Session per draft, one order per session, paid as recorded
            assert len(fake_stripe.state.sessions) == ORDERS  # type: ignore[union-attr]
            session_of = {}
            for record in records:
                [paid] = [e for e in ledger.audit(record.ref) if e.get("paid") == "stripe_checkout"]
                session_of[record.ref] = paid["session"]
            assert sorted(session_of.values()) == sorted(session for _, session, _ in stripe.sessions.values())
            assert {r.payment_intent for r in records} == {f"pi_crash_{key}" for key in bodies}
            assert b"jon@example.org" not in fake_stripe.state.all_bytes()  # type: ignore[union-attr]
    finally:
        ledger.close()
