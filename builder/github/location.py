"""Where the GitHub snapshot lives and when it is stale: stdlib only, so a no-change build checks it cheaply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

SNAPSHOT_NAME = "github-snapshot.json"
MAX_AGE = timedelta(hours=24)


def default_path(cache_dir: Path) -> Path:
    return cache_dir / SNAPSHOT_NAME


def snapshot_state(cache_dir: Path, now: datetime | None = None) -> str:
    """A cheap key (no parsing) that changes when the snapshot is rewritten or becomes stale."""
    path = default_path(cache_dir)
    try:
        stat = path.stat()
    except OSError:
        return "none"
    age = (now or datetime.now(UTC)).timestamp() - stat.st_mtime
    return f"{stat.st_mtime_ns}:{stat.st_size}:{'stale' if age > MAX_AGE.total_seconds() else 'fresh'}"
