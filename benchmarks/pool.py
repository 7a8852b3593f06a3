"""The worker pool (issue 10): 10,000 orders in a PostgreSQL ledger, drained by worker processes standing in
for the generate.yml runs the real dispatcher (`dispatch_cycle`, GIFT_MAX_RUNNERS=20, K=10) starts against a
fake GitHub on 127.0.0.1; provider latency scaled down to 0.3-0.9 s per order.

Measured: orders per hour in real time (from the first dispatch cycle to the last order published), lost
orders (not published at the end), doubled ones (more than one `published` transition in the audit), and
queued → running (p50/p95 from the later of the order's queueing and the pool's start to its first claim).
All orders are queued at the start, so the queue wait is mostly the backlog draining: it says how long the
last order of a 10,000-order burst waited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.common import REPO_ROOT, NotAvailable, Progress, Table, percentile, python_path, quick, seconds

ORDERS = 10_000
MAX_RUNNERS = 20
K = 10
LATENCY = (0.3, 0.9)
TARGET_PER_HOUR = 5000.0
BOUND_S = 1800.0  # a hang bound, not a target
CYCLE_S = 2.0  # the bench's dispatcher cycle (production: the intake after each commit, reconcile every 10 min)


def run(progress: Progress) -> list[Table]:
    try:
        from tests.fakes.github_actions import FakeActions
        from tests.support.postgres import start_cluster
    except ImportError as error:
        raise NotAvailable(f"the test support code is not importable ({error.name})") from None
    try:
        with progress.step("starting a throwaway PostgreSQL cluster (fsync on)"):
            cluster = start_cluster(durable=True)
    except FileNotFoundError as error:
        raise NotAvailable(str(error)) from None
    github = FakeActions().start()
    try:
        return [simulate(progress, cluster.new_database(), github, 1000 if quick() else ORDERS)]
    finally:
        github.stop()
        cluster.stop()


def fill(location: str, count: int, key: bytes) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from builder.jobs.envelope import Envelope
    from builder.jobs.ledger import NewOrder, open_ledger

    envelope = Envelope(key)
    sealed = envelope.seal(b'{"story": "bench"}')
    ledger = open_ledger(location)
    try:
        def accept(n: int) -> None:
            ledger.accept(NewOrder(key_hash=f"poolbench{n:07d}", fingerprint="f", sealed=sealed, token=f"{n:032x}"))

        with ThreadPoolExecutor(8) as pool:  # the intakes' concurrent accepts (group commit), not one by one
            list(pool.map(accept, range(count)))
    finally:
        ledger.close()


def simulate(progress: Progress, location: str, github: Any, count: int) -> Table:
    from cryptography.fernet import Fernet

    from builder.jobs.ledger import open_ledger
    from builder.jobs.pool import GitHubRuns, dispatch_cycle
    from builder.settings import load_settings

    key = Fernet.generate_key()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}, "PYTHONPATH": python_path(),
           "GIFT_ENVELOPE_KEY": key.decode(), "GIFT_QUEUE": "github", "GIFT_DISPATCH_TOKEN": "ghs_bench",
           "GITHUB_REPOSITORY": "acme/giftboard", "GITHUB_API_URL": github.url,
           "GIFT_MAX_RUNNERS": str(MAX_RUNNERS), "GIFT_WORKERS_PER_RUN": str(K), "CI": ""}
    settings = load_settings(env).jobs
    with progress.step(f"pool: {count:,} queued orders in PostgreSQL"):
        fill(location, count, key)
    ledger = open_ledger(location)
    runs = GitHubRuns(settings)
    started_runs: list[subprocess.Popen[str]] = []
    seen = 0
    done = threading.Event()
    attempts = 0

    def runner() -> None:
        """GitHub Actions, standing in: every dispatched run becomes a worker process; its end completes the run."""
        nonlocal seen, attempts
        live: dict[int, subprocess.Popen[str]] = {}
        while not done.is_set() or live:
            with github.lock:
                new = github.dispatched[seen:]
                seen += len(new)
            for _inputs, run_id in new:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.pool_worker", location, str(K), str(LATENCY[0]),
                     str(LATENCY[1])], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
                live[run_id] = proc
                started_runs.append(proc)
                with github.lock:
                    github.runs[run_id] = ("in_progress", "")
            for run_id, proc in list(live.items()):
                if proc.poll() is not None:
                    out = proc.stdout.read() if proc.stdout else ""
                    attempts += json.loads(out or '{"attempts": 0}')["attempts"]
                    with github.lock:
                        github.runs[run_id] = ("completed", "success")
                    del live[run_id]
            time.sleep(0.1)

    thread = threading.Thread(target=runner, daemon=True)
    cycles = dispatched = 0
    with progress.step(f"pool: draining with GIFT_MAX_RUNNERS={MAX_RUNNERS}, K={K}"):
        begin = time.monotonic()
        begin_wall = time.time()
        thread.start()
        while time.monotonic() - begin < BOUND_S:
            report = dispatch_cycle(ledger, runs, settings)
            cycles += 1
            dispatched += report.dispatched
            figures = ledger.figures(ledger.clock())
            if figures.by_state.get("published", 0) == count:
                break
            time.sleep(CYCLE_S)
        elapsed = time.monotonic() - begin
        done.set()
        thread.join(timeout=600)
    records = ledger.records()
    published = [r for r in records if r.state == "published"]
    doubled = _doubled(location)
    # queued → running from when the pool started (the fill itself took a while: no order waited for that)
    waits = [max(0.0, r.first_started_at - max(r.queued_at, begin_wall)) for r in published]
    ledger.close()
    rate = len(published) / elapsed * 3600 if elapsed > 0 else 0.0
    lost = count - len(published)
    verdict = "met" if rate >= TARGET_PER_HOUR and lost == 0 and doubled == 0 else "MISSED"
    table = Table(f"Worker pool: {count:,} orders, PostgreSQL ledger, dispatcher with GIFT_MAX_RUNNERS={MAX_RUNNERS}, "
                  f"K={K}, provider {LATENCY[0]}-{LATENCY[1]} s",
                  ["orders", "runs dispatched", "attempts", "wall time", "orders/hour", "lost", "doubled",
                   "queued→running p50", "p95", "target", "verdict"])
    table.add(f"{count:,}", dispatched, attempts, seconds(elapsed), f"{rate:,.0f}", lost, doubled,
              seconds(percentile(waits, 50)), seconds(percentile(waits, 95)), "≥ 5,000/h, 0 lost, 0 doubled",
              verdict)
    table.headline(f"worker pool, orders per hour ({count:,} on PostgreSQL)", f"{rate:,.0f}/h, {lost} lost, "
                   f"{doubled} doubled, p95 queued→running {seconds(percentile(waits, 95))}",
                   "≥ 5,000/h, 0 lost, 0 doubled", verdict)
    table.metric("pool_orders_per_hour", rate)
    table.metric("pool_queue_wait_p95_s", percentile(waits, 95))
    table.notes.append(f"{cycles} dispatcher cycles {CYCLE_S:.0f} s apart (the real `dispatch_cycle`, dispatches "
                       f"{settings.dispatch_interval_s:g} s apart as in production); each dispatched run is one "
                       "`python -m benchmarks.pool_worker` process (the real Worker, K threads, until the queue is "
                       "empty); every order was queued at the start, so queued→running is the backlog draining; "
                       "runner start-up and install (a minute or two on Actions) are not simulated")
    return table


def _doubled(location: str) -> int:
    import psycopg

    with psycopg.connect(location) as conn:
        row = conn.execute("SELECT count(*) FROM (SELECT ref FROM audit WHERE to_state = 'published' "
                           "GROUP BY ref HAVING count(*) > 1) AS twice").fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    print(run(Progress())[0].render())
