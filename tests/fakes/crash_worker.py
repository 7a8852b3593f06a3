"""A worker process for the crash test: drains a ledger forever with the HTTP processor until killed.

Usage: python -m tests.fakes.crash_worker LEDGER(DIR|URL) OUT PROVIDER_URL
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from builder.jobs.envelope import open_envelope
from builder.jobs.ledger import open_ledger
from builder.jobs.worker import Worker
from builder.settings import load_settings
from tests.fakes.job_processor import HttpProcessor


def main() -> None:
    ledger_dir, out_dir, provider_url = sys.argv[1:4]
    settings = load_settings()  # this process's environment, as the CLI reads it
    worker = Worker(open_ledger(ledger_dir), open_envelope(settings), HttpProcessor(provider_url, timeout_s=1.0),
                    settings.jobs, Path(out_dir))
    print(f"worker {os.getpid()} ready", flush=True)
    worker.run(until_idle=False, workers=2, poll_s=0.02)


if __name__ == "__main__":
    main()
