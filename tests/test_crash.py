"""Issue 5's crash test: 20 orders, a flaky provider on 127.0.0.1, two worker processes SIGKILLed at
random moments and restarted, reconcile between rounds. Every order ends published exactly once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.jobs.accept import accept_order
from builder.jobs.envelope import load_envelope
from builder.jobs.folder_ledger import FolderLedger as Ledger
from builder.jobs.ledger import JobRecord
from builder.jobs.reconcile import reconcile
from builder.jobs.settings import load_settings
from tests.fakes.flaky_provider import FlakyProvider
from tests.support.crash import kill_rounds, stop
from tests.support.jobs import fake_parse, order

ROOT = Path(__file__).resolve().parents[1]
ORDERS = 20
KILL_ROUNDS = 8  # rounds with SIGKILLs, counted (not timed: a loaded machine only makes each round slower)
RECOVERY_S = 300.0  # then workers run undisturbed until every order is published: a hang bound, not a target


def start_worker(ledger_dir: Path, out_dir: Path, provider: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.crash_worker", str(ledger_dir), str(out_dir), provider],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


@pytest.mark.slow
def test_orders_survive_sigkilled_workers_and_a_flaky_provider(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "5")))
    env = {**os.environ, "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_LEASE_S": "0.6",
           "GIFT_RETRY_BASE_S": "0.02", "GIFT_RETRY_CAP_S": "0.2", "GIFT_MAX_ATTEMPTS": "1000",
           "PYTHONPATH": str(ROOT)}
    settings = load_settings(env)
    ledger_dir, out_dir = tmp_path / "ledger", tmp_path / "site"
    ledger = Ledger(ledger_dir)
    envelope = load_envelope(env)
    refs = [accept_order(order(f"pay_{n}"), ledger=ledger, envelope=envelope, parse=fake_parse)[0]
            for n in range(ORDERS)]
    tokens = {ref: ledger.get(ref).token for ref in refs}

    provider = FlakyProvider(failure_rate=0.2, max_latency_s=0.4, seed=rng.randrange(1 << 30)).start()
    published = lambda: all(ledger.get(ref).state == "published" for ref in refs)  # noqa: E731

    def start_ready() -> list[subprocess.Popen]:
        workers = [start_worker(ledger_dir, out_dir, provider.url, env) for _ in range(2)]
        for proc in workers:
            assert proc.stdout is not None and "ready" in proc.stdout.readline()
        return workers

    workers: list[subprocess.Popen] = []
    try:
        # both die at random moments in the first rounds; later rounds let one of them live on
        killed = kill_rounds(start_ready, rng=rng, max_rounds=KILL_ROUNDS, kill_delay_s=(0.05, 0.5), always_kill=3,
                             lease_wait_s=0.7,  # killed leases expire (GIFT_LEASE_S=0.6)
                             reconcile=lambda: reconcile(ledger, settings), done=published)
        kills, rounds = killed.kills, killed.rounds
        # recovery: the survivors of all that carry on undisturbed until everything is published
        workers = [start_worker(ledger_dir, out_dir, provider.url, env) for _ in range(2)]
        recovery_ends = time.monotonic() + RECOVERY_S
        while not published() and time.monotonic() < recovery_ends:
            time.sleep(0.2)
            reconcile(ledger, settings)
    finally:
        stop(workers)
        provider.shutdown()

    states = {ref: ledger.get(ref).state for ref in refs}
    assert set(states.values()) == {"published"}, (rounds, states)
    assert kills >= 4 and rounds >= 3

    # one page per order, at its original token
    pages = sorted(p.name for p in (out_dir / "gifts").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert pages == sorted(tokens.values())
    for ref in refs:
        record = ledger.get(ref)
        assert record.token == tokens[ref]
        assert record.url == f"gifts/{record.token}/"
        audit = ledger.audit(ref)
        assert sum(1 for e in audit if e.get("to") == "published") == 1
        # a worker killed between its audit line and its record leaves an aborted line, never a second
        # committed publication
        raw = ledger.audit(ref, include_aborted=True)
        assert all(e.get("aborted") for e in raw if e.get("to") == "published" and e not in audit)
        assert not ledger.envelope_path(ref).exists()  # deleted once published

    # nothing corrupt: every record and every audit line parses
    for path in ledger.orders.glob("ord_*.json"):
        JobRecord.from_json(path.read_bytes())
    for path in ledger.audits.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)

    # the audit tells the story: failed attempts, timed-out (killed) attempts and their retries
    reasons = [e.get("reason") for ref in refs for e in ledger.audit(ref) if e.get("to") == "retry_wait"]
    assert "provider_5xx" in reasons
    assert "lease_expired" in reasons
    assert sum(1 for ref in refs for e in ledger.audit(ref) if e.get("from") == "retry_wait") >= len(reasons) - 1
    assert provider.failures > 0


@pytest.mark.slow
def test_real_gift_work_processes_survive_sigkill(tmp_path: Path) -> None:
    """The same durability with the production path: `python -m builder gift work` processes running the
    real pipeline, lyrics from a Chat Completions fake answering 503 one time in five."""
    pytest.importorskip("builder.gifts.pipeline")
    from builder.gifts.order import parse_order
    from tests.fakes.chat_api import ChatCompletionsFake, ChatConfig
    from tests.test_gift_cli import PRIVATE, valid_order

    rng = random.Random(int(os.environ.get("CRASH_SEED", "5")))
    # three 503s first, so the audit shows retries even when a fast run publishes before any kill lands
    chat = ChatCompletionsFake(ChatConfig(latency_s=0.05, error_rate=0.2, seed=rng.randrange(1 << 30),
                                          statuses=deque([503, 503, 503]))).start()
    env = {**os.environ, "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_LEASE_S": "1.0",
           "GIFT_RETRY_BASE_S": "0.05", "GIFT_RETRY_CAP_S": "0.3", "GIFT_MAX_ATTEMPTS": "1000",
           "GIFT_LYRICS_BASE_URL": chat.url, "GIFT_LYRICS_API_KEY": "sk-test", "GIFT_LYRICS_TIMEOUT_S": "5",
           "PYTHONPATH": str(ROOT)}
    settings = load_settings(env)
    ledger_dir, out_dir = tmp_path / "ledger", tmp_path / "site"
    ledger = Ledger(ledger_dir)
    envelope = load_envelope(env)
    refs = [accept_order(json.dumps(valid_order(f"pay_real_{n}")).encode(), ledger=ledger, envelope=envelope,
                         parse=parse_order)[0] for n in range(6)]
    tokens = {ref: ledger.get(ref).token for ref in refs}
    command = [sys.executable, "-m", "builder", "gift", "work", "--workers", "2", "--ledger", str(ledger_dir),
               "--out", str(out_dir)]
    published = lambda: all(ledger.get(ref).state == "published" for ref in refs)  # noqa: E731

    def start() -> list[subprocess.Popen]:
        return [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(2)]

    try:
        kills = kill_rounds(start, rng=rng, max_rounds=6, kill_delay_s=(1.0, 2.5), always_kill=2,
                            lease_wait_s=1.1,  # killed leases run out
                            reconcile=lambda: reconcile(ledger, settings), done=published).kills
        # recovery: one undisturbed worker run to idle (bounded only against a hang), then reconcile
        for _ in range(20):
            if published():
                break
            subprocess.run([*command, "--until-idle"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=RECOVERY_S, check=True)
            reconcile(ledger, settings)
    finally:
        chat.stop()

    assert {ledger.get(ref).state for ref in refs} == {"published"}
    assert kills >= 2
    pages = sorted(p.name for p in (out_dir / "gifts").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert pages == sorted(tokens.values())
    for ref in refs:
        assert ledger.get(ref).token == tokens[ref]
        assert sum(1 for e in ledger.audit(ref) if e.get("to") == "published") == 1
        html = (out_dir / "gifts" / tokens[ref] / "index.html").read_text()
        for secret in PRIVATE:
            assert secret not in html
    ledger_bytes = b"".join(p.read_bytes() for p in ledger.root.rglob("*") if p.is_file())
    for secret in PRIVATE:
        assert secret.encode() not in ledger_bytes
    reasons = {e.get("reason") for ref in refs for e in ledger.audit(ref) if e.get("to") == "retry_wait"}
    assert reasons, "503s and SIGKILLs show up as audited retries"
