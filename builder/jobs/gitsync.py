"""Git as durable storage for production: the ledger branch.

Every run pulls, changes files, commits and pushes; a rejected push is re-applied onto the remote and
retried. Conflicts are settled by rule, never by hand: audit logs (`*.jsonl`) keep both sides' lines,
order records (`orders/*.json`) keep the version that has committed more transitions (`seq`), so a stale
writer can never move an order back (published → queued), and any other file takes this writer's
version. The remote URL may carry credentials, so it is never printed.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from builder.errors import JobError
from builder.settings import child_env

T = TypeVar("T")
IDENTITY = ("giftboard-bot", "giftboard-bot@users.noreply.github.com")


def _redact(text: str) -> str:
    return re.sub(r"://[^/@\s]+@", "://***@", text)


class GitSync:
    """One working copy of one branch of one remote."""

    def __init__(
        self,
        remote: str,
        branch: str,
        workdir: Path,
        *,
        ignore: Sequence[str] = (),
        retries: int = 12,
        rng: random.Random | None = None,
    ) -> None:
        self.remote, self.branch, self.workdir = remote, branch, Path(workdir)
        self.ignore = list(ignore)
        self.retries = retries
        self.rng = rng or random.Random()
        # one git operation at a time per working copy (the intake pushes from several threads)
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"GitSync(branch={self.branch!r}, workdir={str(self.workdir)!r})"

    # plumbing --------------------------------------------------------------------------------------
    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        name, email = IDENTITY
        env = child_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        command = ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", "-c", "commit.gpgsign=false",
                   "-c", "core.hooksPath=/dev/null", *args]
        done = subprocess.run(command, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            detail = _redact(lines[-1]) if lines else f"exit {done.returncode}"
            raise JobError(f"git {args[0]} failed on {self.branch}: {detail}")
        return done

    def _remote_ref(self) -> str:
        return f"refs/remotes/origin/{self.branch}"

    def _has(self, ref: str) -> bool:
        return self._git("rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0

    def _init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._git("init", "-q", "-b", self.branch)
        self._git("remote", "add", "origin", self.remote)
        info = self.workdir / ".git" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "exclude").write_text("".join(f"{p}\n" for p in [*self.ignore, ".*.tmp"]))
        self._configure()

    def _configure(self) -> None:
        """Merge rules: audit logs keep both sides' lines; order records go to `record_merge` (by `seq`)."""
        info = self.workdir / ".git" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "attributes").write_text("*.jsonl merge=union\norders/*.json merge=giftboard-record\n")
        driver = f"{shlex.quote(sys.executable)} -m builder.jobs.record_merge %A %B"
        self._git("config", "merge.giftboard-record.name", "keep the order record with more transitions")
        self._git("config", "merge.giftboard-record.driver", driver)

    def _fetch(self) -> bool:
        """Fetch the branch; False when the remote does not have it yet."""
        done = self._git("fetch", "-q", "origin", f"+refs/heads/{self.branch}:{self._remote_ref()}", check=False)
        if done.returncode == 0:
            return True
        if "couldn't find remote ref" in done.stderr:
            return False
        raise JobError(f"git fetch failed on {self.branch}: {_redact(done.stderr.strip())}")

    def _commit_pending(self, message: str) -> bool:
        self._git("add", "-A")
        if self._git("diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        self._git("commit", "-q", "-m", message)
        return True

    def _unpushed(self) -> int:
        if not self._has("HEAD"):
            return 0
        if not self._has(self._remote_ref()):
            return int(self._git("rev-list", "--count", "HEAD").stdout.strip())
        return int(self._git("rev-list", "--count", f"{self._remote_ref()}..HEAD").stdout.strip())

    # rebase ----------------------------------------------------------------------------------------
    def _rebase(self) -> None:
        """Replay local commits on the remote branch; if git cannot, re-apply our files by rule."""
        if not self._has("HEAD"):
            self._git("reset", "-q", "--hard", self._remote_ref())
            return
        self._configure()
        # in a rebase, "theirs" is the commit being replayed: this writer's version wins a text conflict;
        # order records are merged by their own driver (the version with more transitions wins)
        if self._git("rebase", "-q", "-X", "theirs", self._remote_ref(), check=False).returncode == 0:
            return
        self._git("rebase", "--abort", check=False)
        self._reapply()

    def _reapply(self) -> None:
        upstream = self._remote_ref()
        base = self._git("merge-base", upstream, "HEAD", check=False).stdout.strip()
        changed = self._git("diff", "--name-only", "-z", base or upstream, "HEAD").stdout.split("\0")
        ours: dict[str, bytes | None] = {}
        for name in filter(None, changed):
            path = self.workdir / name
            ours[name] = path.read_bytes() if path.exists() else None
        self._git("reset", "-q", "--hard", upstream)
        for name, data in ours.items():
            path = self.workdir / name
            if data is None:
                path.unlink(missing_ok=True)
                continue
            if name.endswith(".jsonl") and path.exists():
                theirs = path.read_bytes().splitlines(keepends=True)
                data = b"".join(theirs + [line for line in data.splitlines(keepends=True) if line not in theirs])
            elif is_order_record(name) and path.exists():
                data = newer_record(path.read_bytes(), data)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self._commit_pending("sync: re-applied after a conflicting concurrent write")

    # public ----------------------------------------------------------------------------------------
    def pull(self) -> None:
        """Bring the working copy up to date (cloning on first use), keeping any unpushed local work."""
        with self._mutex:
            self._pull()

    def _pull(self) -> None:
        if not (self.workdir / ".git").exists():
            self._init()
        self._commit_pending("sync: recovered uncommitted changes")
        if self._fetch():
            self._rebase()

    def push(self, message: str) -> bool:
        """Commit what changed and push it, rebasing and retrying (with jitter) when another writer won."""
        with self._mutex:
            return self._push(message)

    def _push(self, message: str) -> bool:
        self._commit_pending(message)
        for attempt in range(self.retries):
            if not self._unpushed():
                return attempt > 0
            pushed = self._git("push", "-q", "origin", f"HEAD:refs/heads/{self.branch}", check=False)
            if pushed.returncode == 0:
                self._fetch()
                return True
            time.sleep(self.rng.uniform(0, min(2.0, 0.05 * 2**attempt)))
            if self._fetch():
                self._rebase()
        raise JobError(f"push to {self.branch} kept being rejected after {self.retries} attempts")

    def transaction(self, change: Callable[[Path], T], message: str) -> T:
        """Pull, apply `change` to the working copy, then commit and push it."""
        with self._mutex:
            self._pull()
            result = change(self.workdir)
            self._push(message)
            return result


def is_order_record(name: str) -> bool:
    return name.startswith("orders/") and name.endswith(".json")


FINAL_STATES = ("published", "taken_down")


def record_rank(data: bytes) -> tuple[int, int]:
    """(committed transitions, 1 if the order is published or taken down): what decides between versions."""
    try:
        record = json.loads(data)
        return int(record.get("seq", 0)), int(record.get("state") in FINAL_STATES)
    except (ValueError, TypeError, AttributeError):
        return -1, 0  # unreadable: any readable version wins


def newer_record(theirs: bytes, ours: bytes) -> bytes:
    """Of two versions of one order record, the one with more committed transitions; on a tie, a published
    or taken-down order (a reconcile that expired a run which had just published must not undo it), else
    ours (we hold the lock or lease that let us change it without a transition: a renewed lease, a run id)."""
    return theirs if record_rank(theirs) > record_rank(ours) else ours


def ledger_sync(remote: str, workdir: Path) -> GitSync:
    """The ledger lives on branch `ledger`; lock files are local to each run and never committed."""
    return GitSync(remote, "ledger", workdir, ignore=["locks/"])
