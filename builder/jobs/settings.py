"""Job settings: `JobSettings` lives in `builder.settings` (the one environment loader); this re-exports it.

`load_settings(env)` returns just the job part of `builder.settings.load_settings(env)`, for tests and callers
that only need leases, retries and the queue.
"""

from __future__ import annotations

from collections.abc import Mapping

from builder import settings as _settings
from builder.settings import DEFAULT_LEDGER_DIR, QUEUES, JobSettings

__all__ = ["DEFAULT_LEDGER_DIR", "QUEUES", "JobSettings", "load_settings"]


def load_settings(env: Mapping[str, str]) -> JobSettings:
    """The GIFT_* job settings from `env`; invalid values are a ConfigError naming the variable."""
    return _settings.load_settings(env).jobs
