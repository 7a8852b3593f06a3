"""What a build gets from GitHub: a snapshot (fresh, synced, or the last one offline) and what it adds.

`resolve_snapshot` is the one call the build makes; `sync` is what `python -m builder sync` runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from builder.content.loader import load_content
from builder.content.source import FrontMatterError, parse_yaml
from builder.errors import SourceError
from builder.github.links import wanted_from_content
from builder.github.snapshot import MAX_AGE, Snapshot, default_path, read_snapshot, write_snapshot
from builder.settings import GitHubEnv

Say = Callable[[str], None]


def say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass(frozen=True)
class SyncResult:
    snapshot: Snapshot
    path: Path
    requests: int


def site_repository(content_root: Path) -> str | None:
    """`repository:` from content/site.yaml, read without loading the rest of the content."""
    try:
        data = parse_yaml((content_root / "site.yaml").read_text(encoding="utf-8"))
    except (OSError, FrontMatterError):
        return None
    value = data.get("repository") if isinstance(data, dict) else None
    return str(value) if value else None


def sync(content_root: Path, *, snapshot_path: Path, github: GitHubEnv, now: datetime | None = None) -> SyncResult:
    """Read everything the content links from GitHub and write the snapshot atomically."""
    # PyGithub and requests take ~100 ms to import: only a sync pays for them, never an offline build
    from builder.github.client import GitHubReader, GitHubSettings
    from builder.github.collect import collect_snapshot

    content = load_content(content_root)
    settings = GitHubSettings.for_site(content.config.repository, github)
    reader = GitHubReader(settings)
    snapshot = collect_snapshot(reader, wanted_from_content(content), now or datetime.now(UTC))
    write_snapshot(snapshot, snapshot_path)
    return SyncResult(snapshot, snapshot_path, reader.requests_made)


def _age(snapshot: Snapshot, now: datetime) -> str:
    hours = snapshot.age(now).total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"


def resolve_snapshot(content_root: Path, *, offline: bool, cache_dir: Path, github: GitHubEnv,
                     now: datetime | None = None, say: Say = say_on_stderr) -> Snapshot | None:
    """The snapshot a build should use, or None (pages then show links without live state).

    --offline: the snapshot under `cache_dir` whatever its age (a warning when stale); SourceError when
    there is none. Otherwise: a fresh snapshot when present; else, with GITHUB_TOKEN set, sync now; else
    the stale one with a warning, or None with a note.
    """
    now = now or datetime.now(UTC)
    path = default_path(cache_dir)
    repository = site_repository(content_root) or github.repository or None
    snapshot = read_snapshot(path) if path.is_file() else None
    if snapshot is not None and repository and snapshot.repository != repository:
        say(f"warning: {path} is for {snapshot.repository}, not {repository}: ignoring it")
        snapshot = None
    if offline:
        if snapshot is None:
            raise SourceError(
                f"--offline: no GitHub snapshot at {path}. Run `python -m builder sync` first (it needs "
                "GITHUB_TOKEN and the repository), or build without --offline"
            )
        if snapshot.is_stale(now):
            say(f"warning: the GitHub snapshot is stale: fetched {snapshot.fetched_at}, {_age(snapshot, now)} ago "
                f"(limit {MAX_AGE.total_seconds() / 3600:.0f} hours); run `python -m builder sync` to refresh it")
        return snapshot
    if snapshot is not None and not snapshot.is_stale(now):
        return snapshot
    if github.token and repository:
        result = sync(content_root, snapshot_path=path, github=github, now=now)
        say(f"synced {result.snapshot.repository} from GitHub ({result.requests} requests) into {path}")
        return result.snapshot
    if snapshot is not None:
        say(f"warning: using a stale GitHub snapshot ({_age(snapshot, now)} old): set GITHUB_TOKEN to refresh it")
        return snapshot
    say("note: no GitHub snapshot: gates show their links without live state (run `python -m builder sync`)")
    return None



