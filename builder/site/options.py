"""What one build is asked to do; light to import, so a no-change build can answer before loading anything."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime
from dataclasses import dataclass, field
from pathlib import Path

from builder.settings import GitHubEnv

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"


@dataclass(frozen=True)
class BuildOptions:
    content: Path
    out: Path
    templates: Path = TEMPLATES_DIR
    strict: bool = False
    offline: bool = False
    cache_dir: Path = Path(".cache")
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    incremental: bool = True
    base_url: str | None = None  # overrides site.yaml's base_url
    fallback_base_url: str | None = None  # used when site.yaml has none (CI derives the Pages URL)
    ledger: Path | str | None = None  # the gift ledger the ops page reports on: a folder or a postgresql:// URL
    today: date | None = None  # the date gates are overdue against (default: today in UTC)
    github: GitHubEnv = field(default_factory=GitHubEnv)  # reading GitHub (token, API URL) when not --offline
    refund_failed_after_s: float | None = 86400.0  # GIFT_REFUND_FAILED_AFTER_H: the ops page's "refunds pending"

    @property
    def template_overrides(self) -> Path | None:
        """A `templates/` folder beside the content: its files replace the built-in templates of the same name."""
        return _beside(self.content, "templates", self.templates)

    @property
    def static_overrides(self) -> Path | None:
        """A `static/` folder beside the content: its files replace or add to the built-in assets."""
        return _beside(self.content, "static", self.templates / "static")

    @property
    def theme_roots(self) -> list[Path]:
        """Every folder whose files shape the output besides the content (built-in first, then overrides)."""
        return [self.templates, *(path for path in (self.template_overrides, self.static_overrides) if path)]

    @property
    def build_date(self) -> date:
        """Gates past their due date on this day are overdue; a new day makes a no-change build render again."""
        return self.today or datetime.now(UTC).date()
    benchmarks: Path | None = None  # benchmarks/results: named numbers for the gates' `metric:` criteria
    search: bool = True  # build the Pagefind search index (when Pagefind is installed)

    @property
    def manifest_path(self) -> Path:
        key = hashlib.blake2b(str(self.out.resolve()).encode(), digest_size=6).hexdigest()
        return self.cache_dir / f"build-manifest-{key}.json"


def _beside(content: Path, name: str, builtin: Path) -> Path | None:
    folder = content.resolve().parent / name
    if not folder.is_dir() or folder == builtin.resolve():
        return None  # in this repository content/'s neighbour templates/ *is* the built-in folder
    return folder
