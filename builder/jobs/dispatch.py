"""Production queue: look up an Actions run (reconcile: did the run that held an order end?).

Dispatching runs is the dispatcher's (builder/jobs/pool.py). Only GIFT_DISPATCH_TOKEN is used; the board's
read-only GITHUB_TOKEN is never read here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from builder.errors import ConfigError, DispatchError
from builder.jobs.settings import JobSettings

log = logging.getLogger("giftboard.jobs.dispatch")
API_VERSION = "2022-11-28"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class RunState:
    status: str  # queued | in_progress | completed | …
    conclusion: str  # "" until completed; success | failure | cancelled | timed_out | …


class Dispatcher(Protocol):
    def run_state(self, run_id: int) -> RunState: ...


class GitHubDispatcher:
    """Looks runs up, with timeouts everywhere."""

    def __init__(self, settings: JobSettings, client: httpx.Client | None = None) -> None:
        if not settings.dispatch_token:
            raise ConfigError("GIFT_DISPATCH_TOKEN is not set (GITHUB_TOKEN is never used to dispatch)")
        owner, _, repo = settings.github_repository.partition("/")
        if not owner or not repo:
            raise ConfigError("GITHUB_REPOSITORY must be owner/name to dispatch workflows")
        self._base = f"{settings.github_api_url}/repos/{owner}/{repo}/actions"
        self._client = client or httpx.Client(timeout=TIMEOUT)
        self._headers = {
            "Authorization": f"Bearer {settings.dispatch_token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def __repr__(self) -> str:
        return f"GitHubDispatcher({self._base!r})"

    def run_state(self, run_id: int) -> RunState:
        try:
            response = self._client.get(f"{self._base}/runs/{run_id}", headers=self._headers)
        except httpx.TimeoutException:
            raise DispatchError("timeout") from None
        except httpx.HTTPError:
            raise DispatchError("connection_error") from None
        if response.status_code >= 400:
            raise DispatchError(f"http_{response.status_code}")
        try:
            data = response.json()
            return RunState(status=str(data.get("status") or ""), conclusion=str(data.get("conclusion") or ""))
        except (ValueError, TypeError, AttributeError):
            raise DispatchError("malformed_response") from None
