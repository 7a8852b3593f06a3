"""A small static server for previews: pretty URLs, the site's 404 page, loopback only by default.

With live reload on (what `serve` uses while it watches), the server, and only the server, adds one small
script to each HTML page it sends: the page listens on an event stream and reloads after every rebuild. While
the build is broken, every page is an error page listing each problem as `path:line: message`, and it too
reloads once the build is fixed. Built files never contain any of this.
"""

from __future__ import annotations

import errno
import html
import threading
from collections.abc import Sequence
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from builder.errors import AddressInUse, Diagnostic

LIVE_PREFIX = "/__giftboard/"
LIVE_SCRIPT_URL = f"{LIVE_PREFIX}live.js"
LIVE_EVENTS_URL = f"{LIVE_PREFIX}events"
KEEPALIVE_S = 15.0
NO_INJECTION = ("/gifts/",)  # gift pages run under a strict CSP with no script: previewed as published

LIVE_SCRIPT = """\
// Giftboard serve: reload after each rebuild (added by the preview server, never part of the built site).
(function () {
  var since = document.currentScript.getAttribute("data-generation");
  var source = new EventSource("%s?since=" + encodeURIComponent(since));
  source.onmessage = function (event) {
    if (event.data === "reload") { source.close(); window.location.reload(); }
  };
})();
""" % LIVE_EVENTS_URL

ERROR_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Build failed · Giftboard preview</title>
<style>
body {{ font: 1rem/1.5 system-ui, sans-serif; margin: 0; padding: 2rem; background: #fff; color: #1b1f24; }}
main {{ max-width: 60rem; margin: 0 auto; }}
h1 {{ color: #8a1c12; margin-top: 0; }}
ol {{ padding-left: 1.5rem; }}
li {{ margin: .5rem 0; }}
code {{ font: .95rem/1.4 ui-monospace, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #0f1216; color: #e6e9ee; }}
  h1 {{ color: #ff9b8f; }}
}}
</style>
</head>
<body>
<main>
<h1>The board build is broken</h1>
<p>{count} to fix. This page reloads by itself once the build works again.</p>
<ol>
{items}
</ol>
</main>
</body>
</html>
"""


class LiveState:
    """What the browsers are told: a generation that changes after every rebuild, and the current problems."""

    def __init__(self) -> None:
        self.generation = 0
        self.problems: tuple[Diagnostic, ...] = ()
        self._changed = threading.Condition()

    def rebuilt(self, problems: Sequence[Diagnostic] = ()) -> None:
        """After a rebuild (or a failed one, with its problems): every open page reloads."""
        with self._changed:
            self.generation += 1
            self.problems = tuple(problems)
            self._changed.notify_all()

    def wait_for_change(self, since: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.generation != since, timeout=timeout)


def error_page(problems: Sequence[Diagnostic]) -> str:
    items = "\n".join(f"<li><code>{html.escape(str(problem))}</code></li>" for problem in problems)
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return ERROR_PAGE.format(count=count, items=items)


def inject_live_script(page: bytes, generation: int) -> bytes:
    tag = f'<script src="{LIVE_SCRIPT_URL}" data-generation="{generation}"></script>'.encode()
    at = page.rfind(b"</body>")
    return page[:at] + tag + page[at:] if at >= 0 else page + tag


class PreviewHandler(SimpleHTTPRequestHandler):
    """Serves the output folder; unknown paths get the site's own 404.html with status 404."""

    live: LiveState | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the terminal for rebuild messages

    def do_GET(self) -> None:
        if not self.serve_live():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self.serve_live(head=True):
            super().do_HEAD()

    def serve_live(self, *, head: bool = False) -> bool:
        """Answer the live-reload requests and HTML pages; False leaves the request to the static server."""
        live = self.live
        if live is None:
            return False
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if path == LIVE_SCRIPT_URL:
            self.send_bytes(HTTPStatus.OK, "text/javascript; charset=utf-8", LIVE_SCRIPT.encode(), head=head)
            return True
        if path == LIVE_EVENTS_URL:
            since = parse_qs(parts.query).get("since", ["0"])[0]
            self.stream_events(live, int(since) if since.isdigit() else 0)
            return True
        if path.startswith(NO_INJECTION):
            return False
        generation, problems = live.generation, live.problems
        if problems:
            page = inject_live_script(error_page(problems).encode(), generation)
            self.send_bytes(HTTPStatus.INTERNAL_SERVER_ERROR, "text/html; charset=utf-8", page, head=head)
            return True
        file = self.html_file(path)
        if file is None:
            return False
        self.send_bytes(HTTPStatus.OK, "text/html; charset=utf-8", inject_live_script(file.read_bytes(), generation),
                        head=head)
        return True

    def html_file(self, path: str) -> Path | None:
        """The HTML file a request path names (a folder's index.html), or None for anything else."""
        if not (path.endswith("/") or path.endswith(".html")):
            return None
        file = Path(self.translate_path(path))
        if file.is_dir():
            file = file / "index.html"
        return file if file.is_file() and file.suffix == ".html" else None

    def stream_events(self, live: LiveState, since: int) -> None:
        """Server-sent events: `reload` once the generation differs from the page's, comments to keep alive."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            self.wfile.write(b"retry: 500\n\n")
            self.wfile.flush()
            while not live.wait_for_change(since, KEEPALIVE_S):
                self.wfile.write(b": waiting\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: reload\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        self.close_connection = True

    def send_bytes(self, status: HTTPStatus, content_type: str, body: bytes, *, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        not_found = Path(self.directory) / "404.html"
        if code == HTTPStatus.NOT_FOUND and not_found.is_file():
            body = not_found.read_bytes()
            if self.live is not None:
                body = inject_live_script(body, self.live.generation)
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        super().send_error(code, message, explain)


def start_preview_server(directory: Path, host: str = "127.0.0.1", port: int = 8000, *,
                         live: LiveState | None = None, how_to_change: str = "") -> ThreadingHTTPServer:
    """Start serving `directory` in a daemon thread; returns the server (its port may have been 0).

    With `live`, HTML pages get the reload script and, while `live.problems` is set, the error page.
    A port another process holds is an AddressInUse naming it and `how_to_change` (default `--port N+1`)."""
    handler_class = type("LivePreviewHandler", (PreviewHandler,), {"live": live})
    handler = partial(handler_class, directory=str(directory))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise AddressInUse(host, port, how_to_change or f"--port {port + 1}") from None
        raise
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="preview-server", daemon=True).start()
    return server
