"""The GitHub snapshot: what `sync` read, as sorted JSON under .cache/, and the rule for when it is stale.

It holds only public-facing facts the pages show (states, titles, run conclusions, counts): never a
token, never an e-mail address.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from builder.atomic_files import atomic_write
from builder.errors import SourceError
from builder.github.location import MAX_AGE, SNAPSHOT_NAME, default_path

__all__ = ["MAX_AGE", "SNAPSHOT_NAME", "default_path"]  # re-exported: callers import them from here too

SNAPSHOT_VERSION = 1

IssueState = Literal["open", "closed", "merged", "draft", "missing"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkedIssue(Record):
    """An issue or pull request named as owner/repo#N; `state` folds in merged and draft."""

    ref: str
    kind: Literal["issue", "pull", "unknown"]
    state: IssueState
    title: str = ""
    url: str = ""
    closed_at: str | None = None


class Run(Record):
    """A workflow run; times are GitHub's ISO 8601 strings."""

    id: int
    name: str
    path: str
    event: str
    status: str
    conclusion: str | None
    created_at: str
    started_at: str | None
    updated_at: str
    head_sha: str
    head_branch: str | None
    url: str


class Check(Record):
    """The latest check run with a given name on the default branch."""

    name: str
    status: str
    conclusion: str | None
    completed_at: str | None
    url: str


class Milestone(Record):
    number: int
    title: str
    state: str
    open_issues: int
    closed_issues: int
    due_on: str | None
    url: str


class MergedPull(Record):
    number: int
    title: str
    merged_at: str
    url: str
    ci: str | None = None  # conclusion of the CI run for its merge commit, when one was found


class Release(Record):
    tag: str
    name: str
    published_at: str
    url: str
    prerelease: bool
    ci: str | None = None


class Commit(Record):
    sha: str  # abbreviated
    message: str  # first line only
    date: str
    author: str  # GitHub login, never an e-mail address


class SourceInfo(Record):
    """Repository facts for the generated source summary."""

    full_name: str
    description: str = ""
    url: str
    default_branch: str
    size_kb: int
    pushed_at: str | None
    languages: dict[str, int] = Field(default_factory=dict)
    layout: list[tuple[str, str]] = Field(default_factory=list)  # (name, "dir" | "file") at the top level
    readme_intro: str = ""
    recent_commits: list[Commit] = Field(default_factory=list)


class Snapshot(Record):
    version: int = SNAPSHOT_VERSION
    repository: str
    fetched_at: str
    issues: dict[str, LinkedIssue] = Field(default_factory=dict)
    workflows: dict[str, list[Run]] = Field(default_factory=dict)
    checks: dict[str, Check] = Field(default_factory=dict)
    milestones: dict[str, Milestone] = Field(default_factory=dict)
    pulls: list[MergedPull] = Field(default_factory=list)
    releases: list[Release] = Field(default_factory=list)
    source: SourceInfo | None = None

    @property
    def fetched(self) -> datetime:
        return parse_time(self.fetched_at)

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched

    def is_stale(self, now: datetime, max_age: timedelta = MAX_AGE) -> bool:
        return self.age(now) > max_age

    def issue(self, ref: str) -> LinkedIssue | None:
        return self.issues.get(ref)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def dumps(snapshot: Snapshot) -> str:
    """Canonical JSON: sorted keys, two-space indent, a final newline; same snapshot, same bytes."""
    return json.dumps(snapshot.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_snapshot(snapshot: Snapshot, path: Path) -> Path:
    """Write atomically: a temp file beside the target, then os.replace."""
    atomic_write(path, dumps(snapshot).encode("utf-8"))
    return path


def read_snapshot(path: Path) -> Snapshot:
    """Read and validate a snapshot; SourceError when it is unreadable or from another version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SourceError(f"{path}: cannot read the GitHub snapshot ({error}); run `python -m builder sync`") from None
    if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
        raise SourceError(f"{path}: snapshot from another version of the builder; run `python -m builder sync`")
    try:
        return Snapshot.model_validate(data)
    except ValidationError as error:
        raise SourceError(f"{path}: invalid GitHub snapshot ({error.error_count()} problems); "
                          "run `python -m builder sync`") from None


def load_snapshot(path: Path, *, now: datetime | None = None, max_age: timedelta = MAX_AGE,
                  allow_stale: bool = False) -> Snapshot | None:
    """The snapshot at `path`, or None when there is none or it is older than `max_age` (unless allow_stale)."""
    if not path.is_file():
        return None
    snapshot = read_snapshot(path)
    if not allow_stale and snapshot.is_stale(now or datetime.now(UTC), max_age):
        return None
    return snapshot
