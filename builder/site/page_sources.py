"""Where each page's source lives: when git last changed it, and its edit-this-page link on GitHub."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from builder.content.git_history import GitRepository
from builder.content.structure import Page

GITHUB = "https://github.com"


@dataclass(frozen=True)
class SourceFacts:
    """`updated`: content path → last commit time (empty outside git); `edit_base`: None without `repository:`."""

    updated: dict[str, datetime] = field(default_factory=dict)
    edit_base: str | None = None  # "https://github.com/owner/repo/edit/main/content/"

    @classmethod
    def read(cls, content_root: Path, repository: str | None, branch: str) -> SourceFacts:
        git = GitRepository.discover(content_root)
        updated = git.last_changed(content_root) if git is not None else {}
        if repository is None:
            return cls(updated=updated)
        # the content folder's place in the repository: from git when it knows, else its own name at the top
        prefix = git.relative(content_root) if git is not None else content_root.resolve().name
        prefix = "" if prefix in ("", ".") else prefix.rstrip("/") + "/"
        return cls(updated=updated, edit_base=f"{GITHUB}/{repository}/edit/{branch}/{prefix}")

    def updated_on(self, page: Page) -> date | None:
        changed = None if page.generated else self.updated.get(page.content_path)
        return changed.date() if changed is not None else None

    def edit_url(self, page: Page) -> str | None:
        if page.generated or self.edit_base is None:
            return None
        return self.edit_base + page.content_path

    def key(self) -> str:
        """Changes whenever a date or the link base does (for the build's page-reuse check)."""
        return f"{self.edit_base}|" + ",".join(f"{path}={when.isoformat()}" for path, when in sorted(self.updated.items()))
