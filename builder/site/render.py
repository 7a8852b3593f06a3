"""Render the content graph to HTML strings: pages, indexes, feed and sitemap. No file I/O here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from jinja2 import Environment, TemplateError
from markupsafe import Markup

from builder import __version__
from builder.content.gate_history import BoardHistory
from builder.content.models import ARCHIVE_KINDS, STATUS_LABELS, ArchiveMeta, BoardMeta, Dependency, GateMeta, TaskMeta
from builder.content.structure import Content, Page
from builder.errors import Diagnostic
from builder.markup import LinkContext, Markdown, plain_text
from builder.site.environment import template_error
from builder.site.backlinks import gate_backlinks
from builder.site.page_sources import SourceFacts
from builder.site.readiness import gate_groups, is_overdue, join_around, readiness, task_in_text, task_link
from builder.site.views import ArchiveKindView, DependencyView, GateView, Status, WorkstreamView
from builder.urls import relative_url

ARCHIVE_INDEX_URL = "archive/"
CHANGES_URL = "archive/changes/"
CHANGES_FEED = f"{CHANGES_URL}feed.xml"
NOT_FOUND_PAGE = "404.html"
ASSETS = "assets"
GATES_INDEX_URL = "gates/"
WORKSTREAMS_INDEX_URL = "workstreams/"
TAGS_INDEX_URL = "archive/tags/"
STYLESHEET = f"{ASSETS}/site.css"

EvidenceHook = Callable[[Page], Any]
IssueStateHook = Callable[[str], str | None]  # "owner/repo#12" → "open", "closed", "merged"… (None: unknown)
DONE_ISSUE_STATES = frozenset({"closed", "merged"})


@dataclass
class Rendered:
    """One output file: its site-relative path and bytes, plus the problems found rendering it."""

    path: str
    data: bytes
    problems: list[Diagnostic] = field(default_factory=list)


def output_path(url: str) -> str:
    return f"{url}index.html"


class SiteRenderer:
    """Renders pages of one loaded `Content`; cheap to create, safe to share with forked workers."""

    def __init__(
        self,
        content: Content,
        env: Environment,
        markdown: Markdown,
        *,
        evidence: EvidenceHook | None = None,
        issue_state: IssueStateHook | None = None,
        extra_urls: Iterable[str] = (),
        history: BoardHistory | None = None,
        today: date | None = None,
        criteria: EvidenceHook | None = None,
        sources: SourceFacts | None = None,
        search: bool = False,
    ) -> None:
        self.content = content
        self.env = env
        self.markdown = markdown
        self.evidence = evidence
        self.history = history or BoardHistory()
        self.issue_state = issue_state
        self.today = today or datetime.now(UTC).date()
        self.criteria = criteria
        self.sources = sources or SourceFacts()
        self.search = search  # a Pagefind index will be built: pages offer the search box (with JavaScript)
        self.kinds = [key for key in ARCHIVE_KINDS if content.archive.get(key)]
        changes = [CHANGES_URL] if self.history else []
        self.tags = tagged_entries(content)
        indexes = [url for url, pages in ((GATES_INDEX_URL, content.gates), (WORKSTREAMS_INDEX_URL, content.workstreams))
                   if pages]
        tag_urls = [TAGS_INDEX_URL, *(tag_url(tag) for tag in self.tags)] if self.tags else []
        self.known_urls = frozenset(
            [*(page.url for page in content.pages()), ARCHIVE_INDEX_URL, *(f"archive/{k}/" for k in self.kinds), *changes,
             *indexes, *tag_urls, *extra_urls]
        )
        # links may also point at files that failed to load (their own errors are reported)
        unloaded_kinds = {path.split("/")[1] for path in content.unloaded if path.startswith("archive/")}
        self.link_targets = self.known_urls | {entry.url for entry in content.unloaded.values()} \
            | {f"archive/{kind}/" for kind in unloaded_kinds}
        self.urls_by_source = {
            **{path: entry.url for path, entry in content.unloaded.items()},
            **{page.content_path: page.url for page in content.pages()},
        }
        self.workstreams = content.workstream_by_slug()
        self.backlinks = self.find_backlinks()
        self._bodies: dict[str, tuple[Markup, list[Diagnostic]]] = {}

    def backlink_sources(self) -> dict[str, list[str]]:
        """Gate slug → the source paths of the entries naming it (what a gate page's back-links depend on)."""
        return {slug: [page.content_path for page in pages] for slug, pages in self.backlinks.items()}

    def find_backlinks(self) -> dict[str, list[Page]]:
        entries = [*self.content.archive.get("lessons", []), *self.content.archive.get("decisions", [])]
        return gate_backlinks(self.content.gates, entries, self.urls_by_source)

    # -- fragments -----------------------------------------------------------------------------
    def replace_content(self, content: Content) -> None:
        """Render from an updated content graph (serve's incremental path); drops cached bodies."""
        self.content = content
        self._bodies.clear()
        self.backlinks = self.find_backlinks()

    def body(self, page: Page, *, from_url: str | None = None) -> tuple[Markup, list[Diagnostic]]:
        """A page's Markdown body as sanitized HTML, with links made relative to `from_url`."""
        at = page.url if from_url is None else from_url
        key = f"{page.content_path}@{at}"
        if key not in self._bodies:
            context = LinkContext(
                page_url=at,
                source=page.content_path,
                display_path=page.display_path,
                first_line=page.body_line,
                urls_by_source=self.urls_by_source,
                known_urls=self.link_targets,
            )
            html = self.markdown.render(page.body, context)
            # report a broken link once, from the page's own URL
            self._bodies[key] = (html, context.problems if at == page.url else [])
        return self._bodies[key]

    def link_problems(self) -> list[Diagnostic]:
        """Every broken link in every page body, without rendering the pages."""
        return [problem for page in self.content.pages() for problem in self.body(page)[1]]

    def gate_view(self, gate: Page, at: str) -> GateView:
        meta = gate.meta
        assert isinstance(meta, GateMeta)
        return GateView(
            page=gate,
            status=Status(meta.status),
            description=self.body(gate, from_url=at)[0],
            workstream=self.workstreams.get(meta.workstream),
            evidence=self.evidence(gate) if self.evidence else None,
            history=self.history.of(gate),
            owner=meta.owner,
            due=meta.due,
            overdue=is_overdue(meta, self.today),
            blocked_reason=meta.blocked_reason,
            criteria=self.criteria(gate) if self.criteria else None,
        )

    def gate_views(self, at: str) -> list[GateView]:
        gates = sorted(self.content.gates, key=lambda g: (g.meta.order, g.title))  # type: ignore[union-attr]
        return [self.gate_view(gate, at) for gate in gates]

    def workstream_views(self, at: str, gates: list[GateView] | None = None) -> list[WorkstreamView]:
        streams = sorted(self.content.workstreams, key=lambda w: (w.meta.order, w.title))  # type: ignore[union-attr]
        gates = self.gate_views(at) if gates is None else gates
        return [
            WorkstreamView(
                page=stream,
                description=self.body(stream, from_url=at)[0],
                gates=[g for g in gates if g.workstream is stream],
            )
            for stream in streams
        ]

    def archive_views(self) -> list[ArchiveKindView]:
        return [
            ArchiveKindView(
                key=key,
                label=self.section_label(key),
                url=f"archive/{key}/",
                entries=sorted(self.content.archive[key], key=entry_sort_key),
            )
            for key in self.kinds
        ]

    def section_label(self, kind: str) -> str:
        """An archive section's name, as site.yaml's `sections:` calls it."""
        return str(getattr(self.content.config.sections, kind))

    # -- pages ---------------------------------------------------------------------------------
    def render_template(self, name: str, url: str, **context: Any) -> bytes:
        try:
            template = self.env.get_template(name)
            html = template.render(
                site=self.content.config,
                page_url=url,
                url=lambda target: relative_url(url, target),
                stylesheet=relative_url(url, STYLESHEET),
                version=__version__,
                archive_kinds=[(key, self.section_label(key)) for key in self.kinds],
                labels=self.content.config.labels,
                list_summary=list_summary,
                ops_available="ops/" in self.known_urls,
                changes_available=bool(self.history),
                search_available=self.search,
                repository_url=repository_url(self.content.config.repository),
                status_label=lambda value: STATUS_LABELS.get(value, value),
                **context,
            )
        except TemplateError as error:
            raise template_error(error) from error
        return html.encode("utf-8")

    def render_page(self, page: Page) -> Rendered:
        body, problems = self.body(page)
        context: dict[str, Any] = {"page": page, "body": body, "description": description_of(page),
                                   "updated": self.sources.updated_on(page), "edit_url": self.sources.edit_url(page)}
        if page.kind == "board":
            template = "board.html"
            context.update(self.board_context())
        elif page.kind == "gate":
            template = "gate.html"
            context["gate"] = self.gate_view(page, page.url)
            context["named_by"] = self.backlinks.get(page.slug, [])
        elif page.kind == "workstream":
            template = "workstream.html"
            view = next(v for v in self.workstream_views(page.url) if v.page is page)
            context["workstream"] = view
        else:
            template = "archive_entry.html"
            context.update(self.archive_entry_context(page))
        data = self.render_template(template, page.url, **context)
        return Rendered(output_path(page.url), data, list(problems))

    def board_context(self) -> dict[str, Any]:
        board = self.content.board
        meta = board.meta
        assert isinstance(meta, BoardMeta)
        gates = self.gate_views("")  # once: the evidence hook and bodies are shared by both sections
        workstreams = self.workstream_views("", gates)
        return {
            "board": meta,
            "workstreams": workstreams,
            "gates": gates,
            "gate_groups": gate_groups(workstreams),
            "readiness": readiness(gates),
            "dependencies": [self.dependency_view(dependency) for dependency in meta.dependencies],
            "invariants": [self.markdown.render_inline(text) for text in meta.invariants],
            "archive": self.archive_views(),
        }

    def dependency_view(self, dependency: Dependency) -> DependencyView:
        """The dependency's text with its task id linked where the text names it (or in front when it does not),
        done when that archived task is done or every issue it links is closed."""
        task = self.content.tasks_by_id().get(dependency.task) if dependency.task else None
        text = self.markdown.render_inline(dependency.text)
        if task is not None:
            assert isinstance(task.meta, TaskMeta)
            link = task_link(relative_url("", task.url), task.meta.id, f"Archived task {task.meta.id}: {task.meta.status}")
            around = task_in_text(dependency.text, task.meta.id)
            before, after = around if around is not None else ("", dependency.text)
            text = join_around(self.markdown.render_inline(before.strip()), link,
                               self.markdown.render_inline(after.strip()))
        task_done = task is not None and isinstance(task.meta, TaskMeta) and task.meta.status == "done"
        states = [self.issue_state(ref) if self.issue_state else None for ref in dependency.links]
        links_done = bool(states) and all(state in DONE_ISSUE_STATES for state in states)
        return DependencyView(text=text, task=task, done=task_done or links_done)

    def archive_entry_context(self, page: Page) -> dict[str, Any]:
        meta = page.meta
        assert isinstance(meta, ArchiveMeta)
        related: dict[str, Page | None] = {}
        for field_name in ("supersedes", "superseded_by"):
            slug = getattr(meta, field_name, None)
            related[field_name] = self.content.decisions().get(slug) if slug else None
        gate_slug = getattr(meta, "gate", None)
        gate = next((g for g in self.content.gates if g.slug == gate_slug), None)
        named = getattr(meta, "gates", [])
        gates = [g for g in self.content.gates if g.slug in named]
        return {
            "meta": meta,
            "kind_label": self.section_label(page.archive_kind),
            "kind_url": f"archive/{page.archive_kind}/",
            "related": related,
            "gate": gate,
            "gates": gates,
            "evidence": self.evidence(page) if self.evidence else None,
        }

    def render_indexes(self, generated_at: datetime) -> list[Rendered]:
        archive = self.archive_views()
        outputs = [
            Rendered(
                output_path(ARCHIVE_INDEX_URL),
                self.render_template("archive_index.html", ARCHIVE_INDEX_URL, archive=archive,
                                     description=self.content.config.labels.archive_intro),
            )
        ]
        for view in archive:
            outputs.append(
                Rendered(
                    output_path(view.url),
                    self.render_template("archive_kind.html", view.url, kind=view,
                                         description=f"{view.label} in the archive."),
                )
            )
        if self.history:
            outputs += self.changes_outputs()
        outputs += self.board_index_outputs()
        outputs += self.tag_outputs()
        outputs.append(Rendered(NOT_FOUND_PAGE, self.render_404()))
        outputs.append(self.feed_output(generated_at, archive))
        outputs.append(Rendered("sitemap.xml", self.render_sitemap()))
        return outputs

    def board_index_outputs(self) -> list[Rendered]:
        """gates/ and workstreams/: every gate with its status, every workstream with its progress."""
        outputs = []
        if self.content.gates:
            gates = self.gate_views(GATES_INDEX_URL)
            outputs.append(Rendered(output_path(GATES_INDEX_URL), self.render_template(
                "gates_index.html", GATES_INDEX_URL, gates=gates, readiness=readiness(gates),
                groups=gate_groups(self.workstream_views(GATES_INDEX_URL, gates)),
                description=f"Every gate of {self.content.config.title}, with its status, owner and due date.")))
        if self.content.workstreams:
            streams = self.workstream_views(WORKSTREAMS_INDEX_URL)
            outputs.append(Rendered(output_path(WORKSTREAMS_INDEX_URL), self.render_template(
                "workstreams_index.html", WORKSTREAMS_INDEX_URL, workstreams=streams,
                description=f"Every workstream of {self.content.config.title}, with its gates and progress.")))
        return outputs

    def tag_outputs(self) -> list[Rendered]:
        """archive/tags/ and one page per tag listing the archive entries that carry it."""
        if not self.tags:
            return []
        outputs = [Rendered(output_path(TAGS_INDEX_URL), self.render_template(
            "tags_index.html", TAGS_INDEX_URL, tags=self.tags, tag_url=tag_url,
            description="Every tag in the archive, with its entries."))]
        for tag, entries in self.tags.items():
            outputs.append(Rendered(output_path(tag_url(tag)), self.render_template(
                "tag.html", tag_url(tag), tag=tag, entries=entries, section_label=self.section_label,
                description=f"Archive entries tagged {tag}.")))
        return outputs

    def changes_outputs(self) -> list[Rendered]:
        """"Board changes": every gate's status changes from git, newest first, as a page and an Atom feed."""
        changes = self.history.changes()
        page = self.render_template("changes.html", CHANGES_URL, changes=changes, partial=self.history.partial,
                                    description="Board changes: every gate status change, from the "
                                                "repository's history.")
        feed = self.render_template("changes_feed.xml", CHANGES_FEED, changes=changes[:50], absolute=self.absolute,
                                    updated=changes[0].committed_at)
        return [Rendered(output_path(CHANGES_URL), page), Rendered(CHANGES_FEED, feed)]

    def feed_output(self, generated_at: datetime, archive: list[ArchiveKindView] | None = None) -> Rendered:
        """The Atom feed: the one index whose text comes from page bodies (summaries fall back to them)."""
        return Rendered("feed.xml", self.render_feed(archive or self.archive_views(), generated_at))

    def render_404(self) -> bytes:
        # served at any depth: only an absolute base URL is right everywhere; without one, the site root
        base = self.content.config.base_url
        return self.render_template("404.html", "", site_root=base or "/", description="Page not found.")

    def absolute(self, url: str) -> str:
        """An absolute URL when site.yaml (or --base-url) names one; otherwise relative to the feed's folder,
        which is the site root, so it still resolves under any sub-path."""
        base = self.content.config.base_url
        return (base.rstrip("/") + "/" + url) if base else url or "./"

    def render_feed(self, archive: list[ArchiveKindView], generated_at: datetime) -> bytes:
        entries = sorted((p for view in archive for p in view.entries), key=entry_sort_key)[:50]
        updated = max((entry_datetime(p) for p in entries), default=generated_at)
        return self.render_template(
            "feed.xml", "", entries=entries, updated=updated, absolute=self.absolute,
            summary_of=description_of, entry_datetime=entry_datetime,
        )

    def render_sitemap(self) -> bytes:
        urls = sorted({"", ARCHIVE_INDEX_URL, *self.known_urls})
        return self.render_template("sitemap.xml", "", urls=urls, absolute=self.absolute)


def repository_url(repository: str | None) -> str | None:
    return f"https://github.com/{repository}" if repository else None


def tagged_entries(content: Content) -> dict[str, list[Page]]:
    """Tag → the archive entries carrying it, newest first; tags in alphabetical order."""
    tags: dict[str, list[Page]] = {}
    for entries in content.archive.values():
        for page in entries:
            for tag in getattr(page.meta, "tags", []):
                tags.setdefault(tag, []).append(page)
    return {tag: sorted(pages, key=entry_sort_key) for tag, pages in sorted(tags.items())}


def tag_url(tag: str) -> str:
    return f"{TAGS_INDEX_URL}{tag}/"


def entry_sort_key(page: Page) -> tuple[int, str]:
    meta = page.meta
    assert isinstance(meta, ArchiveMeta)
    return (-meta.date.toordinal(), page.slug)


def entry_datetime(page: Page) -> datetime:
    meta = page.meta
    assert isinstance(meta, ArchiveMeta)
    return datetime.combine(meta.date, time(0, 0), tzinfo=UTC)


def list_summary(page: Page) -> str | None:
    """The line an archive list shows under an entry: its summary, or a task's outcome (never the body, so a body
    edit never changes a list)."""
    meta = page.meta
    if isinstance(meta, ArchiveMeta) and meta.summary:
        return meta.summary
    if isinstance(meta, TaskMeta):
        return meta.outcome
    return None


def description_of(page: Page) -> str:
    meta = page.meta
    if isinstance(meta, BoardMeta):
        return meta.summary
    if isinstance(meta, ArchiveMeta) and meta.summary:
        return meta.summary
    if isinstance(meta, TaskMeta):
        return meta.outcome
    text = plain_text(page.body)
    return text[:200].rsplit(" ", 1)[0] + "…" if len(text) > 200 else text

