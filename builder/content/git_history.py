"""Read-only facts from the content repository's own git history: commits, the files they touched, old versions.

Never writes, never touches the network: only `git rev-parse`, `git log` and `git show` run. Content outside a
git work tree (or on a machine without git) simply has no history: every function then answers "nothing".

    repo = GitRepository.discover(content_root)           # None outside git
    repo.last_changed(content_root)                        # {"gates/observability.md": datetime, …}
    for commit in repo.commits(content_root / "gates/observability.md"):   # newest first
        text = repo.show(commit.sha, commit.files[0])     # the file as that commit left it
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

GIT_TIMEOUT_S = 60.0
RECORD = "\x1e"  # between commits in `git log` output
FIELD = "\x1f"  # between the fields of one commit
LOG_FORMAT = f"{RECORD}%H{FIELD}%cI{FIELD}%s{FIELD}%b{FIELD}"


@dataclass(frozen=True)
class Commit:
    """One commit: its full sha, committer time (UTC), message, and the repository paths it touched."""

    sha: str
    committed_at: datetime
    subject: str
    body: str
    files: tuple[str, ...]  # repository-relative, forward slashes; for a rename, the new name

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


class GitRepository:
    """A git work tree, read with plain `git` commands (no library, no write, no network)."""

    def __init__(self, top: Path, git: str) -> None:
        self.top = top
        self.git = git

    @classmethod
    def discover(cls, path: Path) -> GitRepository | None:
        """The work tree holding `path`, or None when there is none (or git is not installed)."""
        git = shutil.which("git")
        folder = path if path.is_dir() else path.parent
        if git is None or not folder.is_dir():
            return None
        try:
            done = subprocess.run([git, "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                                  text=True, timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        top = done.stdout.strip()
        if done.returncode != 0 or not top:
            return None
        return cls(Path(top).resolve(), git)

    def relative(self, path: Path) -> str:
        """`path` relative to the work tree's top, with forward slashes (as git names files)."""
        return path.resolve().relative_to(self.top).as_posix()

    def run(self, *args: str) -> str | None:
        """The output of one read-only git command, or None when it fails (no commit yet, unknown path…)."""
        try:
            done = subprocess.run([self.git, "-C", str(self.top), *args], capture_output=True, timeout=GIT_TIMEOUT_S,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode != 0:
            return None
        return done.stdout.decode("utf-8", errors="replace")

    def commits(self, *paths: Path, follow: bool = False) -> list[Commit]:
        """Commits that touched `paths` (files or folders), newest first; `follow` tracks one file's renames."""
        renames = "--follow" if follow and len(paths) == 1 else "--no-renames"
        args = ["-c", "core.quotepath=off", "log", f"--format={LOG_FORMAT}", "--name-only", renames]
        output = self.run(*args, "--", *(self.relative(p) for p in paths))
        return parse_log(output or "")

    def last_changed(self, folder: Path) -> dict[str, datetime]:
        """For every file under `folder` that git knows: when a commit last changed it. Keys are relative to
        `folder` (so to the content root when `folder` is it), with forward slashes."""
        prefix = self.relative(folder)
        prefix = "" if prefix == "." else prefix + "/"
        latest: dict[str, datetime] = {}
        for commit in self.commits(folder):  # newest first: the first commit naming a file is its last change
            for name in commit.files:
                if name.startswith(prefix):
                    latest.setdefault(name[len(prefix):], commit.committed_at)
        return latest

    def show(self, sha: str, path: str) -> str | None:
        """The text of repository path `path` as commit `sha` left it (None when it did not exist there)."""
        return self.run("show", f"{sha}:{path}")


def parse_log(output: str) -> list[Commit]:
    """Parse `git log --format=LOG_FORMAT --name-only` output."""
    commits = []
    for record in output.split(RECORD):
        if not record.strip():
            continue
        sha, when, subject, body, names = record.split(FIELD, 4)
        commits.append(Commit(
            sha=sha,
            committed_at=datetime.fromisoformat(when).astimezone(UTC),
            subject=subject,
            body=body.strip(),
            files=tuple(line for line in names.splitlines() if line.strip()),
        ))
    return commits
