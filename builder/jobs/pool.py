"""Runs are workers: the dispatcher starts `generate.yml` runs by queue depth (`gift dispatch`).

Each run is a worker (`gift work --workers K --time-budget S`) that drains due orders from the ledger, so a
dispatch carries no order: only why it was started. One cycle (`dispatch_cycle`):

1. runs wanted = ceil((due + running orders) / K), at most GIFT_MAX_RUNNERS;
2. runs already there = the workflow's queued and in-progress runs (GitHub's runs API, read-only), plus
   dispatches of the last PENDING_S seconds the runs API does not list yet (a 204 names no run);
3. dispatch the difference, one request at a time, at most MAX_PER_MINUTE a minute and MAX_PER_HOUR an hour
   (under GitHub's documented secondary limits: 80 content-creating requests a minute, 500 an hour), each
   recorded in the ledger before the next is sent.

Answers (`classify`): only a 2xx is a dispatch. 200 must carry `workflow_run_id`; 204 is "dispatched, run id
unknown". 3xx, 401, 403, 404 and 422 are permanent: the dispatcher is `blocked` with the reason (moved
repository, bad token, disabled workflow or a token without `actions: write`, missing workflow, bad input),
listed under needs-attention in `ops summary` and on the ops page, and tried again with backoff
(BLOCKED_BASE_S doubling to BLOCKED_CAP_S), not every cycle. 429 and secondary limits (403 with `Retry-After`
or `x-ratelimit-remaining: 0`) make it `rate_limited` until `Retry-After` (or the reset) has passed. 5xx and
transport errors may have dispatched: they count as pending (never dispatched twice for one need) and the
cycle stops. The state is durable in the ledger (`Ledger.dispatcher`), on both backends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from builder.errors import ConfigError
from builder.gifts.providers.http import parse_retry_after
from builder.jobs.ledger import Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.states import State

log = logging.getLogger("giftboard.jobs.pool")
API_VERSION = "2022-11-28"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
PENDING_S = 120.0  # a dispatched run the runs API does not list yet still counts for this long
MAX_PER_MINUTE = 60
MAX_PER_HOUR = 400
BLOCKED_BASE_S = 300.0
BLOCKED_CAP_S = 6 * 3600.0
DEFAULT_RETRY_AFTER_S = 60.0
IN_PROGRESS = ("queued", "in_progress")

PERMANENT_REASONS = {
    401: "bad_token (HTTP 401: the dispatch token is invalid or expired)",
    404: "missing_workflow (HTTP 404: no such workflow, repository or ref, or the token cannot see it)",
    422: "bad_input (HTTP 422: the workflow refused the inputs or the ref)",
}


@dataclass(frozen=True)
class Answer:
    """A dispatch answer, classified."""

    kind: str  # dispatched | blocked | rate_limited | unknown
    run_id: int = 0  # 0: dispatched without a run id (204), or not dispatched
    reason: str = ""
    retry_after: float | None = None


def classify(status: int, headers: httpx.Headers, body: bytes) -> Answer:
    """What a `POST …/dispatches` answer means (see the module docstring)."""
    if status == 204:
        return Answer("dispatched")
    if 200 <= status < 300:
        try:
            data = httpx.Response(status, content=body).json()
            run_id = int(data["workflow_run_id"])
        except (ValueError, TypeError, KeyError):
            # it did dispatch, but without the promised id: counted as pending, never re-sent for this need
            return Answer("dispatched", reason="dispatched without a workflow_run_id")
        return Answer("dispatched", run_id=run_id)
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status == 429 or (status == 403 and (retry_after is not None
                                            or headers.get("x-ratelimit-remaining") == "0")):
        if retry_after is None and headers.get("x-ratelimit-reset", "").isdigit():
            retry_after = max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
        return Answer("rate_limited", reason=f"rate_limited (HTTP {status})",
                      retry_after=DEFAULT_RETRY_AFTER_S if retry_after is None else retry_after)
    if 300 <= status < 400:
        return Answer("blocked", reason=f"redirected (HTTP {status}: the repository moved or was renamed; "
                                        "set GITHUB_REPOSITORY to its new name)")
    if status == 403:
        message = body.decode("utf-8", "replace").lower()
        if "disabled" in message:
            return Answer("blocked", reason="disabled_workflow (HTTP 403: enable generate.yml in Actions)")
        return Answer("blocked", reason="forbidden (HTTP 403: the token lacks actions: write)")
    if status in PERMANENT_REASONS:
        return Answer("blocked", reason=PERMANENT_REASONS[status])
    return Answer("unknown", reason=f"http_{status}")


class GitHubRuns:
    """The two Actions REST calls the dispatcher makes: list the workflow's runs, dispatch one."""

    def __init__(self, settings: JobSettings, client: httpx.Client | None = None) -> None:
        if not settings.dispatch_token:
            raise ConfigError("GIFT_DISPATCH_TOKEN is not set: the dispatcher needs a token with actions: write "
                              "(on Actions: GIFT_DISPATCH_TOKEN: ${{ github.token }}; see the README)")
        owner, _, repo = settings.github_repository.partition("/")
        if not owner or not repo:
            raise ConfigError("GITHUB_REPOSITORY must be owner/name to dispatch workflows")
        self.settings = settings
        self.workflow = settings.workflow_file
        self._base = f"{settings.github_api_url}/repos/{owner}/{repo}/actions/workflows/{settings.workflow_file}"
        self._client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self._headers = {"Authorization": f"Bearer {settings.dispatch_token}",
                         "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}

    def __repr__(self) -> str:
        return f"GitHubRuns({self._base!r})"

    def active_runs(self) -> set[int] | Answer:
        """Ids of the workflow's queued and in-progress runs, or the classified answer that refused them."""
        found: set[int] = set()
        for status in IN_PROGRESS:
            try:
                response = self._client.get(f"{self._base}/runs", headers=self._headers,
                                            params={"status": status, "per_page": 100})
            except httpx.HTTPError as error:
                return Answer("unknown", reason=f"runs lookup failed ({type(error).__name__})")
            if response.status_code != 200:
                answer = classify(response.status_code, response.headers, response.content)
                return answer if answer.kind != "dispatched" else Answer("unknown", reason="runs lookup")
            try:
                found |= {int(run["id"]) for run in response.json()["workflow_runs"]}
            except (ValueError, TypeError, KeyError):
                return Answer("unknown", reason="runs lookup answered malformed JSON")
        return found

    def dispatch(self, purpose: str) -> Answer:
        body = {"ref": self.settings.workflow_ref, "inputs": {"purpose": purpose}, "return_run_details": True}
        try:
            response = self._client.post(f"{self._base}/dispatches", headers=self._headers, json=body)
        except httpx.HTTPError as error:
            return Answer("unknown", reason=f"dispatch outcome unknown ({type(error).__name__})")
        return classify(response.status_code, response.headers, response.content)


@dataclass
class CycleReport:
    wanted: int = 0
    active: int = 0
    pending: int = 0
    dispatched: int = 0
    status: str = "ok"
    reason: str = ""
    lines: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"wanted": self.wanted, "active": self.active, "pending": self.pending,
                "dispatched": self.dispatched, "status": self.status, "reason": self.reason}


