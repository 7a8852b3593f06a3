"""A fake of GitHub's Actions REST API on 127.0.0.1: workflow dispatches, the workflow's run list, run lookups.

A dispatch answers what `answers` holds next (status, headers, JSON body or None), else 200 with
`workflow_run_id` (GitHub's `return_run_details`); every 2xx answer starts a run in state `queued`, listed by
`GET …/workflows/{file}/runs?status=…` unless `hide_new_runs` (the runs API lags behind dispatches).
`fail_next` answers the next N dispatches 502. `runs` maps run ids to (status, conclusion) so tests can end or
cancel runs. Every request's method, path, auth header and JSON body is kept for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer, QuietHandler

Answer = tuple[int, dict[str, str], Any]


class FakeActions(LoopbackServer):

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.answers: deque[Answer] = deque()
        self.hide_new_runs = False
        self.hidden: set[int] = set()
        self.next_run_id = 1000
        self.runs: dict[int, tuple[str, str]] = {}
        self.dispatched: list[tuple[dict[str, Any], int]] = []  # (inputs, run_id)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def dispatches(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST"]


DISPATCH = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches$")
LIST = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/runs$")
RUN = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)$")


class _Handler(QuietHandler):
    server: FakeActions

    def _reply(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
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
        server = self.server
        with server.lock:
            if server.fail_next > 0:
                server.fail_next -= 1
                return self._reply(502, {"message": "Bad Gateway"})
            status, headers, payload = server.answers.popleft() if server.answers else (200, {}, None)
            if not 200 <= status < 300:
                return self._reply(status, payload, headers)
            run_id = server.next_run_id
            server.next_run_id += 1
            server.runs[run_id] = ("queued", "")
            if server.hide_new_runs:
                server.hidden.add(run_id)
            server.dispatched.append((body.get("inputs") or {}, run_id))
        base = f"{server.url}/repos/o/r/actions/runs/{run_id}"
        if status == 200 and payload is None:
            payload = {"workflow_run_id": run_id, "run_url": base, "html_url": base}
        return self._reply(status, None if status == 204 else payload, headers)

    def do_GET(self) -> None:
        self._record(None)
        parts = urlsplit(self.path)
        if LIST.match(parts.path):
            wanted = parse_qs(parts.query).get("status", [""])[0]
            with self.server.lock:
                runs = [{"id": run_id, "status": status, "conclusion": conclusion or None}
                        for run_id, (status, conclusion) in sorted(self.server.runs.items())
                        if status == wanted and run_id not in self.server.hidden]
            return self._reply(200, {"total_count": len(runs), "workflow_runs": runs})
        match = RUN.match(parts.path)
        run = self.server.runs.get(int(match.group(3))) if match else None
        if run is None or match is None:
            return self._reply(404, {"message": "Not Found"})
        return self._reply(200, {"id": int(match.group(3)), "status": run[0], "conclusion": run[1] or None})
