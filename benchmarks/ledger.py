"""Ledger backends, PostgreSQL beside the folder ledger, in the same run on the same machine:

- intake: signed POST /v1/orders at concurrency 1, 8 and 32, spread over two `intake serve` processes;
- claims: 20 concurrent workers (4 processes × 5 threads) taking queued orders (queued → running);
- support on 100,000 orders: `gift list --state held`, `ops summary` and `gift reconcile`, whole CLI commands.

PostgreSQL is Debian's server in a throwaway cluster on loopback (fsync on), started and dropped here.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import giftkit
from benchmarks.common import (
    SHM,
    NotAvailable,
    Progress,
    Table,
    median,
    millis,
    percentile,
    python_path,
    quick,
    scratch,
    seconds,
    storage_of,
)
from benchmarks.intake import _exchange, requests_for

INTAKE_P99_TARGET = 0.050  # at concurrency 32
CLAIMS_PER_S_TARGET = 500.0
CLAIM_P95_TARGET = 0.020
SUPPORT_TARGET_S = 1.0
CLAIM_PROCESSES, CLAIM_THREADS = 4, 5
ROOT = Path(__file__).resolve().parents[1]


def run(progress: Progress) -> list[Table]:
    try:
        from tests.support.postgres import start_cluster
    except ImportError as error:
        raise NotAvailable(f"the test support code is not importable ({error.name})") from None
    parent = SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else None
    try:
        with progress.step("starting a throwaway PostgreSQL cluster (fsync on)"):
            cluster = start_cluster(durable=True, parent=parent)
    except FileNotFoundError as error:
        raise NotAvailable(str(error)) from None
    try:
        with scratch("ledger") as base:
            env = giftkit.gift_env(base)
            where = {"PostgreSQL": f"cluster on {storage_of(cluster.root)}", "folder": f"on {storage_of(base)}"}
            return [
                intake_table(progress, cluster, base, env, where),
                claims_table(progress, cluster, base, where),
                support_table(progress, cluster, base, env, where),
            ]
    finally:
        cluster.stop()


# -- intake ---------------------------------------------------------------------------------------------------


async def _spread(urls: list[str], requests: dict[str, list[bytes]], concurrency: int
                  ) -> tuple[list[float], Counter[int]]:
    queues = {url: iter(requests[url]) for url in urls}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def connection(url: str) -> None:
        host, port = url.split("://", 1)[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for request in queues[url]:
                started = time.perf_counter()
                try:
                    status = await asyncio.wait_for(_exchange(reader, writer, request), timeout=30)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if status == 0:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
        finally:
            writer.close()

    await asyncio.gather(*(connection(urls[n % len(urls)]) for n in range(concurrency)))
    return latencies, statuses


def intake_load(urls: list[str], secret: str, total: int, concurrency: int, prefix: str
                ) -> tuple[list[float], Counter[int], float]:
    urls = urls[:concurrency]  # one connection can only talk to one intake
    share = {url: requests_for(url, secret, total // len(urls), f"{prefix}-{n}") for n, url in enumerate(urls)}
    started = time.perf_counter()
    latencies, statuses = asyncio.run(_spread(urls, share, concurrency))
    return latencies, statuses, time.perf_counter() - started


def intake_table(progress: Progress, cluster: Any, base: Path, env: dict[str, str], where: dict[str, str]) -> Table:
    table = Table("Ledger: intake, signed POST /v1/orders over two `intake serve` processes",
                  ["ledger", "concurrency", "requests", "p50", "p95", "p99", "max", "requests/s", "answers",
                   "p99 target", "verdict"])
    counts = {1: 40, 8: 120, 32: 240} if quick() else {1: 200, 8: 800, 32: 1600}
    for name, location in (("PostgreSQL", cluster.new_database()), ("folder", str(base / "intake-ledger"))):
        folders = [base / f"intake-{name}-{n}" for n in range(2)]
        for folder in folders:
            folder.mkdir()
        services = [giftkit.start_intake(location, env, folder) for folder in folders]  # type: ignore[arg-type]
        urls = [service.url for service in services]
        try:
            with progress.step(f"intake warm-up, {name}"):
                intake_load(urls, env["GIFT_WEBHOOK_SECRET"], 40, 4, f"warm-{name}")
            for concurrency, total in counts.items():
                with progress.step(f"intake: {total} orders at concurrency {concurrency}, {name}"):
                    latencies, statuses, wall = intake_load(urls, env["GIFT_WEBHOOK_SECRET"], total, concurrency,
                                                            f"c{concurrency}-{name}")
                p99 = percentile(latencies, 99)
                ok = statuses.get(202, 0) == len(latencies)
                verdict = ("met" if p99 <= INTAKE_P99_TARGET and ok else "MISSED") if concurrency == 32 else "—"
                table.add(name, concurrency, len(latencies), millis(median(latencies)),
                          millis(percentile(latencies, 95)), millis(p99), millis(max(latencies)),
                          f"{len(latencies) / wall:,.0f}",
                          ", ".join(f"{code or 'error'}×{n}" for code, n in sorted(statuses.items())),
                          "≤ 50 ms" if concurrency == 32 else "—", verdict)
                if concurrency == 32:
                    table.headline(f"intake p99 at concurrency 32, two intakes, {name} ledger", millis(p99),
                                   "≤ 50 ms", verdict)
                    table.metric(f"intake_p99_c32_{'pg' if name == 'PostgreSQL' else 'folder'}_ms", p99 * 1000)
        finally:
            for service in services:
                service.stop()
    table.notes.append("each request is a new order (its own Idempotency-Key, signed); 202 only after the commit "
                       "(the PostgreSQL transaction, or the folder's fsyncs); connections are spread evenly over "
                       "the two intakes (concurrency 1: one connection, so one intake); the client is one asyncio "
                       "loop on the same 2 cores")
    table.notes.append("PostgreSQL " + where["PostgreSQL"] + "; folder " + where["folder"])
    return table


# -- claims ---------------------------------------------------------------------------------------------------


def fill_queue(location: str, count: int) -> None:
    """`count` queued orders, accepted through the ledger interface (no provider work involved)."""
    from builder.jobs.ledger import NewOrder, open_ledger

    ledger = open_ledger(location)
    try:
        for n in range(count):
            ledger.accept(NewOrder(key_hash=f"claimbench{n:07d}", fingerprint="f", sealed=b"sealed",
                                   token=f"tok{n:07d}claims"))
    finally:
        ledger.close()


def claims_table(progress: Progress, cluster: Any, base: Path, where: dict[str, str]) -> Table:
    table = Table("Ledger: claims by 20 concurrent workers (4 processes × 5 threads), queued → running",
                  ["ledger", "orders", "claimed", "claims/s", "p50", "p95", "p99", "targets", "verdict"])
    counts = {"PostgreSQL": 400, "folder": 200} if quick() else {"PostgreSQL": 3000, "folder": 600}
    for name, location in (("PostgreSQL", cluster.new_database()), ("folder", str(base / "claims-ledger"))):
        count = counts[name]
        with progress.step(f"claims: {count} queued orders, 20 workers, {name}"):
            fill_queue(location, count)
            env = {**os.environ, "PYTHONPATH": python_path()}
            procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.claimer", location, str(CLAIM_THREADS)],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
                     for _ in range(CLAIM_PROCESSES)]
            results = [json.loads(proc.communicate(timeout=900)[0]) for proc in procs]
        latencies = [lat for r in results for lat in r["latencies"]]
        claimed = sum(r["claimed"] for r in results)
        span = max(r["last"] for r in results) - min(r["first"] for r in results)
        rate = claimed / span if span > 0 else 0.0
        p95 = percentile(latencies, 95)
        verdict = "met" if rate >= CLAIMS_PER_S_TARGET and p95 <= CLAIM_P95_TARGET and claimed == count else "MISSED"
        table.add(name, count, claimed, f"{rate:,.0f}", millis(median(latencies)), millis(p95),
                  millis(percentile(latencies, 99)), "≥ 500/s, p95 ≤ 20 ms", verdict)
        table.headline(f"claims with 20 workers, {name} ledger", f"{rate:,.0f}/s, p95 {millis(p95)}",
                       "≥ 500/s, p95 ≤ 20 ms", verdict)
        table.metric(f"claims_per_s_{'pg' if name == 'PostgreSQL' else 'folder'}", rate)
    table.notes.append("a claim is the worker's own `claim()`: the oldest due order locked (PostgreSQL: "
                       "`FOR UPDATE SKIP LOCKED` on the due index; folder: a scan of every record and a "
                       "non-blocking file lock), settled, moved to running with its audit row, committed; "
                       "claims/s counts from the first claim to the last (process start-up excluded); the folder "
                       "gets fewer orders because each of its claims reads every record")
    table.notes.append("PostgreSQL " + where["PostgreSQL"] + "; folder " + where["folder"])
    return table


# -- support commands on 100,000 orders ----------------------------------------------------------------------

MIX = (("published", 0.94), ("held", 0.02), ("failed", 0.01), ("retry_wait", 0.01), ("queued", 0.01),
       ("taken_down", 0.01))


def synthetic_orders(count: int, now: float) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Records and audit lines as the pipeline writes them, over the last week, in a production-like mix."""
    from builder.jobs.ledger import JobRecord, audit_entry

    rng = random.Random(9)
    states = [state for state, share in MIX for _ in range(round(share * count))][:count]
    states += ["published"] * (count - len(states))
    rng.shuffle(states)
    made = []
    for n, state in enumerate(states):
        created = now - rng.uniform(60, 7 * 86400)
        started = created + rng.uniform(0.01, 2.0)
        ended = started + rng.uniform(5, 60)
        ref = f"ord_{n:016x}"
        audit = [audit_entry(created, "", "received", attempt=0, reason="", seq=1),
                 audit_entry(created, "received", "queued", attempt=0, reason="", seq=2)]
        fields: dict[str, Any] = {"attempts": 0, "seq": 2, "queued_at": created, "state_since": created}
        if state != "queued":
            audit.append(audit_entry(started, "queued", "running", attempt=1, reason="", seq=3,
                                     timings={"queue_wait_s": started - created}, detail={"worker": "bench"}))
            target, reason = {"published": ("published", ""), "taken_down": ("published", ""),
                              "held": ("held", "verbatim_story"), "failed": ("failed", "provider_auth"),
                              "retry_wait": ("retry_wait", "provider_5xx")}[state]
            timings = {"attempt_s": ended - started, "lyrics_s": 2.0, "audio_s": 30.0, "cover_s": 1.0,
                       "end_to_end_s": ended - created} if target == "published" else {"attempt_s": ended - started}
            detail = ({"providers": {"lyrics": "chat-completions", "audio": "predictions", "cover": "offline"}}
                      if target == "published" else {"stage": "lyrics", "provider": "chat-completions"})
            audit.append(audit_entry(ended, "running", target, attempt=1, reason=reason, seq=4, timings=timings,
                                     detail=detail))
            fields.update(attempts=1, seq=4, first_started_at=started, state_since=ended, reason=reason,
                          last_error=reason, timings=timings)
            if target == "published":
                fields.update(published_at=ended, url=f"gifts/tok{n:012x}/")
            if state == "retry_wait":
                fields["next_attempt_at"] = now + 3600
            if state == "taken_down":
                audit.append(audit_entry(ended + 60, "published", "taken_down", attempt=1, reason="takedown", seq=5))
                fields.update(seq=5, state_since=ended + 60, reason="takedown")
        record = JobRecord(ref=ref, state=state, token=f"tok{n:012x}", key_hash=f"key{n:012x}", created_at=created,
                           updated_at=float(fields["state_since"]), **fields)
        made.append((record, audit))
    return made


