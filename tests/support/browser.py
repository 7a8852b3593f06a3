"""Headless Debian Chromium through Playwright, page checks, and a static server that mimics GitHub Pages.

Never downloads a browser: it drives ``/usr/bin/chromium`` (``apt-get install chromium``, done by ``.ci/run``).
"""

from __future__ import annotations

import mimetypes
import posixpath
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tests.support import NODE_MODULES, missing_tool

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
AXE_SCRIPT = NODE_MODULES / "axe-core" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21aa")

if TYPE_CHECKING:  # playwright is imported lazily, so a machine without it can still collect the suite
    from playwright.sync_api import Browser, Page


# --- browser -------------------------------------------------------------------------------------------------------


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Launch Debian's Chromium headless; skip (or fail under CI=true) when it or Playwright is missing."""
    if not (CHROMIUM.is_file() and shutil.which(str(CHROMIUM))):
        missing_tool(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("the playwright package is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Browser, **context_options: Any) -> Iterator[Page]:
    """A page in a fresh, isolated context (options as ``Browser.new_context``: viewport, color_scheme…)."""
    context = browser.new_context(**context_options)
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class PageReport:
    """What went wrong while a page loaded: console errors, uncaught exceptions, failed or 4xx/5xx requests."""

    url: str
    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every problem, one readable line each (empty when the page is clean)."""
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"page error: {m}" for m in self.page_errors]
            + [f"failed request: {m}" for m in self.failed_requests]
        )


def open_page(page: Page, url: str, *, expect_status: int | None = 200, wait_until: str = "load") -> PageReport:
    """Load ``url`` in ``page`` and record every error until ``wait_until`` ("load", or "networkidle" for pages
    that fetch after loading).

    Subresources answering 4xx/5xx count as failed requests; the document's own status is ``report.status``
    and, unless ``expect_status`` is None, must equal it (a problem line otherwise). The listeners are removed
    before returning, so one page can be reused for several ``open_page`` calls.
    """
    report = PageReport(url=url)
    documents: set[str] = set()

    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "") if message.location else ""
        if message.text.startswith("Failed to load resource") and (
            where in documents or urlsplit(where).path == "/favicon.ico"
        ):
            return  # the document's own status is judged below; Chromium probes /favicon.ico on its own
        report.console_errors.append(f"{message.text} ({where})" if where else message.text)

    def on_response(response: Any) -> None:
        if response.request.resource_type == "document":
            documents.add(response.url)
        elif response.status >= 400:
            report.failed_requests.append(f"{response.status} {response.request.method} {response.url}")

    def on_page_error(error: Any) -> None:
        report.page_errors.append(str(error))

    def on_request_failed(request: Any) -> None:
        report.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    listeners: list[tuple[str, Any]] = [
        ("console", on_console),
        ("pageerror", on_page_error),
        ("requestfailed", on_request_failed),
        ("response", on_response),
    ]
    for event, listener in listeners:
        page.on(event, listener)  # type: ignore[call-overload]
    try:
        response = page.goto(url, wait_until=wait_until)  # type: ignore[arg-type]
    finally:
        for event, listener in listeners:
            page.remove_listener(event, listener)
    report.status = response.status if response is not None else None
    if expect_status is not None and report.status != expect_status:
        report.failed_requests.append(f"document {url} answered {report.status}, expected {expect_status}")
    return report


def screenshot(page: Page, folder: Path, name: str = "page") -> Path:
    """Save a full-page PNG screenshot as ``folder/name.png`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Page, tags: tuple[str, ...] = WCAG_TAGS) -> list[dict[str, Any]]:
    """Run axe-core on the loaded page and return its violations for the given WCAG tags."""
    if not AXE_SCRIPT.is_file():
        missing_tool(f"{AXE_SCRIPT} is missing (run npm ci)")
    page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        list(tags),
    )
    return list(result["violations"])


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation and offending node, for assertion messages."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation.get('impact')}): {violation['help']}")
        for node in violation.get("nodes", []):
            summary = " ".join(line.strip() for line in (node.get("failureSummary") or "").splitlines()[1:])
            lines.append(f"    {' '.join(map(str, node.get('target', [])))}: {summary}")
    return "\n".join(lines)


# --- static server -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticServer:
    """A running static server: ``url`` is the site's root (``http://127.0.0.1:PORT/repo/``)."""

    root: Path
    base_path: str
    port: int
    log: list[tuple[str, str, int]]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.base_path

    def url_for(self, path: str) -> str:
        """The URL of a site-relative path, e.g. ``url_for("gates/observability/")``."""
        return self.url + path.lstrip("/")


def normalize_base_path(base_path: str) -> str:
    """``repo``, ``/repo`` and ``/repo/`` all become ``/repo/``; empty becomes ``/``."""
    stripped = base_path.strip("/")
    return f"/{stripped}/" if stripped else "/"


def _handler_for(root: Path, base_path: str, log: list[tuple[str, str, int]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Serves files like GitHub Pages: pretty URLs, ``/x`` → ``/x/`` redirects, the site's 404.html."""

        server_version = "giftboard-test-static"

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def do_HEAD(self) -> None:
            self._serve(with_body=False)

        def _serve(self, *, with_body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            if not path.startswith(base_path):
                if path + "/" == base_path:
                    return self._redirect(base_path)
                return self._not_found(with_body, inside_site=False)
            relative = posixpath.normpath(path[len(base_path) :]).lstrip("/")
            if relative == ".":
                relative = ""
            if relative.startswith("..") or "\x00" in relative:
                return self._not_found(with_body, inside_site=False)
            target = root / relative
            if target.is_dir():
                if not path.endswith("/"):
                    return self._redirect(path + "/")
                target = target / "index.html"
            if not target.is_file():
                return self._not_found(with_body, inside_site=True)
            self._send(HTTPStatus.OK, target.read_bytes(), _content_type(target), with_body)

        def _redirect(self, location: str) -> None:
            log.append((self.command, self.path, int(HTTPStatus.MOVED_PERMANENTLY)))
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _not_found(self, with_body: bool, *, inside_site: bool) -> None:
            page = root / "404.html"
            if inside_site and page.is_file():
                body, kind = page.read_bytes(), "text/html; charset=utf-8"
            else:
                body, kind = b"404 Not Found\n", "text/plain; charset=utf-8"
            self._send(HTTPStatus.NOT_FOUND, body, kind, with_body)

        def _send(self, status: HTTPStatus, body: bytes, content_type: str, with_body: bool) -> None:
            log.append((self.command, self.path, int(status)))  # before answering, so a client sees it logged
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the ``log`` list records every request instead."""

    return Handler


def _content_type(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    textual = {"application/javascript", "application/json", "application/xml", "application/atom+xml", "image/svg+xml"}
    if kind.startswith("text/") or kind in textual:
        return f"{kind}; charset=utf-8"
    return kind


@contextmanager
def serve_directory(root: Path, base_path: str = "/") -> Iterator[StaticServer]:
    """Serve ``root`` on 127.0.0.1 (a free port, one thread per request) under ``base_path`` such as ``/repo/``."""
    base = normalize_base_path(base_path)
    log: list[tuple[str, str, int]] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(Path(root).resolve(), base, log))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        yield StaticServer(root=Path(root), base_path=base, port=httpd.server_address[1], log=log)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
