"""A worker process for the crash test: drains a ledger forever with the HTTP processor until killed.

Usage: python -m tests.fakes.crash_worker LEDGER OUT PROVIDER_URL
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from builder.jobs.envelope import load_envelope
from builder.jobs.ledger import Ledger
from builder.jobs.settings import load_settings
from builder.jobs.worker import Worker
from tests.fakes.job_processor import HttpProcessor


def main() -> None:
    ledger_dir, out_dir, provider_url = sys.argv[1:4]
    worker = Worker(Ledger(Path(ledger_dir)), load_envelope(), HttpProcessor(provider_url, timeout_s=1.0),
                    load_settings(), Path(out_dir))
    print(f"worker {os.getpid()} ready", flush=True)
    worker.run(until_idle=False, workers=2, poll_s=0.02)


if __name__ == "__main__":
    main()