def runs_wanted(ledger: Ledger, settings: JobSettings, now: float) -> tuple[int, int]:
    """(orders that want a worker: due now plus running, runs wanted for them)."""
    figures = ledger.figures(now)
    work = ledger.count_due(now) + figures.by_state.get(str(State.RUNNING), 0)
    return work, min(settings.max_runners, math.ceil(work / max(1, settings.workers_per_run)))


def dispatch_cycle(ledger: Ledger, runs: GitHubRuns, settings: JobSettings, *,
                   sleep: Callable[[float], None] = time.sleep) -> CycleReport:
    """One dispatcher cycle (see the module docstring); every change of state is saved before going on."""
    report = CycleReport()
    with ledger.dispatcher(runs.workflow) as slot:
        if slot is None:
            report.status, report.reason = "busy", "another dispatcher is running this cycle"
            return report
        state = dict(slot.state)
        now = ledger.clock()
        if state.get("status") in ("blocked", "rate_limited") and float(state.get("next_try_at", 0)) > now:
            report.status, report.reason = str(state["status"]), str(state.get("reason", ""))
            report.lines.append(f"{report.status}: {report.reason}; next try in "
                                f"{float(state['next_try_at']) - now:.0f} s")
            return report
        work, report.wanted = runs_wanted(ledger, settings, now)
        active = runs.active_runs()
        if isinstance(active, Answer):
            _refused(slot, state, active, now, report)
            return report
        recent = [d for d in state.get("pending", []) if now - float(d["at"]) < PENDING_S
                  and int(d.get("run_id") or 0) not in active]
        report.active, report.pending = len(active), len(recent)
        sent = [float(t) for t in state.get("sent", []) if now - float(t) < 3600.0]
        missing = report.wanted - report.active - report.pending
        for n in range(max(0, missing)):
            now = ledger.clock()
            if sum(1 for t in sent if now - t < 60.0) >= MAX_PER_MINUTE or len(sent) >= MAX_PER_HOUR:
                report.lines.append("dispatch budget for this minute or hour used; the rest next cycle")
                break
            if n:
                sleep(settings.dispatch_interval_s)  # serial and spaced, as GitHub asks of integrations
            answer = runs.dispatch(f"queue depth {work}")
            if answer.kind in ("dispatched", "unknown"):
                # a 5xx or a lost answer may have started a run: counted as pending, never sent twice
                sent.append(now)
                recent.append({"at": now, "run_id": answer.run_id})
            if answer.kind == "dispatched":
                report.dispatched += 1
                state.update(status="ok", reason="", failures=0, since=now, pending=recent, sent=sent,
                             last_dispatch_at=now, last_run_id=answer.run_id or state.get("last_run_id", 0))
                slot.save(state)
                report.lines.append(f"dispatched run {answer.run_id or '(id unknown: 204)'}"
                                    + (f"; {answer.reason}" if answer.reason else ""))
                continue
            state.update(pending=recent, sent=sent)
            _refused(slot, state, answer, now, report)
            return report
        state.setdefault("status", "ok")  # a blocked dispatcher stays so until a dispatch goes through
        state.update(pending=recent, sent=sent, checked_at=now)
        slot.save(state)
        report.status, report.reason = str(state["status"]), str(state.get("reason", ""))
        report.lines.append(f"{work} order(s) want workers: {report.wanted} run(s) wanted, {report.active} "
                            f"active, {report.pending} starting, {report.dispatched} dispatched now")
        return report


