"""A fake OpenAI-compatible Chat Completions API on 127.0.0.1 (real HTTP, threads).

Configurable latency, a queue of status codes to answer first (with `Retry-After`), a random error rate, a
malformed mode, and an echo mode that plays a model which somehow knows the buyer's private values and
returns them with altered case and spacing. It records every request it receives.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import LoopbackServer, QuietHandler


def altered(value: str, rng: random.Random) -> str:
    """The same text with case flipped at random and extra spaces inside: what a careless model echoes."""
    out = []
    for ch in value:
        out.append(ch.upper() if rng.random() < 0.5 else ch.lower())
        if ch.isalnum() and rng.random() < 0.25:
            out.append(" ")
    return "  ".join("".join(out).split(" ")) if rng.random() < 0.5 else "".join(out)


@dataclass
class ChatConfig:
    latency_s: float = 0.0
    latencies: deque[float] = field(default_factory=deque)  # waited first, one per request (then latency_s)
    statuses: deque[int] = field(default_factory=deque)  # answered first, one per request
    retry_after: str | None = None
    error_rate: float = 0.0  # share of 503 answers after the queue is empty
    mode: str = "lyrics"  # "lyrics" | "echo" | "malformed" | "not-json"
    echo_values: list[str] = field(default_factory=list)
    seed: int = 0


class ChatCompletionsFake(LoopbackServer):

    def __init__(self, config: ChatConfig | None = None) -> None:
        super().__init__(_Handler)
        self.config = config or ChatConfig()
        self.rng = random.Random(self.config.seed)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.authorization: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def prompts(self) -> list[str]:
        """Every message text received, system and user."""
        return [m.get("content", "") for body in self.requests for m in body.get("messages", [])]

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        config = self.config
        with self.lock:
            self.requests.append(body)
            status = config.statuses.popleft() if config.statuses else 200
            if status == 200 and self.rng.random() < config.error_rate:
                status = 503
        if status != 200:
            headers = {"Retry-After": config.retry_after} if config.retry_after else {}
            return status, headers, json.dumps({"error": {"message": "fake failure"}}).encode()
        if config.mode == "not-json":
            return 200, {}, b"<html>gateway</html>"
        if config.mode == "malformed":
            return 200, {}, json.dumps({"choices": []}).encode()
        content = self._lyrics(body)
        answer = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        }
        return 200, {}, json.dumps(answer).encode()

    def _lyrics(self, body: dict[str, Any]) -> str:
        user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
        lines = ["Title: A Song Made Of Light", "[Verse 1]", "The morning found you singing", "[Chorus]",
                 "Here is a song for you today"]
        if self.config.mode == "echo":
            with self.lock:
                lines += [f"I remember {altered(value, self.rng)}" for value in self.config.echo_values]
            lines += user.splitlines()
        return "\n".join(lines)


class _Handler(QuietHandler):
    server: ChatCompletionsFake

    def do_POST(self) -> None:
        raw = self.read_body()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {}, b"{}")
            return
        with self.server.lock:
            self.server.authorization.append(self.headers.get("Authorization", ""))
        config = self.server.config
        with self.server.lock:
            latency = config.latencies.popleft() if config.latencies else config.latency_s
        time.sleep(latency)
        status, headers, body = self.server.answer(json.loads(raw or b"{}"))
        self._send(status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)
