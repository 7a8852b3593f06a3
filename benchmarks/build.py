"""Board build: Giftboard against Hugo, MkDocs and Pelican on the same generated pages, plus rebuilds and the seed."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import corpus, peers
from benchmarks.common import (
    REPO_ROOT,
    NotAvailable,
    Progress,
    Ran,
    Table,
    hotspots,
    median,
    python_path,
    quick,
    run_timed,
    runs,
    scratch,
    seconds,
    storage_of,
    tail,
)

FULL_PAGES = 4000
QUICK_PAGES = 120
NO_CHANGE_TARGET = 0.3
ONE_FILE_SERVE_TARGET = 0.05
HUGO_RATIO_TARGET = 0.5  # our cold build ÷ Hugo's, same corpus, same run (issue 13)


def page_count() -> int:
    value = os.environ.get("BENCH_PAGES")
    if value:
        return int(value)
    return QUICK_PAGES if quick() else FULL_PAGES


@dataclass
class Tool:
    name: str
    version: str
    root: Path
    command: list[str | os.PathLike[str]]
    clean: list[Path]  # removed before each cold build: output and caches
    output: Path
    env: dict[str, str] | None = None
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    error: str = ""

    def cold(self) -> Ran:
        for path in self.clean:
            shutil.rmtree(path, ignore_errors=True)
        return run_timed(self.command, cwd=self.root, env=self.env)

    def html_files(self) -> int:
        return sum(1 for _ in self.output.rglob("*.html")) if self.output.is_dir() else 0


def giftboard_command(content: Path, out: Path) -> list[str | os.PathLike[str]]:
    """The CLI build; the manifest cache goes beside the content so a cold run can remove it.

    No search index: the peers build none, so the comparison stays like for like (Pagefind adds ~50 ms to the
    seed board's build)."""
    return [sys.executable, "-m", "builder", "build", "--content", content, "--out", out,
            "--cache-dir", content.parent / ".cache", "--no-search"]


def giftboard_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CI", None)  # no annotations / strict CI behaviour in a benchmark
    env.pop("GITHUB_ACTIONS", None)
    env["PYTHONPATH"] = python_path()
    return env


def giftboard_tool(base: Path, pages: list[corpus.SourcePage]) -> Tool:
    root = base / "giftboard"
    corpus.write_giftboard(root / "content", pages)
    out = root / "site"
    return Tool("Giftboard", "this checkout", root, giftboard_command(root / "content", out),
                [out, root / ".cache"], out, giftboard_env())


def peer_tools(base: Path, pages: list[corpus.SourcePage]) -> list[Tool]:
    found = peers.versions()
    hugo_root = corpus.write_hugo(base / "hugo", pages)
    mkdocs_root = corpus.write_mkdocs(base / "mkdocs", pages)
    pelican_root = corpus.write_pelican(base / "pelican", pages)
    hugo_cache = hugo_root / ".hugo-cache"
    return [
        Tool("Hugo", found.get("hugo", "?"), hugo_root,
             [peers.hugo_binary(), "--quiet", "--source", hugo_root, "--destination", hugo_root / "public",
              "--cacheDir", hugo_cache, "--noBuildLock"],
             [hugo_root / "public", hugo_root / "resources", hugo_cache], hugo_root / "public"),
        Tool("MkDocs", found.get("mkdocs", "?"), mkdocs_root,
             [peers.tool("mkdocs"), "build", "--quiet", "--config-file", mkdocs_root / "mkdocs.yml",
              "--site-dir", mkdocs_root / "site"],
             [mkdocs_root / "site"], mkdocs_root / "site"),
        Tool("Pelican", found.get("pelican", "?"), pelican_root,
             [peers.tool("pelican"), pelican_root / "content", "--output", pelican_root / "output",
              "--settings", pelican_root / "pelicanconf.py", "--quiet"],
             [pelican_root / "output", pelican_root / "__pycache__"], pelican_root / "output"),
    ]


def lesson_html(out: Path, slug: str) -> Path:
    return out / "archive" / "lessons" / slug / "index.html"


def run(progress: Progress) -> list[Table]:
    count = page_count()
    n_runs = runs(3)
    pages = list(corpus.pages(count))
    words = sum(p.words for p in pages)
    tables: list[Table] = []
    with scratch("build") as base:
        with progress.step(f"writing {count} pages ({words / count:.0f} words each on average) for each tool"):
            ours = giftboard_tool(base, pages)
            tools = [ours]
            peer_note = ""
            if os.environ.get("BENCH_NO_PEERS"):
                peer_note = "peers skipped (BENCH_NO_PEERS is set)"
            else:
                try:
                    peers.ensure(progress)
                    tools += peer_tools(base, pages)
                except NotAvailable as error:
                    peer_note = f"peers not available: {error}"
        for round_no in range(1, n_runs + 1):
            for tool in tools:
                if tool.error:
                    continue
                with progress.step(f"cold build {round_no}/{n_runs}: {tool.name} ({count} pages)"):
                    ran = tool.cold()
                if ran.returncode != 0:
                    tool.error = f"exit {ran.returncode}: {tail(ran.stderr or ran.stdout, 6)}"
                    progress.line(f"{tool.name} failed: {tool.error}")
                else:
                    tool.times.append(ran.seconds)
                    tool.cpu.append(ran.cpu)
        tables.append(cold_table(tools, count, words, n_runs, base, peer_note))
        tables.append(rebuild_table(progress, ours, pages, n_runs))
    tables.append(seed_table(progress, n_runs))
    return tables


def cold_table(tools: list[Tool], count: int, words: int, n_runs: int, base: Path, peer_note: str) -> Table:
    table = Table(
        f"Board build: cold build of {count} generated Markdown pages (same bodies for every tool)",
        ["tool", "version", "cold build (median)", "runs (min–max)", "CPU time (median)", "pages/s",
         "HTML files out", "Giftboard's time ÷ tool's"],
    )
    ours = tools[0]
    ours_median = median(ours.times) if ours.times else None
    for tool in tools:
        if not tool.times:
            table.add(tool.name, tool.version, "failed", "—", "—", "—", tool.html_files(), "—")
            table.notes.append(f"{tool.name} did not build: {tool.error}")
            continue
        mid = median(tool.times)
        ratio = "—" if tool is ours or ours_median is None else f"{ours_median / mid:.2f}×"
        table.add(tool.name, tool.version, seconds(mid), f"{seconds(min(tool.times))}–{seconds(max(tool.times))}",
                  seconds(median(tool.cpu)), f"{count / mid:,.0f}", tool.html_files(), ratio)
    hugo = next((t for t in tools if t.name == "Hugo" and t.times), None)
    if ours_median is not None and hugo is not None:
        hugo_median = median(hugo.times)
        ratio = ours_median / hugo_median
        verdict = "met" if ratio <= HUGO_RATIO_TARGET else "MISSED"
        table.notes.append(f"target: cold build at or under {HUGO_RATIO_TARGET:.1f}× Hugo's time in the same run — "
                           f"{verdict} ({seconds(ours_median)} vs {seconds(hugo_median)}: {ratio:.2f}×)")
        table.headline(f"cold build, {count} pages: Giftboard ÷ Hugo (same run)",
                       f"{seconds(ours_median)} vs {seconds(hugo_median)} ({ratio:.2f}×)",
                       f"≤ {HUGO_RATIO_TARGET:.1f}×", verdict)
        for peer in tools[2:]:
            if peer.times:
                table.headline(f"cold build, {count} pages: Giftboard vs {peer.name}",
                               f"{seconds(ours_median)} vs {seconds(median(peer.times))} "
                               f"({ours_median / median(peer.times):.2f}×)", "far ahead", "for reference")
    elif ours_median is not None:
        table.notes.append(f"target: cold build at or under {HUGO_RATIO_TARGET:.1f}× Hugo's time — not measured "
                           "(no Hugo in this run)")
    if peer_note:
        table.notes.append(peer_note)
    table.notes.append(f"{count} pages, {words:,} words in all; median of {n_runs} run(s) taken in turns, wall clock "
                       f"from spawn to exit, output and caches removed before each run; files on {storage_of(base)}; "
                       "CPU time = user + system of the process and its workers (steadier than wall clock when "
                       "other work shares the 2 cores, but it does not credit parallelism)")
    table.notes.append("a ratio under 1.00× means Giftboard is faster. Same kind of output for all: one page per "
                       "Markdown file, index pages, a sitemap (not MkDocs) and one feed of the 50 newest entries "
                       "(Giftboard's Atom feed; Hugo's home RSS with services.rss.limit = 50 and no section feed; "
                       "Pelican's all.atom.xml with FEED_MAX_ITEMS = 50; MkDocs has none). Hugo: three minimal "
                       "layouts, no theme, no taxonomies; MkDocs: default theme, a short nav (10 entries); Pelican: "
                       "default theme and its usual category/author/archive pages")
    return table


def rebuild_table(progress: Progress, ours: Tool, pages: list[corpus.SourcePage], n_runs: int) -> Table:
    table = Table("Board build: Giftboard rebuilds of the same corpus",
                  ["measure", "time (median)", "target", "verdict"])
    if not ours.times:
        table.add("rebuilds", "not measured", "—", "cold build failed")
        return table
    content = ours.root / "content"
    out = ours.output
    ours.cold()  # a complete output and a warm cache to start from
    ran_no_change: list[float] = []
    with progress.step(f"no-change rebuild ×{n_runs}"):
        for _ in range(n_runs):
            ran = run_timed(ours.command, cwd=ours.root, env=ours.env)
            if ran.returncode != 0:
                table.notes.append(f"no-change rebuild failed: {tail(ran.stderr, 4)}")
                break
            ran_no_change.append(ran.seconds)
    if ran_no_change:
        mid = median(ran_no_change)
        table.add("no-change rebuild (CLI, whole process)", seconds(mid), "< 300 ms",
                  "met" if mid < NO_CHANGE_TARGET else "MISSED")
        table.headline("no-change rebuild (CLI)", seconds(mid), "< 300 ms", table.rows[-1][-1])
        table.metric("no_change_rebuild_ms", mid * 1000)
    in_process = no_change_in_process(ours, n_runs)
    if in_process is not None:
        table.add("no-change rebuild (in-process `Site.build()`, no start-up)", seconds(in_process), "—",
                  "what is left without Python start-up and imports")
    changed_times: list[float] = []
    stale = 0
    with progress.step(f"one-file-changed rebuild ×{n_runs}"):
        for attempt in range(n_runs):
            page = pages[(attempt * 37) % len(pages)]
            marker = f"benchmark-change-marker-{attempt}-{time.time_ns()}"
            source = corpus.giftboard_page_path(content, page)
            source.write_text(source.read_text(encoding="utf-8") + f"\nChanged paragraph {marker}.\n",
                              encoding="utf-8")
            ran = run_timed(ours.command, cwd=ours.root, env=ours.env)
            if ran.returncode != 0:
                table.notes.append(f"one-file rebuild failed: {tail(ran.stderr, 4)}")
                break
            changed_times.append(ran.seconds)
            target = lesson_html(out, page.slug)
            if not target.is_file() or marker not in target.read_text(encoding="utf-8"):
                stale += 1
    if changed_times:
        mid = median(changed_times)
        table.add("one-file-changed rebuild (CLI, whole process)", seconds(mid), "—", "for reference")
        table.add("output stale after a change", f"{stale} of {len(changed_times)}", "0", "met" if not stale else
                  "MISSED: the changed page did not show the edit")
        table.headline("stale output after a one-file change", f"{stale} of {len(changed_times)}", "0",
                       "met" if not stale else "MISSED")
    serve = measure_incremental(progress, ours, pages, n_runs)
    if serve is None:
        table.add("one-file change in `serve` (incremental path)", "not available", "< 50 ms",
                  "no incremental API exposed by the builder yet")
    else:
        mid, stale_serve, how, title_change, profile = serve
        table.notes.append(f"one body edit through `LiveSite.apply` under cProfile, largest cumulative times in "
                           f"builder/ (they nest): {profile}")
        verdict = "met" if mid < ONE_FILE_SERVE_TARGET and not stale_serve else "MISSED"
        table.add(f"one-file change in `serve` ({how})", seconds(mid), "< 50 ms",
                  verdict + (f" ({stale_serve} stale)" if stale_serve else ""))
        table.headline("one-file change in `serve`", seconds(mid), "< 50 ms", table.rows[-1][-1])
        if title_change is not None:
            took, fresh = title_change
            table.add("one-file title change in `serve` (index pages too)", seconds(took), "—",
                      "fresh (page and archive index)" if fresh else "MISSED: stale page or index")
    table.notes.append("the CLI figures include Python start-up and imports (about "
                       f"{seconds(python_startup())} for `python -m builder --help` here); the largest third-party "
                       "imports of `python -m builder build` on the seed board (-X importtime, by package): "
                       f"{import_hotspots()}")
    return table


def no_change_in_process(ours: Tool, n_runs: int) -> float | None:
    try:
        from builder.site.build import BuildOptions, Site
    except ImportError:
        return None
    options = BuildOptions(content=ours.root / "content", out=ours.output, cache_dir=ours.root / ".cache")
    times = []
    for _ in range(max(n_runs, 3)):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            began = time.perf_counter()
            Site(options).build()
            times.append(time.perf_counter() - began)
    return median(times)


def import_hotspots(limit: int = 6) -> str:
    """The third-party packages `python -m builder build` imports first, by cumulative import time (-X importtime),
    in a real build of the seed board (`build --help` imports almost nothing: the pipeline is imported lazily)."""
    with tempfile.TemporaryDirectory(prefix="giftboard-bench-imports-") as scratch:
        scratch_path = Path(scratch)
        ran = run_timed([sys.executable, "-X", "importtime", "-m", "builder", "build", "--content",
                         REPO_ROOT / "content", "--out", scratch_path / "site", "--cache-dir",
                         scratch_path / ".cache", "--no-search"], env=giftboard_env())
    own = ("builder", "benchmarks", "__main__", "encodings", "_", "site", "runpy")
    stack: list[tuple[int, bool]] = []  # (depth, is third-party) of the enclosing imports, innermost last
    totals: dict[str, int] = {}  # µs by top-level package (a package's modules may be first imported apart)
    for line in reversed(ran.stderr.splitlines()):  # importtime prints children before their parent
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = len(name) - len(name.lstrip())
        name = name.strip()
        while stack and stack[-1][0] >= depth:
            stack.pop()
        third_party = not name.startswith(own) and name.split(".")[0] not in sys.stdlib_module_names \
            and importable(name)  # importtime also lists imports that failed (copy.py's `org.python.core`)
        if third_party and not any(outer for _depth, outer in stack):
            top = name.split(".")[0]
            totals[top] = totals.get(top, 0) + int(parts[1])
        stack.append((depth, third_party))
    found = sorted(((us, name) for name, us in totals.items()), reverse=True)
    return ", ".join(f"{name} {micros_ms(us)}" for us, name in found[:limit])


def importable(name: str) -> bool:
    top = name.split(".")[0]
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def micros_ms(us: int) -> str:
    return f"{us / 1000:.0f} ms"


def python_startup() -> float:
    times = [run_timed([sys.executable, "-m", "builder", "--help"], env=giftboard_env()).seconds
             for _ in range(runs(3))]
    return median(times)


def incremental_api() -> Callable[[Path, Path, Path], Callable[[set[Path]], object]] | None:
    """`serve`'s in-process incremental path (`builder.site.live.LiveSite.apply`), or None while absent."""
    try:
        from builder.site.build import BuildOptions, Site
        from builder.site.live import LiveSite
    except ImportError:
        return None

    def start(content: Path, out: Path, cache: Path) -> Callable[[set[Path]], object]:
        live = LiveSite(Site(BuildOptions(content=content, out=out, cache_dir=cache)))
        with contextlib.redirect_stderr(io.StringIO()):  # the builder's own notes (no GitHub snapshot, …)
            live.full_build()
        return live.apply

    return start


def measure_incremental(progress: Progress, ours: Tool, pages: list[corpus.SourcePage],
                        n_runs: int) -> tuple[float, int, str, tuple[float, bool] | None, str] | None:
    start = incremental_api()
    if start is None:
        return None
    incremental_runs = 2 if quick() else max(n_runs, 5)
    content = ours.root / "content"
    out = ours.output
    times: list[float] = []
    stale = full = 0
    with progress.step(f"one-file change through the incremental API ×{incremental_runs}"):
        rebuild = start(content, out, ours.root / ".cache")
        for attempt in range(incremental_runs):
            page = pages[(attempt * 53 + 11) % len(pages)]
            marker = f"incremental-marker-{attempt}-{time.time_ns()}"
            source = corpus.giftboard_page_path(content, page)
            source.write_text(source.read_text(encoding="utf-8") + f"\nIncremental {marker}.\n", encoding="utf-8")
            began = time.perf_counter()
            result = rebuild({source})
            times.append(time.perf_counter() - began)
            if getattr(result, "full_rebuild", False) or getattr(result, "problems", None):
                full += 1
            target = lesson_html(out, page.slug)
            if not target.is_file() or marker not in target.read_text(encoding="utf-8"):
                stale += 1
        page = pages[19 % len(pages)]
        source = corpus.giftboard_page_path(content, page)
        source.write_text(source.read_text(encoding="utf-8") + "\nProfiled edit.\n", encoding="utf-8")
        profile = hotspots(lambda: rebuild({source}), "/builder/", skip=frozenset({"apply"}))
        title_change = change_title(rebuild, content, out, pages[7 % len(pages)])
    how = "in-process `LiveSite.apply`" + (f", {full} fell back to a full build" if full else "")
    return median(times), stale, how, title_change, profile


def change_title(rebuild: Callable[[set[Path]], object], content: Path, out: Path,
                 page: corpus.SourcePage) -> tuple[float, bool] | None:
    """A title edit shows on index pages too: time it through `serve`'s path and check the archive index."""
    source = corpus.giftboard_page_path(content, page)
    text = source.read_text(encoding="utf-8")
    marker = f"Retitled {time.time_ns()}"
    changed = text.replace(f"title: {corpus.yaml_str(page.title)}", f"title: {corpus.yaml_str(marker)}", 1)
    if changed == text:
        return None
    source.write_text(changed, encoding="utf-8")
    began = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        rebuild({source})
    took = time.perf_counter() - began
    index = out / "archive" / "lessons" / "index.html"
    fresh = lesson_html(out, page.slug).is_file() and marker in lesson_html(out, page.slug).read_text(encoding="utf-8")
    fresh = fresh and index.is_file() and marker in index.read_text(encoding="utf-8")
    return took, fresh


def seed_table(progress: Progress, n_runs: int) -> Table:
    table = Table("Board build: the seed board (content/ of the repository)",
                  ["content", "pages (Markdown files)", "cold build (median)", "target", "verdict"])
    seed = REPO_ROOT / "content"
    files = sum(1 for _ in seed.rglob("*.md")) if seed.is_dir() else 0
    if not (seed / "site.yaml").is_file():
        table.add("content/", files, "not available", "well under 1 s", "the seed content has not landed yet")
        return table
    times: list[float] = []
    with scratch("seed") as base:
        content = base / "content"
        shutil.copytree(seed, content)
        out = base / "site"
        with progress.step(f"seed board cold build ×{n_runs}"):
            for _ in range(n_runs):
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(base / ".cache", ignore_errors=True)
                ran = run_timed(giftboard_command(content, out), cwd=base, env=giftboard_env())
                if ran.returncode != 0:
                    table.add("content/", files, "failed", "well under 1 s", f"exit {ran.returncode}")
                    table.notes.append(tail(ran.stderr or ran.stdout, 8))
                    return table
                times.append(ran.seconds)
    mid = median(times)
    table.add("content/", files, seconds(mid), "well under 1 s", "met" if mid < 1 else "MISSED")
    table.headline("seed board build (CLI)", seconds(mid), "well under 1 s", "met" if mid < 1 else "MISSED")
    table.metric("seed_board_build_ms", mid * 1000)
    table.notes.append("CLI wall clock including Python start-up; --offline is not passed, the build reads no network")
    return table