def _refused(slot: Any, state: dict[str, Any], answer: Answer, now: float, report: CycleReport) -> None:
    """Record a refusal: blocked with backoff, rate-limited until Retry-After, or unknown (next cycle)."""
    if answer.kind == "blocked":
        failures = int(state.get("failures") or 0) + 1 if state.get("status") == "blocked" else 1
        delay = min(BLOCKED_BASE_S * 2 ** (failures - 1), BLOCKED_CAP_S)
        since = state.get("since", now) if state.get("status") == "blocked" else now
        state.update(status="blocked", reason=answer.reason, failures=failures, since=since,
                     next_try_at=now + delay)
        log.error("dispatcher blocked: %s; next try in %.0f s", answer.reason, delay)
    elif answer.kind == "rate_limited":
        delay = answer.retry_after if answer.retry_after is not None else DEFAULT_RETRY_AFTER_S
        since = state.get("since", now) if state.get("status") == "rate_limited" else now
        state.update(status="rate_limited", reason=answer.reason, since=since, next_try_at=now + delay,
                     failures=int(state.get("failures") or 0) + 1)
        log.warning("dispatcher rate limited; next try in %.0f s (Retry-After)", delay)
    else:
        state.update(last_error=answer.reason, last_error_at=now)
        log.warning("dispatch: %s; counted as pending, next cycle decides", answer.reason)
    slot.save(state)
    report.status, report.reason = str(state.get("status", "ok")), answer.reason
    report.lines.append(f"{answer.kind}: {answer.reason}")
