"""Incremental rebuilds for `serve`: re-render only what a changed file can affect, never less."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic_files import atomic_write
from builder.content.loader import Loader
from builder.content.models import ARCHIVE_KINDS
from builder.content.references import check_references
from builder.content.structure import Page
from builder.errors import BuildError, ContentError, Diagnostic
from builder.site.build import Site
from builder.site.render import Rendered


@dataclass
class LiveResult:
    written: list[str] = field(default_factory=list)
    full_rebuild: bool = False
    seconds: float = 0.0
    problems: list[Diagnostic] = field(default_factory=list)

    def describe(self) -> str:
        if self.problems:
            return f"not rebuilt: {len(self.problems)} error(s); still serving the last good build"
        what = "everything" if self.full_rebuild else ", ".join(self.written[:4]) + (
            f" (+{len(self.written) - 4} more)" if len(self.written) > 4 else ""
        )
        return f"rebuilt {what} in {self.seconds * 1000:.0f} ms"


LOCATED = re.compile(r"^(?P<path>.+?):(?P<line>[0-9]+): (?P<message>.*)$", re.S)


def problems_of(error: ContentError | BuildError) -> list[Diagnostic]:
    """Every problem of a failed build as `path:line` diagnostics (a template error names its file and line)."""
    if isinstance(error, ContentError):
        return list(error.diagnostics)
    located = LOCATED.match(str(error))
    if located is None:
        return [Diagnostic("templates", 1, str(error))]
    return [Diagnostic(located["path"], int(located["line"]), located["message"])]


class LiveSite:
    """A loaded site kept in memory between changes."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.content_root = site.options.content.resolve()

    def full_build(self) -> LiveResult:
        started = time.perf_counter()
        fresh = Site(self.site.options, extra_outputs=self.site.extra_outputs)
        try:
            fresh.build()
        except (ContentError, BuildError) as error:
            return LiveResult(problems=problems_of(error), seconds=time.perf_counter() - started)
        if fresh.content is None:  # up to date: nothing to reload
            fresh.load()
        self.site = fresh
        return LiveResult(full_rebuild=True, seconds=time.perf_counter() - started)

    def apply(self, changed: set[Path]) -> LiveResult:
        """Rebuild after `changed` files; only archive bodies take the fast path."""
        started = time.perf_counter()
        content = self.site.content
        if content is None or self.site.renderer is None:
            return self.full_build()
        pages: list[Page] = []
        try:
            for path in changed:
                page = self.reload_archive_page(path.resolve())
                if page is None:
                    return self.full_build()
                pages.append(page)
        except ContentError as error:
            return LiveResult(problems=error.diagnostics, seconds=time.perf_counter() - started)
        by_source = content.page_by_source()
        for page in pages:
            old = by_source.get(page.content_path)
            if old is None or old.meta != page.meta:
                return self.full_build()  # titles, dates and references show on other pages
        for page in pages:
            entries = content.archive[page.archive_kind]
            entries[:] = [page if entry.content_path == page.content_path else entry for entry in entries]
        problems = check_references(content)
        if problems:
            return LiveResult(problems=problems)
        renderer = self.site.renderer
        named_before = renderer.backlink_sources()
        renderer.replace_content(content)
        if renderer.backlink_sources() != named_before:
            return self.full_build()  # a link to a gate was added or removed: that gate's page lists it
        outputs: list[Rendered] = [renderer.render_page(page) for page in pages]
        problems = [problem for rendered in outputs for problem in rendered.problems]
        if problems:
            return LiveResult(problems=problems)
        # a body edit cannot change titles, dates or URLs, so the index pages and sitemap stay as they are;
        # the feed can (an entry without a summary is summarised from its body)
        outputs.append(renderer.feed_output(self.site.generated_at()))
        out = self.site.options.out
        for rendered in outputs:
            atomic_write(out / rendered.path, rendered.data, durable=False)  # a preview: rebuilt if lost
        return LiveResult(written=[r.path for r in outputs], seconds=time.perf_counter() - started)

    def reload_archive_page(self, path: Path) -> Page | None:
        try:
            relative = path.relative_to(self.content_root)
        except ValueError:
            return None
        parts = relative.parts
        if len(parts) != 3 or parts[0] != "archive" or parts[1] not in ARCHIVE_KINDS or not path.is_file():
            return None
        loader = Loader(self.content_root)
        model = ARCHIVE_KINDS[parts[1]][0]
        page = loader.read_page(relative, model, "archive", parts[1])
        if loader.diagnostics:
            raise ContentError(loader.diagnostics)
        return page
