"""Pure functions over a gate's linked evidence: a one-line summary, the items, and contradictions.

"3 of 4 linked issues closed, last CI run green"; and when a gate is declared `complete` while a linked
issue is open, a linked check/workflow is failing, or a declared check or workflow never ran on the default
branch (no evidence), a message saying so. Only default-branch runs count: a pull request's run is someone's
work in progress, neither proof that a gate is done nor a reason to hide a red default branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from builder.content.models import Evidence
from builder.github.archive import FAILING, PULL_REQUEST_EVENTS
from builder.github.refs import STATE_LABELS, issue_url
from builder.github.snapshot import Check, LinkedIssue, Milestone, Run, Snapshot, parse_time

DONE = frozenset({"closed", "merged"})
RUN_WORDS = {"success": "green", "failure": "failed", "timed_out": "timed out", "cancelled": "cancelled",
             "skipped": "skipped", "neutral": "neutral", "action_required": "waiting for approval",
             "startup_failure": "failed to start"}


@dataclass(frozen=True)
class LinkView:
    ref: str
    url: str
    state: str | None  # None: the snapshot does not have it
    state_label: str
    title: str


@dataclass(frozen=True)
class RunView:
    name: str
    url: str
    status: str
    conclusion: str | None
    word: str  # "green", "failed", "in progress" …
    created_at: str
    duration: str  # "3m 12s", "" while running
    queued: str  # time between creation and start


@dataclass(frozen=True)
class CheckView:
    name: str
    url: str
    word: str
    failing: bool


@dataclass(frozen=True)
class MilestoneView:
    title: str
    url: str
    state: str
    open_issues: int
    closed_issues: int
    due_on: str | None


@dataclass(frozen=True)
class EvidenceView:
    """What the evidence partial shows for one item; `contradiction` is a message or None."""

    summary: str
    links: tuple[LinkView, ...] = ()
    workflow: str | None = None
    runs: tuple[RunView, ...] = ()
    checks: tuple[CheckView, ...] = ()
    milestone: MilestoneView | None = None
    contradiction: str | None = None
    fetched_at: str | None = None
    live: bool = True  # False when there is no snapshot: links only, no states


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _between(start: str | None, end: str | None) -> timedelta | None:
    if not start or not end:
        return None
    return parse_time(end) - parse_time(start)


def run_view(run: Run) -> RunView:
    finished = run.status == "completed"
    duration = _between(run.started_at, run.updated_at) if finished else None
    queued = _between(run.created_at, run.started_at)
    word = RUN_WORDS.get(run.conclusion or "", run.conclusion or "") if finished else run.status.replace("_", " ")
    return RunView(
        name=run.name, url=run.url, status=run.status, conclusion=run.conclusion, word=word or "unknown",
        created_at=run.created_at,
        duration=format_duration(duration.total_seconds()) if duration is not None else "",
        queued=format_duration(queued.total_seconds()) if queued is not None else "",
    )


NO_RUN = "no run on the default branch"


def default_branch_runs(snapshot: Snapshot, workflow: str) -> list[Run]:
    """The workflow's runs on the default branch, newest first (older snapshots also held other branches)."""
    branch = snapshot.source.default_branch if snapshot.source is not None else None
    return [run for run in snapshot.workflows.get(workflow, [])
            if run.event not in PULL_REQUEST_EVENTS and (branch is None or run.head_branch == branch)]


def check_view(name: str, check: Check | None) -> CheckView:
    if check is None:
        return CheckView(name=name, url="", word=NO_RUN, failing=False)
    finished = check.status == "completed"
    word = RUN_WORDS.get(check.conclusion or "", check.conclusion or "") if finished else check.status
    return CheckView(name=name, url=check.url, word=word or "unknown", failing=check.conclusion in FAILING)


def link_view(ref: str, issue: LinkedIssue | None) -> LinkView:
    if issue is None:
        return LinkView(ref=ref, url=issue_url(ref), state=None, state_label="", title="")
    return LinkView(ref=ref, url=issue_url(ref, issue), state=issue.state, state_label=STATE_LABELS[issue.state],
                    title=issue.title)


def milestone_view(milestone: Milestone) -> MilestoneView:
    return MilestoneView(title=milestone.title, url=milestone.url, state=milestone.state,
                         open_issues=milestone.open_issues, closed_issues=milestone.closed_issues,
                         due_on=milestone.due_on)


