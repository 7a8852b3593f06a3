"""One claiming process of the ledger bench: `python -m benchmarks.claimer LOCATION THREADS`.

Each thread claims queued orders with the worker's own `claim()` until none is left; prints one JSON line:
{"claimed": N, "latencies": [...], "first": t, "last": t} (wall-clock times of the first and last claim).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from builder.jobs.envelope import Envelope
from builder.jobs.ledger import open_ledger
from builder.jobs.settings import JobSettings
from builder.jobs.worker import Worker


def main(location: str, threads: int) -> None:
    from cryptography.fernet import Fernet

    ledger = open_ledger(location)
    worker = Worker(ledger, Envelope(Fernet.generate_key()), lambda context: None,  # type: ignore[arg-type,return-value]
                    JobSettings(lease_s=3600.0), Path("."))
    latencies: list[float] = []
    stamps: list[float] = []
    mutex = threading.Lock()

    def claim_all() -> None:
        while True:
            started = time.perf_counter()
            record = worker.claim()
            spent = time.perf_counter() - started
            if record is None:
                return
            with mutex:
                latencies.append(spent)
                stamps.append(time.time())

    pool = [threading.Thread(target=claim_all) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    ledger.close()
    first = min(stamps, default=0.0) - (latencies[0] if latencies else 0.0)
    print(json.dumps({"claimed": len(latencies), "latencies": latencies, "first": first,
                      "last": max(stamps, default=0.0)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
