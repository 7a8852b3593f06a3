"""One Actions run of the pool bench, standing in for a run the dispatcher started:
`python -m benchmarks.pool_worker LOCATION K LATENCY_MIN_S LATENCY_MAX_S`.

The worker is the real `Worker` (claims with FOR UPDATE SKIP LOCKED, renewed leases, fenced outcomes) with K
threads until the queue is empty; its processor opens the order's envelope and waits a provider latency drawn
from [min, max] (the providers' seconds scaled down), then reports a published gift (no page is rendered: the
bench measures the pool, not the pipeline). Prints one JSON line {"attempts": N}.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from builder.gifts.contracts import ProviderTiming, PublishedGift
from builder.jobs.envelope import open_envelope
from builder.jobs.ledger import open_ledger
from builder.jobs.worker import JobContext, Worker
from builder.settings import load_settings


def main(location: str, workers: int, low: float, high: float) -> None:
    settings = load_settings()
    rng = random.Random()

    def process(context: JobContext) -> PublishedGift:
        wait = rng.uniform(low, high)
        time.sleep(wait)
        timing = ProviderTiming(stage="audio", provider="scaled", seconds=wait, outcome="ok")
        return PublishedGift(token=context.token, url_path=f"gifts/{context.token}/", files=[], timings=[timing])

    ledger = open_ledger(location)
    try:
        summary = Worker(ledger, open_envelope(settings), process, settings.jobs, Path(".")).run(
            until_idle=True, workers=workers, poll_s=0.05)
    finally:
        ledger.close()
    print(json.dumps({"attempts": summary.attempts}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