def links_phrase(issues: list[LinkedIssue]) -> str:
    found = [issue for issue in issues if issue.state != "missing"]
    missing = len(issues) - len(found)
    parts = []
    if found:
        done = sum(1 for issue in found if issue.state in DONE)
        pulls = all(issue.kind == "pull" for issue in found)
        plain = all(issue.kind == "issue" for issue in found)
        if plain:
            noun, verb = ("linked issue" if len(found) == 1 else "linked issues"), "closed"
        elif pulls:
            noun, verb = ("linked pull request" if len(found) == 1 else "linked pull requests"), "merged"
        else:
            noun, verb = "linked issues and pull requests", "done"
        parts.append(f"{done} of {len(found)} {noun} {verb}")
    if missing:
        parts.append(f"{missing} linked item{'s' if missing != 1 else ''} not found")
    return ", ".join(parts)


def summarise(evidence: Evidence, snapshot: Snapshot | None, *, status: str | None = None) -> EvidenceView | None:
    """The evidence view of one item (None when it links nothing); `status` is the gate's declared status."""
    if evidence.is_empty:
        return None
    if snapshot is None:
        return EvidenceView(
            summary="live state unknown: no GitHub snapshot",  # the CLI says how to get one; pages never do
            links=tuple(link_view(ref, None) for ref in evidence.links),
            workflow=evidence.workflow,
            live=False,
        )
    issues = [snapshot.issues.get(ref) or LinkedIssue(ref=ref, kind="unknown", state="missing")
              for ref in evidence.links]
    runs = tuple(run_view(run) for run in default_branch_runs(snapshot, evidence.workflow or ""))
    checks = tuple(check_view(name, snapshot.checks.get(name)) for name in evidence.checks)
    milestone = snapshot.milestones.get(str(evidence.milestone)) if evidence.milestone else None
    parts = [links_phrase(issues)] if issues else []
    if evidence.workflow:
        parts.append(f"last {runs[0].name or evidence.workflow} run {runs[0].word}" if runs
                     else f"no runs of {evidence.workflow} on the default branch")
    if checks:
        passing = sum(1 for check in checks if check.word == "green")
        parts.append(f"{passing} of {len(checks)} linked check{'s' if len(checks) != 1 else ''} green")
    if milestone is not None:
        total = milestone.open_issues + milestone.closed_issues
        parts.append(f"milestone {milestone.title}: {milestone.closed_issues} of {total} issues closed")
    elif evidence.milestone:
        parts.append(f"milestone {evidence.milestone} not found")
    return EvidenceView(
        summary=", ".join(part for part in parts if part),
        links=tuple(link_view(ref, issue) for ref, issue in zip(evidence.links, issues, strict=True)),
        workflow=evidence.workflow,
        runs=runs,
        checks=checks,
        milestone=milestone_view(milestone) if milestone else None,
        contradiction=contradiction(status, issues, runs, checks, milestone, workflow=evidence.workflow),
        fetched_at=snapshot.fetched_at,
    )


def contradiction(status: str | None, issues: list[LinkedIssue], runs: tuple[RunView, ...],
                  checks: tuple[CheckView, ...], milestone: Milestone | None, *,
                  workflow: str | None = None) -> str | None:
    """Why a gate declared `complete` is not, by its own evidence; None when nothing contradicts it.

    A declared workflow or check that never ran on the default branch is no evidence, and a `complete` gate
    needs evidence for what it declares.
    """
    if status != "complete":
        return None
    reasons = [f"{issue.ref} is {STATE_LABELS[issue.state]}" for issue in issues if issue.state in ("open", "draft")]
    if workflow and not runs:
        reasons.append(f"no evidence: {workflow} never ran on the default branch")
    elif runs and runs[0].conclusion in FAILING:
        reasons.append(f"the last {runs[0].name} run {runs[0].word}")
    reasons += [f"check '{check.name}' {check.word}" for check in checks if check.failing]
    reasons += [f"no evidence: check '{check.name}' never ran on the default branch"
                for check in checks if check.word == NO_RUN]
    if milestone is not None and milestone.open_issues:
        reasons.append(f"milestone {milestone.title} has {milestone.open_issues} open issue"
                       f"{'s' if milestone.open_issues != 1 else ''}")
    if not reasons:
        return None
    return "declared complete, but " + "; ".join(reasons)
