"""Plain objects the rest of the builder passes around: pages and the loaded content graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.content.models import (
    ArchiveMeta,
    BoardMeta,
    DecisionMeta,
    GateMeta,
    SiteConfig,
    TaskMeta,
    WorkstreamMeta,
)
from builder.content.source import locate


@dataclass(frozen=True)
class Page:
    """One source file that becomes one HTML page."""

    kind: str  # "board", "workstream", "gate" or "archive"
    slug: str
    url: str  # site-relative, pretty: "" for the board, "gates/observability/" …
    source: Path
    display_path: str  # as printed in errors: relative to the working directory when possible
    body: str
    body_line: int
    meta: BoardMeta | WorkstreamMeta | GateMeta | ArchiveMeta
    meta_text: str = ""  # the raw front matter, kept to locate fields on the error path
    archive_kind: str = ""  # for archive pages: "decisions", "tasks", …
    generated: bool = False  # produced by `sync` from the repository rather than written by hand

    @property
    def title(self) -> str:
        return self.meta.title

    def line_of(self, *loc: str | int) -> int:
        """The file line of a front-matter field (1 when the page was generated)."""
        if not self.meta_text:
            return 1
        return locate(self.meta_text, loc, first_line=2)

    @property
    def content_path(self) -> str:
        """The path relative to the content root with forward slashes (the key for `.md` links)."""
        return self.source.as_posix()


@dataclass(frozen=True)
class Unloaded:
    """A content file that exists but failed to load: still a valid target for links and references, so one
    broken file does not also report every page that names it."""

    url: str
    data: dict[str, object]  # what of its front matter could be parsed ({} when nothing could)


@dataclass
class Content:
    """Everything loaded from a content folder, before rendering."""

    root: Path
    config: SiteConfig
    board: Page
    workstreams: list[Page] = field(default_factory=list)
    gates: list[Page] = field(default_factory=list)
    archive: dict[str, list[Page]] = field(default_factory=dict)
    unloaded: dict[str, Unloaded] = field(default_factory=dict)  # by content path; empty in a valid tree

    def pages(self) -> list[Page]:
        pages = [self.board, *self.workstreams, *self.gates]
        for entries in self.archive.values():
            pages.extend(entries)
        return pages

    def page_by_source(self) -> dict[str, Page]:
        return {page.content_path: page for page in self.pages()}

    def tasks_by_id(self) -> dict[str, Page]:
        return {page.meta.id: page for page in self.archive.get("tasks", []) if isinstance(page.meta, TaskMeta)}

    def decisions(self) -> dict[str, Page]:
        return {
            page.slug: page for page in self.archive.get("decisions", []) if isinstance(page.meta, DecisionMeta)
        }

    def workstream_by_slug(self) -> dict[str, Page]:
        return {page.slug: page for page in self.workstreams}


    def unloaded_in(self, folder: str) -> dict[str, Unloaded]:
        """Files under `folder` (e.g. "gates") that failed to load, by slug."""
        prefix = f"{folder}/"
        return {
            Path(path).stem: entry for path, entry in self.unloaded.items()
            if path.startswith(prefix) and "/" not in path[len(prefix):]
        }
