"""Issue 9's crash test, on both ledger backends (the `ledger_location` fixture): 100 orders through the real
intake over HTTP (two intake processes on PostgreSQL, one on the folder), every key sent to each intake and
replayed; three worker processes SIGKILLed at random and restarted; a provider fake on 127.0.0.1 with 20% 5xx
and random latency; on PostgreSQL one `pg_ctl restart -m immediate` in the middle. In the end: exactly 100
orders, each published exactly once (one token, one page), every attempt's end in the audit, nothing stuck."""

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


@pytest.mark.slow
def test_one_order_per_payment_and_one_page_per_order_through_kills_and_a_database_restart(
    tmp_path: Path, ledger_location: str, request: pytest.FixtureRequest
) -> None:
    location = ledger_location
    database = is_database_url(location)
    rng = random.Random(int(os.environ.get("CRASH_SEED", "9")))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIFT_")},
           "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_WEBHOOK_SECRET": SECRET,
           "GIFT_LEASE_S": "1.5", "GIFT_RETRY_BASE_S": "0.02", "GIFT_RETRY_CAP_S": "0.2",
           "GIFT_MAX_ATTEMPTS": "1000", "PYTHONPATH": str(ROOT)}
    settings = load_settings(env)
    out_dir = tmp_path / "site"
    provider = FlakyProvider(failure_rate=0.2, max_latency_s=0.3, seed=rng.randrange(1 << 30)).start()
    intakes = [start_intake(location, env) for _ in range(2 if database else 1)]
    workers = [start_worker(location, out_dir, provider.url, env) for _ in range(3)]
    ledger = open_ledger(location)
    kills = restarts = 0
    try:
        bodies = {f"pay_crash_{n:03d}": json.dumps(valid_order(f"pay_crash_{n:03d}")).encode() for n in range(ORDERS)}
        sends = [(key, intakes[i % len(intakes)][1]) for key in bodies for i in range(SENDS_PER_KEY)]
        rng.shuffle(sends)
        answers: dict[str, set[str]] = {key: set() for key in bodies}
        lock = threading.Lock()

        def deliver(item: tuple[str, str]) -> None:
            key, url = item
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
    finally:
        ledger.close()
