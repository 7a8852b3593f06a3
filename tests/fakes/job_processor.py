"""A stand-in generation step for job tests: calls a provider over HTTP and publishes a page atomically.

`publish_page` follows the real publisher's rules (staging folder, then rename into gifts/<token>/);
`HttpProcessor` publishes with the real `LocalPublisher` inside the attempt's go-live guard. Every publish is
also logged to <out>/publish.log so tests can count them per token.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx

from builder.errors import ProviderError
from builder.gifts.contracts import ProviderTiming, PublishedGift
from builder.gifts.publisher import LocalPublisher
from builder.jobs.worker import JobContext


def publish_page(out_dir: Path, token: str, html: str) -> PublishedGift:
    gifts = out_dir / "gifts"
    gifts.mkdir(parents=True, exist_ok=True)
    staging = gifts / f".staging-{token}-{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir()
    (staging / "index.html").write_text(html, encoding="utf-8")
    target = gifts / token
    if target.exists():
        shutil.rmtree(staging)  # idempotent: the page for this token already exists
    else:
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return PublishedGift(token=token, url_path=f"gifts/{token}/", files=["index.html"], timings=[])


class HttpProcessor:
    """Calls `provider_url` once per attempt; 5xx and timeouts are retryable ProviderErrors."""

    def __init__(self, provider_url: str, *, timeout_s: float = 2.0) -> None:
        self.provider_url = provider_url
        self.timeout = httpx.Timeout(timeout_s, connect=1.0)

    def __call__(self, context: JobContext) -> PublishedGift:
        started = time.monotonic()
        try:
            response = httpx.post(self.provider_url + "/generate", json={"seed": context.attempt},
                                  timeout=self.timeout)
        except httpx.HTTPError:
            raise ProviderError("provider unreachable", retryable=True, category="provider_timeout") from None
        if response.status_code >= 500:
            raise ProviderError("provider 5xx", retryable=True, category="provider_5xx")
        html = f"<p>{response.json()['lyrics']}</p>".encode()
        # the real publisher: the page goes live inside the attempt's ownership of the order (go_live)
        gift = LocalPublisher(context.out_dir).publish(context.token, {"index.html": html}, go_live=context.go_live)
        with (context.out_dir / "publish.log").open("a") as log:
            log.write(f"{context.ref} {context.token}\n")
        timing = ProviderTiming(stage="lyrics", provider="fake", seconds=time.monotonic() - started, outcome="ok")
        return PublishedGift(token=gift.token, url_path=gift.url_path, files=gift.files, timings=[timing])
