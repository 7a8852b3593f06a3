"""A small static server for previews: pretty URLs, the site's 404 page, loopback only by default."""

from __future__ import annotations

import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PreviewHandler(SimpleHTTPRequestHandler):
    """Serves the output folder; unknown paths get the site's own 404.html with status 404."""

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the terminal for rebuild messages

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        not_found = Path(self.directory) / "404.html"
        if code == HTTPStatus.NOT_FOUND and not_found.is_file():
            body = not_found.read_bytes()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        super().send_error(code, message, explain)


def start_preview_server(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """Start serving `directory` in a daemon thread; returns the server (its port may have been 0)."""
    handler = partial(PreviewHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="preview-server", daemon=True).start()
    return server
