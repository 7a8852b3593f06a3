"""The site pipeline, Zola-style: `load()` reads and checks everything, `build()` only then writes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from builder import __version__
from builder.content.gate_history import BoardHistory
from builder.content.loader import read_content
from builder.content.structure import Content, Page
from builder.errors import ContentError, Diagnostic
from builder.github.board import GitHubLayer
from builder.markup import Markdown
from builder.progress import Advance, progress
from builder.site.criteria import CriteriaEvaluator
from builder.site.environment import make_environment
from builder.site.gate_metrics import Metric, ledger_summary, read_metrics
from builder.site.freshness import quick_key, up_to_date
from builder.site.incremental import Manifest, record_outputs, text_hash, tree_stat_key, walk_files
from builder.site.render import ASSETS, Rendered, SiteRenderer, output_path
from builder.site.options import BuildOptions
from builder.site.page_sources import SourceFacts
from builder.site.search import MISSING_NOTE, find_pagefind, index_site
from builder.site.writer import StagedSite

PARALLEL_THRESHOLD = 96  # below this many pages, forking workers costs more than it saves
CHUNKS_PER_WORKER = 16  # pages are handed out in this many strided chunks per worker
PROGRESS_THRESHOLD = 500  # a bar for builds that take long enough to watch
KEEP_FOLDERS = ("gifts",)  # written by the gift publisher, never by a board build

__all__ = ["BuildOptions", "BuildReport", "ExtraOutput", "Site"]


@dataclass
class BuildReport:
    pages: int = 0
    rendered: int = 0
    reused: int = 0
    up_to_date: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    rendered_paths: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def summary(self) -> str:
        if self.up_to_date:
            return f"up to date ({self.pages} pages) in {self.seconds * 1000:.0f} ms"
        phases = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in self.phases.items())
        return f"built {self.pages} pages ({self.rendered} rendered, {self.reused} reused) in " \
               f"{self.seconds * 1000:.0f} ms: {phases}"


class Phases:
    def __init__(self, report: BuildReport) -> None:
        self.report = report
        self.started = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.report.phases[name] = self.report.phases.get(name, 0.0) + now - self.started
        self.started = now


@dataclass(frozen=True)
class ExtraOutput:
    """A page rendered beside the content (the ops page), registered by whoever assembles the site: `url` is
    known to the link check, `render` runs after the content pages with the loaded site."""

    url: str
    render: Callable[[Site], list[Rendered]]


class Site:
    """One build of one content folder into one output folder."""

    def __init__(self, options: BuildOptions, *, extra_outputs: Sequence[ExtraOutput] = ()) -> None:
        self.options = options
        self.extra_outputs = list(extra_outputs)
        self.content: Content | None = None
        self.renderer: SiteRenderer | None = None
        self.warnings: list[Diagnostic] = []  # GitHub evidence contradictions: errors under --strict
        self.github_key = ""
        self.history = BoardHistory()
        self.sources = SourceFacts()
        self.criteria = CriteriaEvaluator(None, {})
        self.notes: list[str] = []  # for the developer, in the CLI only (never on a page)
        self.search_binary: Path | None = None
        self.report = BuildReport()
        self.previous_timing: dict[str, float] = {}  # the last build of this output, shown on the ops page
        self.phases = Phases(self.report)

    # -- load ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Read content and templates and check every reference; raise ContentError with every problem.

        When some files fail, the links of every page that loaded are still checked, so one run lists it all."""
        github = GitHubLayer.resolve(self.options.content, offline=self.options.offline,
                                     cache_dir=self.options.cache_dir, github=self.options.github)
        self.github_key = github.key
        self.content, problems = read_content(self.options.content, generated=github.pages)
        self.warnings = github.contradictions(self.content)
        self.criteria = CriteriaEvaluator(github.snapshot, self.gate_metrics())
        self.warnings += self.criteria.contradictions(self.content.gates)
        base = self.options.base_url or self.content.config.base_url or self.options.fallback_base_url
        if base:
            self.content.config = self.content.config.model_copy(update={"base_url": base.rstrip("/") + "/"})
        self.history = BoardHistory() if problems else BoardHistory.read(self.content)
        config = self.content.config
        self.sources = SourceFacts.read(self.options.content, config.repository, config.branch)
        self.search_binary = find_pagefind() if self.options.search else None
        if self.options.search and self.search_binary is None:
            self.notes.append(MISSING_NOTE)
        env = make_environment(self.options.templates, overrides=self.options.template_overrides)
        self.renderer = SiteRenderer(self.content, env, Markdown(github.plugins), evidence=github.evidence,
                                     issue_state=github.issue_state,
                                     extra_urls=[extra.url for extra in self.extra_outputs],
                                     history=self.history, today=self.options.build_date,
                                     criteria=self.criteria.view, sources=self.sources,
                                     search=self.search_binary is not None)
        if problems:
            raise ContentError(problems + self.renderer.link_problems())
        self.phases.mark("load")

    def gate_metrics(self) -> dict[str, Metric]:
        """The numbers the gates' `metric:` criteria compare against (read only when a gate has one)."""
        assert self.content is not None
        wanted = any(criterion.metric for gate in self.content.gates
                     for criterion in getattr(gate.meta, "criteria", []))
        if not wanted:
            return {}
        return read_metrics(ledger_summary(self.options.ledger), self.options.benchmarks)

    def global_key(self) -> str:
        assert self.content is not None
        parts = [__version__, self.content.config.model_dump_json(), self.github_key, self.history.key(),
                 self.sources.key()]
        for root in self.options.theme_roots:
            for path in sorted(walk_files(root)):
                parts.append(f"{root.name}/{path.relative_to(root)}:{hashlib.blake2b(path.read_bytes()).hexdigest()}")
        for page in self.content.pages():
            parts.append(f"{page.url}|{page.meta.model_dump_json()}")
        return text_hash(*parts)

    # -- render --------------------------------------------------------------------------------
    def render_all(self, staged: StagedSite | None, manifest: Manifest) -> list[Diagnostic]:
        """Render every output (into `staged` when given); reuse unchanged pages from the last build."""
        assert self.content is not None and self.renderer is not None
        problems: list[Diagnostic] = []
        global_key = self.global_key() if staged is not None else ""
        reuse = staged is not None and self.options.incremental and manifest.global_key == global_key
        previous_out = self.options.out
        source_hashes: dict[str, str] = {}
        archive_pages: list[Page] = []
        for page in self.content.pages():
            relative = output_path(page.url)
            source_hashes[relative] = text_hash(page.meta_text, page.body, page.url)
            if page.kind != "archive":
                rendered = self.renderer.render_page(page)
                problems.extend(rendered.problems)
                self.emit(staged, rendered)
            elif reuse and staged and manifest.pages.get(relative) == source_hashes[relative] \
                    and (previous_out / relative).is_file():
                staged.link_or_copy(relative, previous_out / relative)
                self.report.reused += 1
            else:
                archive_pages.append(page)

        def the_rest() -> None:  # indexes, extra outputs and assets: in this process while workers render pages
            assert self.renderer is not None
            for rendered in self.renderer.render_indexes(self.generated_at()):
                self.emit(staged, rendered)
            for extra in self.extra_outputs:
                for rendered in extra.render(self):
                    self.emit(staged, rendered)
            if staged is not None:
                for name, asset in static_assets(self.options).items():
                    staged.write(f"{ASSETS}/{name}", asset.read_bytes())

        problems.extend(self.render_pages(archive_pages, staged, meanwhile=the_rest))
        self.report.pages = len(self.content.pages())
        manifest.global_key = global_key
        manifest.pages = source_hashes
        self.phases.mark("render")
        return problems

    def emit(self, staged: StagedSite | None, rendered: Rendered) -> None:
        self.report.rendered += 1
        self.report.rendered_paths.append(rendered.path)
        if staged is not None:
            staged.write(rendered.path, rendered.data)

    def render_pages(self, pages: list[Page], staged: StagedSite | None, *,
                     meanwhile: Callable[[], None] = lambda: None) -> list[Diagnostic]:
        """Render `pages`; `meanwhile` runs in this process, after them or (with workers) while workers render
        them, so the indexes are no serial tail after the pages."""
        assert self.renderer is not None
        workers = min(self.options.workers, os.cpu_count() or 1)
        with progress("Rendering pages", len(pages), minimum=PROGRESS_THRESHOLD) as advance:
            parallel = len(pages) >= PARALLEL_THRESHOLD and workers >= 2
            problems: list[Diagnostic] = []
            # the first page here: the templates it needs are compiled once, before the workers are forked
            for page in pages if not parallel else pages[:1]:
                rendered = self.renderer.render_page(page)
                problems.extend(rendered.problems)
                self.emit(staged, rendered)
                advance(1)
            if not parallel:
                meanwhile()
                return problems
            return problems + self.render_in_workers(pages[1:], staged, workers, advance, meanwhile)

    def render_in_workers(
        self, pages: list[Page], staged: StagedSite | None, workers: int, advance: Advance,
        meanwhile: Callable[[], None],
    ) -> list[Diagnostic]:
        global _WORKER_RENDERER, _WORKER_PAGES, _WORKER_ROOT
        _WORKER_RENDERER, _WORKER_PAGES = self.renderer, pages
        _WORKER_ROOT = staged.root if staged is not None else None
        count = workers * CHUNKS_PER_WORKER  # small chunks: no worker is left alone with a long one at the end
        chunks = [list(range(start, len(pages), count)) for start in range(count)]
        context = multiprocessing.get_context("fork")
        results = []
        with context.Pool(workers) as pool:
            running = pool.imap_unordered(_render_chunk, [chunk for chunk in chunks if chunk])
            meanwhile()
            for result in running:
                results.append(result)
                advance(len(result[0]))
        _WORKER_RENDERER, _WORKER_PAGES, _WORKER_ROOT = None, [], None
        problems = []
        for paths, chunk_problems in results:
            problems.extend(chunk_problems)
            self.report.rendered += len(paths)
            self.report.rendered_paths.extend(paths)
            if staged is not None:
                for path in paths:
                    if path in staged.written:
                        raise ContentError([Diagnostic(path, 1, "two pages render to the same output path")])
                    staged.written.add(path)
        return problems

    def generated_at(self) -> datetime:
        """The newest content date, so that builds from the same input are byte-identical."""
        assert self.content is not None
        newest = max(
            (p.meta.date for pages in self.content.archive.values() for p in pages),  # type: ignore[union-attr]
            default=None,
        )
        if newest is None:
            return datetime(1970, 1, 1, tzinfo=UTC)
        return datetime.combine(newest, datetime.min.time(), tzinfo=UTC)

    # -- commands ------------------------------------------------------------------------------
    def check(self) -> list[Diagnostic]:
        """Validate everything a build would, writing nothing."""
        self.load()
        problems = self.render_all(None, Manifest(out=str(self.options.out)))
        return problems + (self.warnings if self.options.strict else [])

    def build(self, *, known_key: str | None = None) -> BuildReport:
        """Build into a staging folder and swap it in; on any error the previous output stays.

        `known_key` is the inputs' `quick_key` when the caller has just computed it (the tree walk and `git
        rev-parse` are not repeated)."""
        options = self.options
        out = options.out.resolve()
        manifest = Manifest.load(options.manifest_path, out)
        key = quick_key(options) if known_key is None else known_key
        if up_to_date(options, manifest, key):
            self.report.up_to_date = True
            self.report.pages = sum(1 for path in manifest.pages)
            self.phases.mark("check")
            return self.report
        self.previous_timing = manifest.timing
        self.load()
        with StagedSite(out) as staged:
            problems = self.render_all(staged, manifest)
            if self.options.strict:
                problems += self.warnings
            if problems:
                raise ContentError(problems)
            if self.search_binary is not None:
                index_site(staged.root, self.search_binary)  # before the swap: gift pages are never in it
                self.phases.mark("search")
            staged.commit(keep=KEEP_FOLDERS)
            self.phases.mark("write")
            manifest.quick_key = key
            manifest.outputs = record_outputs(out, staged.written)
        manifest.timing = {**self.report.phases, "pages": float(self.report.pages)}
        manifest.save(options.manifest_path)
        return self.report


def static_assets(options: BuildOptions) -> dict[str, Path]:
    """The files served under assets/: the built-in ones, replaced or added to by a `static/` beside the content."""
    assets: dict[str, Path] = {}
    for root in (options.templates / "static", options.static_overrides):
        if root is not None:
            for path in sorted(walk_files(root)):
                assets[path.relative_to(root).as_posix()] = path
    return dict(sorted(assets.items()))


_WORKER_RENDERER: SiteRenderer | None = None
_WORKER_PAGES: list[Page] = []
_WORKER_ROOT: Path | None = None


def _render_chunk(indices: list[int]) -> tuple[list[str], list[Diagnostic]]:
    """Runs in a forked worker: render pages by index and write them straight into the staging folder."""
    assert _WORKER_RENDERER is not None
    paths: list[str] = []
    problems: list[Diagnostic] = []
    for index in indices:
        rendered = _WORKER_RENDERER.render_page(_WORKER_PAGES[index])
        problems.extend(rendered.problems)
        paths.append(rendered.path)
        if _WORKER_ROOT is not None:
            target = _WORKER_ROOT / rendered.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.data)
    return paths, problems

