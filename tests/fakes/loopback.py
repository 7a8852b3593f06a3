"""The base of every HTTP fake: a threaded server on 127.0.0.1 with a free port, started and stopped by tests,
and a quiet request handler."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer(ThreadingHTTPServer):
    """Binds 127.0.0.1:0; `start()` serves in a daemon thread; usable as a context manager."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> Self:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ClientGone):
            return  # a client killed mid-request: expected in the crash tests, nothing was acted on
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class ClientGone(ConnectionError):
    """The client hung up before its request body was complete."""


class QuietHandler(BaseHTTPRequestHandler):
    """A fake's request handler: no access log on stderr (tests read what the fake records instead)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        """The request body (Content-Length bytes; empty without one). A body cut short (the client was killed
        between its headers and the end of its body) raises ClientGone: like a real API, the fake then acts on
        nothing; read as it came (b"" → `{}`) it once made a job under the request's Idempotency-Key for an
        empty input, and the retry's full body then met a 422 "key used with different parameters"."""
        expected = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(expected)
        if len(body) < expected:
            self.close_connection = True
            raise ClientGone(f"{len(body)} of {expected} body bytes arrived before the client hung up")
        return body
