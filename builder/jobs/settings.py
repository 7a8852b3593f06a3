"""Job settings: `JobSettings` lives in `builder.settings` (the one environment loader); this re-exports it.

`load_settings(env)` returns just the job part of `builder.settings.load_settings(env)`, for tests and callers
that only need leases, retries and the queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from builder import settings as _settings
from builder.settings import DEFAULT_LEDGER_DIR, QUEUES, JobSettings, Settings

__all__ = ["DEFAULT_LEDGER_DIR", "QUEUES", "JobSettings", "ledger_location", "load_settings"]


def load_settings(env: Mapping[str, str]) -> JobSettings:
    """The GIFT_* job settings from `env`; invalid values are a ConfigError naming the variable."""
    return _settings.load_settings(env).jobs


def ledger_location(flag: str | Path | None, settings: Settings) -> str:
    """`--ledger`, else GIFT_LEDGER_URL, else the default folder: a folder path or a `postgresql://` URL."""
    return str(flag or "").strip() or settings.ledger_url or str(DEFAULT_LEDGER_DIR)
