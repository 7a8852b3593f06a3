"""A worker process for the exactly-once chaos test: drains a ledger forever, each attempt making its song with
the real `PredictionsAudioProvider` (intent recorded in the ledger, sent as the Idempotency-Key) and publishing a
page, until SIGKILLed.

Usage: python -m tests.fakes.predictions_worker LEDGER(DIR|URL) OUT PREDICTIONS_URL
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from builder.gifts.contracts import Brief, Lyrics, PublishedGift, Style
from builder.gifts.providers.http import Timeouts
from builder.gifts.providers.predictions import PredictionsAudioProvider
from builder.gifts.publisher import LocalPublisher
from builder.jobs.envelope import open_envelope
from builder.jobs.ledger import open_ledger
from builder.jobs.worker import JobContext, Processor, Worker
from builder.settings import load_settings

BRIEF = Brief("Maya", "Jon", "birthday", Style("folk", "warm", "medium"), "a day at sea", seed=7)


def processor(provider: PredictionsAudioProvider) -> Processor:
    def process(context: JobContext) -> PublishedGift:
        lyrics = Lyrics(title="A song", text=f"[Verse]\nfor {context.token[:8]}", provider="offline")
        clip = provider.compose(BRIEF, lyrics, journal=context.journal)
        page = f"<p>{clip.prediction_id}</p>".encode()
        return LocalPublisher(context.out_dir).publish(context.token, {"index.html": page}, go_live=context.go_live)

    return process


def main() -> None:
    ledger_at, out_dir, url = sys.argv[1:4]
    settings = load_settings()
    provider = PredictionsAudioProvider(base_url=url, timeouts=Timeouts(connect_s=1.0, total_s=1.5),
                                        poll_interval_s=0.02)
    worker = Worker(open_ledger(ledger_at), open_envelope(settings), processor(provider), settings.jobs,
                    Path(out_dir))
    print(f"worker {os.getpid()} ready", flush=True)
    worker.run(until_idle=False, workers=2, poll_s=0.02)


if __name__ == "__main__":
    main()
