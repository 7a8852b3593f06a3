"""Gift generation: orders per second through the offline provider end to end, and the time outside the provider."""

from __future__ import annotations

from benchmarks import giftkit
from benchmarks.common import NotAvailable, Progress, Table, median, millis, percentile, quick, scratch, seconds, tail

OUTSIDE_TARGET = 0.300
NOT_PROVIDER = {"queue_wait_s", "attempt_s", "end_to_end_s"}


def run(progress: Progress) -> list[Table]:
    count = 2 if quick() else 10
    workers = 2
    with scratch("gifts") as base:
        env = giftkit.gift_env(base)
        giftkit.require(["gift", "submit"], env, base, "the job commands")
        giftkit.require_pipeline(env, base)
        ledger, out = base / "ledger", base / "site"
        submit_times: list[float] = []
        with progress.step(f"gift submit ×{count} (CLI)"):
            for index in range(count):
                _ref, took = giftkit.submit(giftkit.sample_order(index), base, ledger, env)
                submit_times.append(took)
        with progress.step(f"gift work --until-idle --workers {workers}: {count} orders, offline providers"):
            ran = giftkit.work_until_idle(ledger, out, env, base, workers)
        if ran.returncode != 0:
            raise NotAvailable(f"`gift work` exited {ran.returncode}: {tail(ran.stderr or ran.stdout, 4)}")
        done = giftkit.records(ledger)
    published = [r for r in done if r.state == "published"]
    table = Table(f"Gift generation: {count} orders through the offline provider, end to end",
                  ["orders published", "`gift work` wall", "orders/s", "attempt (p50)", "in providers (p50)",
                   "outside providers p50", "p95", "max", "target", "verdict"])
    if not published:
        states = ", ".join(sorted({f"{r.state}:{r.reason}" for r in done}))
        table.add(f"0 of {count}", seconds(ran.seconds), "—", "—", "—", "—", "—", "—", "< 300 ms per order",
                  f"MISSED: nothing published ({states})")
        return [table]
    attempts = [float(r.timings.get("attempt_s", 0.0)) for r in published]
    provider = [sum(float(v) for k, v in r.timings.items() if k.endswith("_s") and k not in NOT_PROVIDER)
                for r in published]
    outside = [a - p for a, p in zip(attempts, provider, strict=True)]
    p95 = percentile(outside, 95)
    table.add(f"{len(published)} of {count}", seconds(ran.seconds), f"{len(published) / ran.seconds:.2f}",
              millis(median(attempts), 0), millis(median(provider), 0), millis(median(outside), 0), millis(p95, 0),
              millis(max(outside), 0), "< 300 ms per order", "met" if p95 < OUTSIDE_TARGET else "MISSED")
    stages = sorted({k for r in published for k in r.timings if k.endswith("_s") and k not in NOT_PROVIDER})
    table.notes.append(f"one `gift work --until-idle --workers {workers}` process (threads); wall clock includes its "
                       f"start-up; orders submitted beforehand with `gift submit` (CLI, median "
                       f"{seconds(median(submit_times))} each)")
    table.notes.append(f"'in providers' = the provider stages the ledger records ({', '.join(stages) or 'none'}); "
                       "'outside' = the attempt minus those: order parsing, guard, media, page render, publish, "
                       "ledger writes")
    if len(published) < count:
        table.notes.append(f"{count - len(published)} order(s) not published: "
                           + ", ".join(sorted({f'{r.state}:{r.reason}' for r in done if r.state != 'published'})))
    return [table]