def seed_folder(folder: Path, orders: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    from builder.jobs.folder_ledger import FolderLedger

    ledger = FolderLedger(folder)
    for record, audit in orders:
        (ledger.orders / f"{record.ref}.json").write_bytes(record.to_json())
        (ledger.audits / f"{record.ref}.jsonl").write_text(
            "".join(json.dumps(e, sort_keys=True) + "\n" for e in audit), encoding="utf-8")


def seed_database(url: str, orders: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    import psycopg

    from builder.jobs.pg_ledger import COLUMNS, _audit_values, _values

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY orders ({', '.join(COLUMNS)}, fingerprint) FROM STDIN") as copy:
            for record, _ in orders:
                copy.write_row([*(json.dumps(v) if name == "timings" else v
                                  for name, v in zip(COLUMNS, [*map(_plain, _values(record))], strict=True)), "f"])
        with cur.copy("COPY audit (ref, t, seq, event, from_state, to_state, reason, attempt, stage, provider, "
                      "entry) FROM STDIN") as copy:
            for record, audit in orders:
                for entry in audit:
                    values = [_plain(v) for v in _audit_values(record.ref, entry)]
                    values[-1] = json.dumps(entry)
                    copy.write_row(values)
        conn.commit()
        conn.execute("ANALYZE")


def _plain(value: Any) -> Any:
    return getattr(value, "obj", value)  # a Jsonb wrapper → its object (COPY takes the JSON text)


def timed_command(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=1800)
    return time.perf_counter() - started, done.returncode


def support_table(progress: Progress, cluster: Any, base: Path, env: dict[str, str], where: dict[str, str]) -> Table:
    count = 5000 if quick() else 100_000
    table = Table(f"Ledger: support commands on {count:,} orders (whole CLI commands, best of 3)",
                  ["ledger", "gift list --state held", "ops summary", "gift reconcile", "target (each)", "verdict"])
    with progress.step(f"making {count:,} synthetic orders"):
        orders = synthetic_orders(count, time.time())
    folder = base / "support-ledger"
    database = cluster.new_database()
    with progress.step(f"seeding {count:,} orders into PostgreSQL (COPY)"):
        seed_database(database, orders)
    with progress.step(f"seeding {count:,} orders into a folder ledger"):
        seed_folder(folder, orders)
    del orders
    cwd = Path(tempfile.mkdtemp(prefix="support-", dir=base))
    try:
        with progress.step("start-up baseline: gift list on an empty folder ledger"):
            baseline = min(timed_command(["gift", "list", "--ledger", str(cwd / "empty")], env, cwd)[0]
                           for _ in range(3))
        table.notes.append(f"start-up baseline (`gift list` on an empty folder ledger, best of 3): "
                           f"{seconds(baseline)}; every figure above includes it")
        for name, location in (("PostgreSQL", database), ("folder", str(folder))):
            cells = []
            worst = 0.0
            for command in (["gift", "list", "--state", "held"], ["ops", "summary"], ["gift", "reconcile"]):
                best = float("inf")
                for _ in range(1 if quick() or name == "folder" else 3):
                    with progress.step(f"{' '.join(command)} on {count:,} orders, {name}"):
                        spent, code = timed_command([*command, "--ledger", location], env, cwd)
                    if code != 0:
                        raise RuntimeError(f"{' '.join(command)} exited {code} on the {name} ledger")
                    best = min(best, spent)
                cells.append(seconds(best))
                worst = max(worst, best)
            verdict = "met" if worst <= SUPPORT_TARGET_S else "MISSED"
            table.add(name, *cells, "≤ 1 s", verdict)
            table.headline(f"list held / ops summary / reconcile on {count:,} orders, {name} ledger",
                           " / ".join(cells), "≤ 1 s each", verdict)
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    table.notes.append("mix: 94% published, 2% held, 1% failed, 1% waiting for a retry, 1% queued, 1% taken "
                       "down, over the last 7 days, 4–5 audit lines each; times are whole commands, Python's "
                       "start-up and imports included; the folder's commands ran once each")
    table.notes.append("PostgreSQL answers from indexes and aggregates (`ops summary` is GROUP BY and "
                       "percentile_disc over the audit; reconcile reads only due rows); the folder reads every "
                       "record (and every audit file for `ops summary`), and reconcile locks every order")
    table.notes.append("PostgreSQL " + where["PostgreSQL"] + "; folder " + where["folder"])
    return table
