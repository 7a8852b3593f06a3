"""A fake of GitHub's Actions REST API on 127.0.0.1: workflow dispatches and run lookups.

`fail_next` makes the next N dispatches answer 502; `runs` maps run ids to (status, conclusion) so
tests can cancel a run. Every request's path, auth header and JSON body is kept for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from tests.fakes.loopback import LoopbackServer, QuietHandler


class FakeActions(LoopbackServer):

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.next_run_id = 1000
        self.runs: dict[int, tuple[str, str]] = {}
        self.dispatched: list[tuple[str, int]] = []  # (order_ref, run_id)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


DISPATCH = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches$")
RUN = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)$")


class _Handler(QuietHandler):
    server: FakeActions

    def _reply(self, status: int, payload: Any = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any) -> None:
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": self.path,
                                         "auth": self.headers.get("Authorization", ""), "body": body})

    def do_POST(self) -> None:
        body = json.loads(self.read_body() or b"null")
        self._record(body)
        if not DISPATCH.match(self.path):
            return self._reply(404, {"message": "Not Found"})
        with self.server.lock:
            if self.server.fail_next > 0:
                self.server.fail_next -= 1
                return self._reply(502, {"message": "Bad Gateway"})
            run_id = self.server.next_run_id
            self.server.next_run_id += 1
            self.server.runs[run_id] = ("queued", "")
            self.server.dispatched.append((body["inputs"]["order_ref"], run_id))
        base = f"{self.server.url}/repos/o/r/actions/runs/{run_id}"
        return self._reply(200, {"workflow_run_id": run_id, "run_url": base, "html_url": base})

    def do_GET(self) -> None:
        self._record(None)
        match = RUN.match(self.path)
        run = self.server.runs.get(int(match.group(3))) if match else None
        if run is None:
            return self._reply(404, {"message": "Not Found"})
        return self._reply(200, {"id": int(match.group(3)), "status": run[0], "conclusion": run[1] or None})
