"""Gift page: bytes of the first view, total bytes with media, and load metrics in headless Chromium on a slow link.

A real gift is made through `gift submit` + `gift work` (offline providers, a cover photo), published into a
site folder beside the seed board, served on 127.0.0.1 and loaded under DevTools network emulation. The seed
board's home page is measured the same way for reference.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks import giftkit
from benchmarks.common import REPO_ROOT, NotAvailable, Progress, Table, kib, millis, quick, run_timed, scratch, tail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
FIRST_VIEW_TARGET = 14 * 1024
SONG_TARGET = 300 * 1024  # per 30 s of song
FOLDER_TARGET = 500 * 1024


@dataclass(frozen=True)
class NetworkProfile:
    """Chrome DevTools' throttling presets (latency in ms, throughput in bytes per second)."""

    name: str
    latency_ms: float
    down_bps: float
    up_bps: float


PROFILES = (
    NetworkProfile("Slow 4G (DevTools preset)", 562.5, 1.6 * 1024 * 1024 * 0.9 / 8, 750 * 1024 * 0.9 / 8),
    NetworkProfile("3G (DevTools preset)", 2000.0, 500 * 1024 * 0.8 / 8, 500 * 1024 * 0.8 / 8),
)
STYLESHEET = re.compile(r"<link\b[^>]*\brel=\"?stylesheet\"?[^>]*>", re.IGNORECASE)
HREF = re.compile(r"\bhref=\"([^\"]+)\"")
SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
IMG = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """A static server for `root` on 127.0.0.1 (a free port), in a thread of this process."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FirstView:
    html: int
    css: int
    gzip: int
    scripts: int  # executable <script> elements (JSON-LD does not count)
    images: int
    unsized: int  # <img> without both width and height (layout shift)

    @property
    def raw(self) -> int:
        return self.html + self.css


def first_view(site: Path, url_path: str) -> FirstView:
    """HTML + linked CSS of one page as files on disk, raw and gzip'd (what a static host sends)."""
    page_dir = site / url_path
    html_bytes = (page_dir / "index.html").read_bytes()
    html = html_bytes.decode("utf-8", errors="replace")
    css = b""
    for tag in STYLESHEET.findall(html):
        match = HREF.search(tag)
        if match and "://" not in match.group(1):
            target = (page_dir / match.group(1).split("?")[0]).resolve()
            if target.is_file():
                css += target.read_bytes()
    scripts = sum(1 for attrs in SCRIPT.findall(html) if "application/ld+json" not in attrs)
    images = IMG.findall(html)
    unsized = sum(1 for attrs in images if not (re.search(r"\bwidth=", attrs) and re.search(r"\bheight=", attrs)))
    packed = len(gzip.compress(html_bytes, 9)) + (len(gzip.compress(css, 9)) if css else 0)
    return FirstView(len(html_bytes), len(css), packed, scripts, len(images), unsized)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def load_metrics(url: str, profiles: tuple[NetworkProfile, ...]) -> dict[str, dict[str, float]]:
    """First paint, first contentful paint, DOMContentLoaded and load (ms from navigation start), bytes on the wire.

    No TTFB: under DevTools emulation the navigation entry's responseStart is taken before the emulated latency.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for profile in profiles:
                context = browser.new_context()
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                transferred: dict[str, float] = {"bytes": 0.0, "requests": 0.0}

                def finished(event: dict[str, Any], box: dict[str, float] = transferred) -> None:
                    box["bytes"] += float(event.get("encodedDataLength", 0))
                    box["requests"] += 1

                cdp.on("Network.loadingFinished", finished)
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                cdp.send("Network.emulateNetworkConditions", {
                    "offline": False, "latency": profile.latency_ms,
                    "downloadThroughput": profile.down_bps, "uploadThroughput": profile.up_bps,
                })
                page.goto(url, wait_until="load", timeout=180_000)
                page.wait_for_function(
                    "performance.getEntriesByType('navigation')[0].loadEventEnd > 0", timeout=30_000)
                with contextlib.suppress(PlaywrightTimeout):  # paint can come after the load event; else "none"
                    page.wait_for_function(
                        "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=15_000)
                timing = page.evaluate("""() => {
                    const nav = performance.getEntriesByType('navigation')[0];
                    const paint = Object.fromEntries(performance.getEntriesByType('paint')
                        .map(e => [e.name, e.startTime]));
                    return {fp: paint['first-paint'] ?? -1, fcp: paint['first-contentful-paint'] ?? -1,
                            dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
                }""")
                page.wait_for_timeout(200)  # let the last loadingFinished events arrive
                results[profile.name] = {**{k: float(v) for k, v in timing.items()}, **transferred}
                context.close()
        finally:
            browser.close()
    return results


@dataclass
class Subject:
    label: str
    url_path: str  # site-relative folder, "" for the home page
    folder: Path | None  # the gift's own folder (for total bytes with media)
    note: str = ""


def make_site(progress: Progress, base: Path) -> tuple[Path, list[Subject], list[str]]:
    """Build the seed board into base/site, then publish one gift into the same folder."""
    site = base / "site"
    subjects: list[Subject] = []
    notes: list[str] = []
    env = giftkit.gift_env(base)
    seed = REPO_ROOT / "content"
    if (seed / "site.yaml").is_file():
        shutil.copytree(seed, base / "content")
        with progress.step("building the seed board"):
            ran = run_timed(giftkit.builder_cmd("build", "--content", base / "content", "--out", site,
                                                "--cache-dir", base / ".cache"), cwd=base, env=env)
        if ran.returncode == 0:
            subjects.append(Subject("seed board home page", "", None))
        else:
            notes.append(f"seed board build failed: {tail(ran.stderr, 2)}")
    try:
        giftkit.require(["gift", "work"], env, base, "the job commands")
        giftkit.require_pipeline(env, base)
    except NotAvailable as error:
        notes.append(f"gift page not available: {error}")
        return site, subjects, notes
    ledger = base / "ledger"
    with progress.step("making one gift (with a 1600×1200 cover photo) through the offline providers"):
        giftkit.submit(giftkit.sample_order(0, prefix="page", cover_photo=giftkit.cover_photo_jpeg()), base, ledger,
                       env)
        ran = giftkit.work_until_idle(ledger, site, env, base, 1)
    published = [r for r in giftkit.records(ledger) if r.state == "published" and r.url]
    if ran.returncode != 0 or not published:
        notes.append(f"gift page not available: the order was not published ({tail(ran.stderr or ran.stdout, 2)})")
        return site, subjects, notes
    url_path = published[0].url.strip("/") + "/"
    subjects.insert(0, Subject("gift page", url_path, site / url_path))
    return site, subjects, notes


def song_seconds(song: Path) -> float:
    """Decoded length of the published song (what a browser plays), with PyAV (the project's own encoder)."""
    import av

    with av.open(str(song)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def delivery_table(folder: Path, first_view_gzip: int) -> Table:
    """The gift's folder and song against the delivery targets, beside the same song as a 16-bit WAV."""
    table = Table("Gift page: folder and song against the targets",
                  ["what", "Giftboard (this run)", "same song as 16-bit mono WAV (before)", "target", "verdict"])
    songs = sorted(folder.glob("song.*"))
    if not songs:
        table.notes.append("no song in the gift's folder")
        return table
    song = songs[0]
    seconds = song_seconds(song)
    wav = 44 + round(seconds * 22_050) * 2  # what the page published before: 22.05 kHz, 16-bit, mono
    per_30 = song.stat().st_size * 30 / seconds
    total = folder_bytes(folder)
    others = total - song.stat().st_size
    table.add(f"song ({song.suffix[1:].upper()}, {seconds:.1f} s)", kib(song.stat().st_size), kib(wav), "—", "—")
    table.add("song per 30 s", kib(round(per_30)), kib(round(wav * 30 / seconds)), "≤ 300 KiB",
              "met" if per_30 <= SONG_TARGET else "MISSED")
    table.add("gift folder, every file", kib(total), kib(others + wav), "≤ 500 KiB",
              "met" if total <= FOLDER_TARGET else "MISSED")
    table.add("first view, HTML+CSS gzip'd", kib(first_view_gzip), kib(first_view_gzip), "≤ 14 KiB",
              "met" if first_view_gzip <= FIRST_VIEW_TARGET else "MISSED")
    table.headline("gift song per 30 s (MP3)", kib(round(per_30)), "≤ 300 KB",
                   "met" if per_30 <= SONG_TARGET else "MISSED")
    table.headline("gift folder, every file", kib(total), "≤ 500 KB", "met" if total <= FOLDER_TARGET else "MISSED")
    table.metric("gift_song_kib_per_30s", per_30 / 1024)
    table.metric("gift_folder_kib", total / 1024)
    table.notes.append("the gift of this bench has a 1600×1200 cover photo (three photo variants in the folder); the "
                       "WAV column is the same decoded song as the 16-bit mono 22.05 kHz WAV the page published "
                       "before, with the other files unchanged")
    return table


def run(progress: Progress) -> list[Table]:
    if not CHROMIUM.is_file():
        raise NotAvailable("/usr/bin/chromium is not installed (apt-get install chromium)")
    profiles = PROFILES[:1] if quick() else PROFILES
    with scratch("giftpage") as base:
        site, subjects, notes = make_site(progress, base)
        if not subjects:
            raise NotAvailable("; ".join(notes) or "nothing to load")
        sizes = Table("Gift page: bytes", ["page", "first view HTML+CSS (raw)", "first view gzip'd",
                                           "14 KB target (gzip'd)", "scripts", "<img> without width+height",
                                           "total with media"])
        loads = Table("Gift page: load in headless Chromium under network emulation",
                      ["page", "network", "first paint", "first contentful paint", "DOMContentLoaded",
                       "load event", "requests", "bytes on the wire"])
        delivery: Table | None = None
        with serve(site) as origin:
            for subject in subjects:
                view = first_view(site, subject.url_path)
                if subject.folder:
                    delivery = delivery_table(subject.folder, view.gzip)
                total = kib(folder_bytes(subject.folder)) if subject.folder else "—"
                sizes.add(subject.label, f"{kib(view.raw)} ({kib(view.html)} + {kib(view.css)} CSS)", kib(view.gzip),
                          "met" if view.gzip <= FIRST_VIEW_TARGET else "MISSED", view.scripts,
                          f"{view.unsized} of {view.images}", total)
                if subject.folder:
                    sizes.headline("gift page first view, HTML+CSS gzip'd", kib(view.gzip), "≤ 14 KB",
                                   "met" if view.gzip <= FIRST_VIEW_TARGET else "MISSED")
                if subject.folder:
                    files = sorted((p for p in subject.folder.rglob("*") if p.is_file()),
                                   key=lambda p: -p.stat().st_size)
                    sizes.notes.append(f"{subject.label} files: " + ", ".join(
                        f"{p.relative_to(subject.folder)} {kib(p.stat().st_size)}" for p in files))
                with progress.step(f"loading the {subject.label} in Chromium ({len(profiles)} network profile(s))"):
                    metrics = load_metrics(f"{origin}/{subject.url_path}", profiles)
                for profile in profiles:
                    m = metrics[profile.name]
                    loads.add(subject.label, profile.name,
                              millis(m["fp"] / 1000, 0) if m["fp"] >= 0 else "none",
                              millis(m["fcp"] / 1000, 0) if m["fcp"] >= 0 else "none",
                              millis(m["dcl"] / 1000, 0), millis(m["load"] / 1000, 0), int(m["requests"]),
                              kib(int(m["bytes"])))
                    if subject.folder:
                        loads.headline(f"gift page under {profile.name}: first contentful paint / load",
                                       f"{m['fcp']:.0f} ms / {m['load']:.0f} ms", "—", "for reference")
        sizes.notes += notes
        sizes.notes.append("first view = the page's HTML plus the stylesheets it links (inline CSS is in the HTML); "
                           "gzip level 9 as a static host would send it; 'scripts' counts executable <script> "
                           "elements (JSON-LD excluded); total with media = every file in the gift's folder")
        loads.notes.append("Chromium " + chromium_version() + " headless (/usr/bin/chromium), cache disabled, "
                           "Network.emulateNetworkConditions per profile: "
                           + "; ".join(f"{p.name}: {p.latency_ms:g} ms latency, {p.down_bps * 8 / 1000:.0f} kbit/s "
                                       f"down" for p in profiles)
                           + "; served by a static server on 127.0.0.1; times from navigation start")
    return [sizes, *([delivery] if delivery else []), loads]


def chromium_version() -> str:
    ran = run_timed([str(CHROMIUM), "--version"], timeout=30)
    words = ran.stdout.split()
    return words[1] if len(words) > 1 else "?"
