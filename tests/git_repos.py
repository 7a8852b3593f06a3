"""Throwaway local git repositories for tests: commit files at chosen dates, with any message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class TestRepository:
    """A real git work tree under `root`; commits carry the author and committer date they are given."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str, date: str = "2026-01-01T12:00:00+00:00") -> str:
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_CONFIG_NOSYSTEM": "1",
               "HOME": str(self.root)}
        done = subprocess.run(["git", "-C", str(self.root), "-c", "user.name=Test", "-c", "user.email=t@example.org",
                               "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, env=env,
                              check=True)
        return done.stdout

    def commit(self, message: str, files: dict[str, str] | None = None, *, date: str) -> str:
        """Write `files` (path → text, relative to the root), commit everything, return the sha."""
        for name, text in (files or {}).items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message, date=date)
        return self.git("rev-parse", "HEAD").strip()
