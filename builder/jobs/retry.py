"""Retry policy: exponential backoff with full jitter, a cap, a maximum number of attempts, Retry-After."""

from __future__ import annotations

import random

from builder.jobs.settings import JobSettings


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Full jitter (AWS architecture blog): uniform in [0, min(cap, base·2^(attempt-1))]."""
    ceiling = min(cap_s, base_s * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0.0, ceiling)


def retry_delay(
    attempt: int, settings: JobSettings, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before the next attempt; a provider's Retry-After is a floor we never undercut."""
    delay = backoff_delay(attempt, settings.retry_base_s, settings.retry_cap_s, rng)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, retry_after)
    return delay


def attempts_left(attempts: int, settings: JobSettings, budget_from: int = 0) -> bool:
    """Whether another attempt is allowed; `budget_from` is where support's last retry restarted the count."""
    return attempts - budget_from < settings.max_attempts
