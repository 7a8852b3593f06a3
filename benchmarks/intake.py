"""Intake and queue: signed POST /v1/orders latency under a bounded local load, and queued → running latency."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import giftkit
from benchmarks.common import (
    WORK_DIR,
    NotAvailable,
    Progress,
    Table,
    median,
    millis,
    percentile,
    quick,
    scratch,
    storage_of,
)

INTAKE_P95_TARGET = 0.020
QUEUE_P95_TARGET = 0.100


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """DESIGN §6 (Stripe's scheme), written here from the spec rather than imported from the project."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def requests_for(url: str, secret: str, total: int, prefix: str) -> list[bytes]:
    """Complete HTTP/1.1 requests, signed just before the run, so the timed loop only writes and reads."""
    host = url.split("://", 1)[1]
    out = []
    for index in range(total):
        body = json.dumps(giftkit.sample_order(index, prefix=prefix)).encode()
        head = (f"POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nIdempotency-Key: {prefix}_{index:05d}\r\n"
                f"Giftboard-Signature: {signature(secret, body)}\r\n\r\n")
        out.append(head.encode() + body)
    return out


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _load(url: str, requests: list[bytes], concurrency: int) -> tuple[list[float], Counter[int]]:
    host, port = url.split("://", 1)[1].split(":")
    queue = iter(requests)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for request in queue:  # a shared iterator: each request goes to exactly one connection
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

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, statuses


def load(url: str, secret: str, total: int, concurrency: int, prefix: str) -> tuple[list[float], Counter[int], float]:
    """`total` signed orders over `concurrency` keep-alive connections; per-request latencies and status counts.

    The client is one asyncio loop writing pre-built requests, so its own cost (on the same 2 cores as the
    server) stays small and no client-side lock or GIL wait is counted as server latency.
    """
    requests = requests_for(url, secret, total, prefix)
    started = time.perf_counter()
    latencies, statuses = asyncio.run(_load(url, requests, concurrency))
    return latencies, statuses, time.perf_counter() - started


Measured = tuple[str, int, int, list[float], Counter[int], float]  # ledger place, requests, concurrency, …


def run(progress: Progress) -> list[Table]:
    total = 60 if quick() else 500
    tables: list[Table] = []
    with scratch("intake") as base:
        env = giftkit.gift_env(base)
        giftkit.require(["intake", "serve"], env, base, "the intake service")
        measured: list[Measured] = []
        places = [("tmpfs", base / "ledger")]
        disk_ledger = Path(tempfile.mkdtemp(prefix="intake-ledger-", dir=WORK_DIR))
        if storage_of(base) != storage_of(disk_ledger):
            places.append(("disk", disk_ledger))
        storage = {place: storage_of(folder) for place, folder in places}
        recorded = sent = 0
        health = 0.0
        try:
            for place, ledger in places:
                service = giftkit.start_intake(ledger, env, base)
                try:
                    with progress.step(f"intake warm-up (20 requests), ledger on {place}"):
                        load(service.url, env["GIFT_WEBHOOK_SECRET"], 20, 2, f"warmup-{place}")
                    sent += 20
                    levels = (1, 8) if place == "tmpfs" else (8,)
                    for concurrency in levels:
                        count = total if concurrency > 1 else total // 5
                        with progress.step(f"intake load: {count} signed orders, concurrency {concurrency}, "
                                           f"ledger on {place}"):
                            latencies, statuses, wall = load(service.url, env["GIFT_WEBHOOK_SECRET"], count,
                                                             concurrency, f"load{concurrency}-{place}")
                        measured.append((place, count, concurrency, latencies, statuses, wall))
                        sent += count
                    if place == "tmpfs":
                        health = healthz_latency(service.url)
                finally:
                    service.stop()
                recorded += sum(1 for r in giftkit.records(ledger) if r.state in ("queued", "received"))
        finally:
            shutil.rmtree(disk_ledger, ignore_errors=True)
        tables.append(intake_table(measured, recorded, sent, health, storage))
        tables.append(queue_table(progress, base, env))
    return tables


def healthz_latency(url: str, count: int = 50) -> float:
    """Median of sequential GET /healthz on one connection: the floor under every intake answer."""
    import httpx

    times = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.get("/healthz")
            times.append(time.perf_counter() - started)
    return median(times)


def intake_table(measured: list[Measured], recorded: int, sent: int, health: float,
                 storage: dict[str, str]) -> Table:
    table = Table("Intake: signed POST /v1/orders on loopback under a bounded load",
                  ["ledger on", "requests", "concurrency", "p50", "p95", "p99", "max", "requests/s", "answers",
                   "p95 target", "verdict"])
    for place, total, concurrency, latencies, statuses, wall in measured:
        answers = ", ".join(f"{code or 'error'}×{n}" for code, n in sorted(statuses.items()))
        p95 = percentile(latencies, 95)
        table.add(place, total, concurrency, millis(median(latencies)), millis(p95),
                  millis(percentile(latencies, 99)), millis(max(latencies)), f"{total / wall:,.0f}", answers,
                  "< 20 ms", "met" if p95 < INTAKE_P95_TARGET and statuses.get(202, 0) == total else "MISSED")
        table.headline(f"intake p95, {total} signed orders at concurrency {concurrency}, ledger on {place}",
                       millis(p95), "< 20 ms", table.rows[-1][-1])
    table.notes.append(f"{recorded} of {sent} orders sent (warm-up included) are recorded in the ledger, each "
                       "fsync'ed before its 202; ledger places: "
                       + ", ".join(f"{place} = {where}" for place, where in storage.items()))
    table.notes.append(f"GET /healthz alone (sequential, one connection): median {millis(health, 2)}")
    if health > 0.030:
        table.notes.append("about 40 ms on every answer, even /healthz, is the Nagle + delayed-ACK stall: the "
                           "listening socket is created without IPPROTO_TCP, so asyncio does not set TCP_NODELAY on "
                           "accepted connections (fix in builder/jobs/intake.py `bind()`: "
                           "`socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)`; checked here: 44 ms → "
                           "0.4 ms for a trivial Starlette route)")
    table.notes.append("the client (one asyncio loop, one keep-alive connection per concurrent request, requests "
                       "built and signed before the clock starts) runs on the same 2 cores as the server; every "
                       "request is a new order with its own Idempotency-Key and HMAC signature")
    return table


def queue_table(progress: Progress, base: Path, env: dict[str, str]) -> Table:
    """A worker waits on an empty ledger; orders arrive through the intake one at a time (no backlog)."""
    table = Table("Queue: local queue latency, queued → running (one order at a time, worker idle)",
                  ["orders", "p50", "p95", "max", "intake → published (median)", "p95 target", "verdict"])
    count = 3 if quick() else 12
    try:
        giftkit.require_pipeline(env, base)
    except NotAvailable as error:
        table.add(count, "not available", "—", "—", "—", "< 100 ms", str(error))
        return table
    ledger, out = base / "queue-ledger", base / "queue-site"
    service = giftkit.start_intake(ledger, env, base)
    worker = giftkit.start_worker(ledger, out, env, base)
    waits: list[float] = []
    end_to_end: list[float] = []
    problems: list[str] = []
    try:
        import httpx

        with progress.step(f"queue latency: {count} orders, each after the previous one finished"), \
                httpx.Client(base_url=service.url, timeout=30) as client:
            time.sleep(1.0)  # let the worker reach its idle poll loop
            for index in range(count):
                body = json.dumps(giftkit.sample_order(index, prefix="queue")).encode()
                started = time.perf_counter()
                answer = client.post("/v1/orders", content=body, headers={
                    "Idempotency-Key": f"queue_{index:05d}", "Content-Type": "application/json",
                    "Giftboard-Signature": signature(env["GIFT_WEBHOOK_SECRET"], body)})
                if answer.status_code != 202:
                    problems.append(f"intake answered {answer.status_code}")
                    break
                ref = answer.json()["ref"]
                record = wait_finished(ledger, ref, timeout=180)
                if record is None:
                    problems.append(f"order {index + 1} did not finish within 180 s (worker log: "
                                    f"{worker_tail(worker.log)})")
                    break
                end_to_end.append(time.perf_counter() - started)
                if record.state != "published":
                    problems.append(f"order {index + 1} ended {record.state} ({record.reason})")
                if "queue_wait_s" in record.timings:
                    waits.append(float(record.timings["queue_wait_s"]))
    finally:
        worker.stop()
        service.stop()
    if not waits:
        table.add(count, "not measured", "—", "—", "—", "< 100 ms", "; ".join(problems) or "no timings recorded")
        return table
    p95 = percentile(waits, 95)
    table.add(len(waits), millis(median(waits)), millis(p95), millis(max(waits)), millis(median(end_to_end), 0),
              "< 100 ms", "met" if p95 < QUEUE_P95_TARGET else "MISSED")
    table.headline("local queue latency queued → running (p95)", millis(p95), "< 100 ms",
                   "met" if p95 < QUEUE_P95_TARGET else "MISSED")
    table.metric("queue_latency_p95_ms", p95 * 1000)
    table.metric("queue_latency_p50_ms", median(waits) * 1000)
    table.notes.append("queued → running is the ledger's own `queue_wait_s` (claim time minus queued time) with one "
                       "`gift work` process (1 worker thread) already idle; offline providers")
    table.notes += problems
    return table


def wait_finished(ledger: Path, ref: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in giftkit.records(ledger):
            if record.ref == ref and record.state in ("published", "held", "failed", "retry_wait"):
                return record
        time.sleep(0.05)
    return None


def worker_tail(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1][:200]
    except (OSError, IndexError):
        return "empty"
