"""Job settings from the environment (GIFT_*), with production defaults; tests set them small."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from builder.errors import ConfigError

DEFAULT_LEDGER_DIR = Path(".data/ledger")
QUEUES = ("local", "github")


@dataclass(frozen=True)
class JobSettings:
    lease_s: float = 300.0  # longer than one provider round (lyrics + audio polling), renewed while working
    retry_base_s: float = 30.0
    retry_cap_s: float = 3600.0
    max_attempts: int = 5
    queue: str = "local"
    dispatch_token: str = ""
    webhook_secret: str = ""
    github_api_url: str = "https://api.github.com"
    github_repository: str = ""
    workflow_file: str = "generate.yml"
    workflow_ref: str = "main"

    def with_lease(self, lease_s: float | None) -> JobSettings:
        return self if lease_s is None else replace(self, lease_s=lease_s)

    def __repr__(self) -> str:  # secrets never appear in reprs, logs or tracebacks
        return (
            f"JobSettings(lease_s={self.lease_s}, retry_base_s={self.retry_base_s}, "
            f"retry_cap_s={self.retry_cap_s}, max_attempts={self.max_attempts}, queue={self.queue!r})"
        )


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> JobSettings:
    """Read GIFT_* settings; invalid values are a ConfigError naming the variable, never a secret."""
    env = os.environ if env is None else env
    queue = env.get("GIFT_QUEUE", "local").strip() or "local"
    if queue not in QUEUES:
        raise ConfigError(f"GIFT_QUEUE must be one of {', '.join(QUEUES)}, got {queue!r}")
    return JobSettings(
        lease_s=_number(env, "GIFT_LEASE_S", 300.0, minimum=0.05),
        retry_base_s=_number(env, "GIFT_RETRY_BASE_S", 30.0, minimum=0.0),
        retry_cap_s=_number(env, "GIFT_RETRY_CAP_S", 3600.0, minimum=0.0),
        max_attempts=int(_number(env, "GIFT_MAX_ATTEMPTS", 5, minimum=1)),
        queue=queue,
        dispatch_token=env.get("GIFT_DISPATCH_TOKEN", ""),
        webhook_secret=env.get("GIFT_WEBHOOK_SECRET", ""),
        github_api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        github_repository=env.get("GITHUB_REPOSITORY", ""),
        workflow_file=env.get("GIFT_WORKFLOW_FILE", "generate.yml"),
        workflow_ref=env.get("GIFT_WORKFLOW_REF", "main"),
    )
