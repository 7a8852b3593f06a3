"""Each gate's status changes, read from the content repository's own git history (read-only, offline).

    history = BoardHistory.read(content)        # empty outside git: the board still builds
    history.of(gate)                            # oldest first: added as planned, planned → in-progress, …
    history.changes()                           # every gate's changes, newest first, for "board changes"

A change is attributed to the commit that made it; its pull request number comes from the commit message
("… (#42)", squash merges) or, for a commit that came in on a branch, from the merge that brought it into
the checked-out branch ("Merge pull request #42 from …").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import get_args

from builder.content.git_history import Commit, GitRepository
from builder.content.models import GateStatus
from builder.content.source import FrontMatterError, parse_yaml, split_front_matter
from builder.content.structure import Content, Page

PULL_REQUEST = re.compile(r"\(#(\d+)\)|\b(?:pull request|PR) #(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class StatusChange:
    """One move of one gate: `old` is None when the commit added the gate."""

    gate: Page
    old: str | None
    new: str
    committed_at: datetime
    sha: str
    subject: str
    pull_request: int | None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass
class BoardHistory:
    """Status changes per gate (by content path); `partial` when the clone is shallow (older history absent)."""

    by_gate: dict[str, list[StatusChange]] = field(default_factory=dict)
    partial: bool = False

    @classmethod
    def read(cls, content: Content) -> BoardHistory:
        repo = GitRepository.discover(content.root)
        if repo is None:
            return cls()
        reader = _HistoryReader(repo)
        partial = (repo.run("rev-parse", "--is-shallow-repository") or "").strip() == "true"
        history = cls(partial=partial)
        for gate in content.gates:
            changes = reader.gate_changes(gate, content.root / gate.source)
            if partial and changes and changes[0].old is None:
                changes = changes[1:]  # the shallow boundary is not when the gate was added
            if changes:
                history.by_gate[gate.content_path] = changes
        return history

    def of(self, gate: Page) -> list[StatusChange]:
        return self.by_gate.get(gate.content_path, [])

    def changes(self) -> list[StatusChange]:
        every = [change for changes in self.by_gate.values() for change in changes]
        return sorted(every, key=lambda c: (c.committed_at, c.gate.slug, c.sha), reverse=True)

    def key(self) -> str:
        """Changes whenever the history does, for the build's reuse checks."""
        return ";".join(f"{c.gate.content_path}@{c.sha}:{c.new}" for c in self.changes())

    def __bool__(self) -> bool:
        return bool(self.by_gate)


class _HistoryReader:
    def __init__(self, repo: GitRepository) -> None:
        self.repo = repo
        self._mainline: set[str] | None = None
        self._merge_numbers: dict[str, int | None] = {}

    def gate_changes(self, gate: Page, path: Path) -> list[StatusChange]:
        changes: list[StatusChange] = []
        previous: str | None = None
        for commit in reversed(self.repo.commits(path, follow=True)):  # oldest first
            status = self.status_at(commit)
            if status is None:  # deleted, or not valid front matter in that commit: nothing to compare
                continue
            if status != previous:
                changes.append(StatusChange(gate=gate, old=previous, new=status, committed_at=commit.committed_at,
                                            sha=commit.sha, subject=commit.subject,
                                            pull_request=self.pull_request(commit)))
            previous = status
        return changes

    def status_at(self, commit: Commit) -> str | None:
        """The gate's declared status as `commit` left the file (None when it was deleted or invalid there)."""
        if not commit.files:
            return None
        text = self.repo.show(commit.sha, commit.files[0])
        if text is None:
            return None
        try:
            data = parse_yaml(split_front_matter(text).meta_text, first_line=2)
        except FrontMatterError:
            return None
        status = data.get("status") if isinstance(data, dict) else None
        return status if isinstance(status, str) and status in get_args(GateStatus) else None

    def pull_request(self, commit: Commit) -> int | None:
        number = pull_request_in(f"{commit.subject}\n{commit.body}")
        if number is not None:
            return number
        return self.merge_number(commit.sha)

    def merge_number(self, sha: str) -> int | None:
        """The pull request named by the merge that brought `sha` into the checked-out branch, if any."""
        if sha in self._merge_numbers:
            return self._merge_numbers[sha]
        if self._mainline is None:
            self._mainline = set((self.repo.run("rev-list", "--first-parent", "HEAD") or "").split())
        number = None
        if sha not in self._mainline:
            descendants = (self.repo.run("rev-list", "--ancestry-path", "--reverse", f"{sha}..HEAD") or "").split()
            merge = next((candidate for candidate in descendants if candidate in self._mainline), None)
            if merge is not None:
                number = pull_request_in(self.repo.run("log", "-1", "--format=%s%n%b", merge) or "")
        self._merge_numbers[sha] = number
        return number


def pull_request_in(message: str) -> int | None:
    match = PULL_REQUEST.search(message)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))
