"""A provider fake on 127.0.0.1 with random latency and a share of 5xx answers (for the crash test)."""

from __future__ import annotations

import json
import random
import sys
import threading
import time

from tests.fakes.loopback import LoopbackServer, QuietHandler


class FlakyProvider(LoopbackServer):

    def __init__(self, *, failure_rate: float = 0.2, max_latency_s: float = 0.15, seed: int = 0) -> None:
        super().__init__(_Handler)
        self.failure_rate, self.max_latency_s = failure_rate, max_latency_s
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.calls = 0
        self.failures = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a SIGKILLed worker hangs up mid-request: expected here, not worth a traceback


class _Handler(QuietHandler):
    server: FlakyProvider

    def do_POST(self) -> None:
        body = json.loads(self.read_body() or b"{}")
        with self.server.lock:
            self.server.calls += 1
            fail = self.server.rng.random() < self.server.failure_rate
            latency = self.server.rng.uniform(0, self.server.max_latency_s)
            self.server.failures += fail
        time.sleep(latency)
        if fail:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"lyrics": f"a song for token {body.get('seed', '')}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":  # run standalone: prints the URL, serves until killed
    server = FlakyProvider(seed=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(server.url, flush=True)
    server.serve_forever()
