"""Production queue: dispatch generate.yml for one order through the GitHub REST API.

Only GIFT_DISPATCH_TOKEN may dispatch; the board's read-only GITHUB_TOKEN is never read here. The
dispatch carries the order ref and nothing else: inputs are visible to anyone who can read the repo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from builder.errors import ConfigError, DispatchError
from builder.jobs.ledger import Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.states import State

log = logging.getLogger("giftboard.jobs.dispatch")
API_VERSION = "2022-11-28"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# a run that ended without publishing (or was cancelled before it claimed the order) is re-dispatched


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    url: str = ""


@dataclass(frozen=True)
class RunState:
    status: str  # queued | in_progress | completed | …
    conclusion: str  # "" until completed; success | failure | cancelled | timed_out | …



class Dispatcher(Protocol):
    def dispatch(self, ref: str) -> RunInfo: ...

    def run_state(self, run_id: int) -> RunState: ...


class GitHubDispatcher:
    """Dispatches `generate.yml` with `{order_ref}` and looks runs up, with timeouts everywhere."""

    def __init__(self, settings: JobSettings, client: httpx.Client | None = None) -> None:
        if not settings.dispatch_token:
            raise ConfigError("GIFT_DISPATCH_TOKEN is not set (GITHUB_TOKEN is never used to dispatch)")
        owner, _, repo = settings.github_repository.partition("/")
        if not owner or not repo:
            raise ConfigError("GITHUB_REPOSITORY must be owner/name to dispatch workflows")
        self._settings = settings
        self._base = f"{settings.github_api_url}/repos/{owner}/{repo}/actions"
        self._client = client or httpx.Client(timeout=TIMEOUT)
        self._headers = {
            "Authorization": f"Bearer {settings.dispatch_token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def __repr__(self) -> str:
        return f"GitHubDispatcher({self._base!r})"

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._client.request(method, url, headers=self._headers, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            raise DispatchError("timeout") from None
        except httpx.HTTPError:
            raise DispatchError("connection_error") from None
        if response.status_code >= 400:
            raise DispatchError(f"http_{response.status_code}")
        return response

    def dispatch(self, ref: str) -> RunInfo:
        url = f"{self._base}/workflows/{self._settings.workflow_file}/dispatches"
        body = {"ref": self._settings.workflow_ref, "inputs": {"order_ref": ref}, "return_run_details": True}
        response = self._request("POST", url, json=body)
        if response.status_code == 204 or not response.content:
            return RunInfo(run_id=0)  # an older API answered without run details; reconcile still tracks it
        try:
            data = response.json()
            return RunInfo(run_id=int(data.get("workflow_run_id") or 0), url=str(data.get("html_url") or ""))
        except (ValueError, TypeError, AttributeError):
            raise DispatchError("malformed_response") from None

    def run_state(self, run_id: int) -> RunState:
        response = self._request("GET", f"{self._base}/runs/{run_id}")
        try:
            data = response.json()
            return RunState(status=str(data.get("status") or ""), conclusion=str(data.get("conclusion") or ""))
        except (ValueError, TypeError, AttributeError):
            raise DispatchError("malformed_response") from None


def dispatch_order(ledger: Ledger, ref: str, dispatcher: Dispatcher) -> bool:
    """Dispatch a queued order's run and record its id; on failure the order stays queued for reconcile."""
    with ledger.owned(ref) as order:
        record = order.record
        if record.state != State.QUEUED:
            return False
        try:
            run = dispatcher.dispatch(ref)
        except DispatchError as error:
            order.note("dispatch_failed", reason=error.category, attempt=record.attempts)
            log.warning("%s: dispatch failed (%s); left queued for reconcile", ref, error.category)
            return False
        order.update(run_id=run.run_id, dispatched_at=ledger.clock(), dispatches=record.dispatches + 1)
        order.note("dispatched", run_id=run.run_id, attempt=record.attempts)
        return True
