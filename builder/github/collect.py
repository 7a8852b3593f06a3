"""Read what the content links (plus the repository data the archive needs) into a Snapshot.

Requests, in order: the token check, the repository, one per linked issue/PR, one per workflow file,
one for check runs (when any are linked), one per milestone, then seven for the archive (merged pull
requests, workflow runs, releases, languages, top-level contents, README, recent commits).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from builder.github.archive import FAILING, PULL_REQUEST_EVENTS, first_paragraph
from builder.github.client import GitHubReader
from builder.github.links import Wanted
from builder.github.snapshot import (
    Check,
    Commit,
    LinkedIssue,
    MergedPull,
    Milestone,
    Release,
    Run,
    Snapshot,
    SourceInfo,
    format_time,
)

RECENT_RUNS = 10
RECENT_COMMITS = 10
ARCHIVE_REQUESTS = 7


def expected_requests(wanted: Wanted) -> int:
    """How many requests `collect_snapshot` makes for `wanted` (without retries)."""
    checks = 1 if wanted.checks else 0
    return 2 + len(wanted.refs) + len(wanted.workflows) + checks + len(wanted.milestones) + ARCHIVE_REQUESTS


def collect_snapshot(reader: GitHubReader, wanted: Wanted, now: datetime) -> Snapshot:
    budget = reader.verify_token()  # before anything else is read
    budget.require(expected_requests(wanted) - 1)  # fail before a half-read sync, not in the middle of one
    repo = reader.read("", reader.settings.repository)
    default_branch = str(repo.get("default_branch") or "main")
    runs_page = reader.first_page("/actions/runs", "workflow runs")
    all_runs = [run_of(item) for item in runs_page.get("workflow_runs", [])]
    return Snapshot(
        repository=reader.settings.repository,
        fetched_at=format_time(now),
        issues={ref: read_issue(reader, ref) for ref in wanted.refs},
        workflows={name: read_workflow(reader, name, default_branch) for name in wanted.workflows},
        checks=read_checks(reader, default_branch, wanted.checks) if wanted.checks else {},
        milestones={str(number): read_milestone(reader, number) for number in wanted.milestones},
        pulls=read_merged_pulls(reader, all_runs),
        releases=read_releases(reader, all_runs),
        source=read_source(reader, repo),
    )


def read_issue(reader: GitHubReader, ref: str) -> LinkedIssue:
    repository, _, number = ref.partition("#")
    data = reader.read_optional(f"/issues/{number}", ref, repository=repository)
    if data is None:
        return LinkedIssue(ref=ref, kind="unknown", state="missing")
    pull = data.get("pull_request")
    state = data.get("state", "open")
    if pull is not None and pull.get("merged_at"):
        state = "merged"
    elif pull is not None and state == "open" and data.get("draft"):
        state = "draft"
    return LinkedIssue(
        ref=ref,
        kind="pull" if pull is not None else "issue",
        state=state,
        title=str(data.get("title") or ""),
        url=str(data.get("html_url") or ""),
        closed_at=data.get("closed_at"),
    )


def run_of(item: dict[str, Any]) -> Run:
    return Run(
        id=int(item["id"]), name=str(item.get("name") or ""), path=str(item.get("path") or ""),
        event=str(item.get("event") or ""), status=str(item.get("status") or ""), conclusion=item.get("conclusion"),
        created_at=item["created_at"], started_at=item.get("run_started_at"), updated_at=item["updated_at"],
        head_sha=str(item.get("head_sha") or ""), head_branch=item.get("head_branch"),
        url=str(item.get("html_url") or ""),
    )


def read_workflow(reader: GitHubReader, workflow: str, default_branch: str) -> list[Run]:
    """The latest runs of `workflow` on the default branch: a pull request's run is never a gate's evidence."""
    page = reader.read(f"/actions/workflows/{workflow}/runs", f"workflow {workflow}",
                       parameters={"per_page": RECENT_RUNS, "branch": default_branch})
    items = [item for item in page.get("workflow_runs", [])
             if on_default_branch(item, reader.settings.repository, default_branch)]
    return [run_of(item) for item in items][:RECENT_RUNS]


def on_default_branch(item: dict[str, Any], repository: str, default_branch: str) -> bool:
    """A run of this repository's default branch; `branch=` alone also matches a fork's pull request from its
    own `main`, so the event and the head repository are checked too."""
    head_repository = (item.get("head_repository") or {}).get("full_name")
    return (item.get("head_branch") == default_branch and str(item.get("event") or "") not in PULL_REQUEST_EVENTS
            and (head_repository is None or head_repository.lower() == repository.lower()))


def read_checks(reader: GitHubReader, branch: str, names: tuple[str, ...]) -> dict[str, Check]:
    page = reader.first_page(f"/commits/{branch}/check-runs", f"check runs on {branch}")
    latest: dict[str, Check] = {}
    for item in page.get("check_runs", []):
        name = str(item.get("name") or "")
        if name not in names:
            continue
        check = Check(name=name, status=str(item.get("status") or ""), conclusion=item.get("conclusion"),
                      completed_at=item.get("completed_at"), url=str(item.get("html_url") or ""))
        previous = latest.get(name)
        if previous is None or (check.completed_at or "~") > (previous.completed_at or "~"):
            latest[name] = check
    return latest


def read_milestone(reader: GitHubReader, number: int) -> Milestone:
    data = reader.read(f"/milestones/{number}", f"milestone {number}")
    return Milestone(
        number=number, title=str(data.get("title") or ""), state=str(data.get("state") or ""),
        open_issues=int(data.get("open_issues") or 0), closed_issues=int(data.get("closed_issues") or 0),
        due_on=data.get("due_on"), url=str(data.get("html_url") or ""),
    )


def combined_conclusion(runs: list[Run]) -> str | None:
    """One word for several runs of one commit: failing if any failed, success only if all succeeded."""
    conclusions = [run.conclusion for run in runs]
    if not conclusions:
        return None
    for conclusion in conclusions:
        if conclusion in FAILING:
            return conclusion
    if all(conclusion == "success" for conclusion in conclusions):
        return "success"
    if any(conclusion is None for conclusion in conclusions):
        return None  # still running
    return sorted(c for c in conclusions if c)[0]


def read_merged_pulls(reader: GitHubReader, runs: list[Run]) -> list[MergedPull]:
    page = reader.first_page("/pulls", "pull requests",
                             parameters={"state": "closed", "sort": "updated", "direction": "desc"})
    pulls = []
    for item in page:
        if not item.get("merged_at"):
            continue
        shas = {item.get("merge_commit_sha"), (item.get("head") or {}).get("sha")} - {None}
        pulls.append(MergedPull(
            number=int(item["number"]), title=str(item.get("title") or ""), merged_at=item["merged_at"],
            url=str(item.get("html_url") or ""), ci=combined_conclusion([r for r in runs if r.head_sha in shas]),
        ))
    return sorted(pulls, key=lambda pull: (pull.merged_at, pull.number), reverse=True)


def read_releases(reader: GitHubReader, runs: list[Run]) -> list[Release]:
    page = reader.first_page("/releases", "releases")
    releases = []
    for item in page:
        if item.get("draft") or not item.get("published_at"):
            continue
        tag = str(item.get("tag_name") or "")
        releases.append(Release(
            tag=tag, name=str(item.get("name") or ""), published_at=item["published_at"],
            url=str(item.get("html_url") or ""), prerelease=bool(item.get("prerelease")),
            ci=combined_conclusion([run for run in runs if run.head_branch == tag]),
        ))
    return sorted(releases, key=lambda release: (release.published_at, release.tag), reverse=True)


def read_source(reader: GitHubReader, repo: dict[str, Any]) -> SourceInfo:
    languages = reader.read("/languages", "languages")
    contents = reader.read_optional("/contents/", "top-level contents") or []
    readme = reader.read_optional("/readme", "README")
    commits = reader.read("/commits", "recent commits", parameters={"per_page": RECENT_COMMITS})
    return SourceInfo(
        full_name=str(repo.get("full_name") or reader.settings.repository),
        description=str(repo.get("description") or ""),
        url=str(repo.get("html_url") or ""),
        default_branch=str(repo.get("default_branch") or "main"),
        size_kb=int(repo.get("size") or 0),
        pushed_at=repo.get("pushed_at"),
        # PyGithub adds the request URL as "url" to GET objects; language sizes are the integer values
        languages={str(name): size for name, size in languages.items() if isinstance(size, int)},
        layout=sorted((str(entry["name"]), "dir" if entry.get("type") == "dir" else "file") for entry in contents),
        readme_intro=first_paragraph(decode_readme(readme)) if readme else "",
        recent_commits=[commit_of(item) for item in commits[:RECENT_COMMITS]],
    )


def decode_readme(data: dict[str, Any]) -> str:
    if data.get("encoding") != "base64":
        return str(data.get("content") or "")
    try:
        return base64.b64decode(str(data.get("content") or "")).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def commit_of(item: dict[str, Any]) -> Commit:
    commit = item.get("commit") or {}
    author = item.get("author") or {}
    dated = commit.get("committer") or commit.get("author") or {}
    message = str(commit.get("message") or "").splitlines()
    return Commit(
        sha=str(item.get("sha") or "")[:7],
        message=message[0] if message else "",
        date=str(dated.get("date") or ""),
        author=str(author.get("login") or "unknown"),  # the login only: commit e-mails stay out
    )
