"""A fake Replicate-style predictions API on 127.0.0.1 (real HTTP, threads).

`POST /v1/predictions` creates a prediction (honouring `Idempotency-Key`), `GET /v1/predictions/{id}` reports
`starting → processing → succeeded` after a configurable number of polls (or `failed`/`canceled`), and
`GET /v1/files/{id}.wav` serves a short real WAV. `Idempotency-Key` is honoured like a real API (Stripe's,
Replicate's): a repeat with the same key and body answers the job that key made (200, nothing new is made
or paid for); the same key with another body is a 422 conflict. `lost_answer_rate` makes a share of creates
record the job and then answer 503 (the client cannot know it was made: the outcome-unknown case).
Configurable latencies, queues of status codes per route,
`Retry-After`, a create that stalls after recording the prediction (outcome unknown for the client), and an
echo mode whose WAV carries the private values, altered, in a RIFF INFO chunk (UTF-16).
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import struct
import threading
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from builder.gifts.providers.base import JobJournal, PriorJob
from tests.fakes.chat_api import altered
from tests.fakes.loopback import LoopbackServer, QuietHandler


@dataclass
class PredictionsConfig:
    create_latency_s: float = 0.0
    create_stall_s: float = 0.0  # sleep after the prediction is recorded, before answering
    poll_latency_s: float = 0.0
    polls_to_finish: int = 2
    final_status: str = "succeeded"
    create_statuses: deque[int] = field(default_factory=deque)
    poll_statuses: deque[int] = field(default_factory=deque)
    retry_after: str | None = None
    output: str = "wav"  # "wav" | "mp3" | "text" | "none"
    file_statuses: deque[int] = field(default_factory=deque)  # answers for output downloads, then 200
    error_rate: float = 0.0  # share of 503 answers to creates and polls (before anything is made)
    lost_answer_rate: float = 0.0  # share of creates that make the job, then answer 503
    echo_values: list[str] = field(default_factory=list)
    seed: int = 0


def tiny_wav(seconds: float = 1.0, rate: int = 8000, info: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                          for i in range(int(seconds * rate)))
        writer.writeframes(frames)
    data = buffer.getvalue()
    if info:  # append a LIST/INFO chunk and fix the RIFF size
        chunk = b"LIST" + struct.pack("<I", len(info) + 4) + b"INFO" + info
        data = data + chunk
        data = data[:4] + struct.pack("<I", len(data) - 8) + data[8:]
    return data


def tiny_mp3(seconds: float = 2.0) -> bytes:
    """A real MP3 (LAME through PyAV), as a music model that answers in MP3 would send."""
    import av

    out = io.BytesIO()
    with av.open(io.BytesIO(tiny_wav(seconds, rate=22050))) as source, av.open(out, "w", format="mp3") as sink:
        stream = sink.add_stream("libmp3lame", rate=22050, layout="mono")
        for frame in source.decode(audio=0):
            sink.mux(stream.encode(frame))
        sink.mux(stream.encode(None))
    return out.getvalue()


@dataclass
class MemoryJournal:
    """What the ledger keeps of one order's remote audio job, in memory: `journal()` is the next attempt's."""

    intent: str = ""
    lyrics_hash: str = ""
    prediction_id: str = ""
    intents: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def journal(self) -> JobJournal:
        prior = PriorJob(self.intent, self.lyrics_hash, self.prediction_id) if self.intent else None
        return JobJournal(prior=prior, intend=self._intend, created=self._created)

    def _intend(self, intent: str, lyrics_hash: str) -> None:
        self.intent, self.lyrics_hash, self.prediction_id = intent, lyrics_hash, ""
        self.intents.append(intent)

    def _created(self, prediction_id: str) -> None:
        self.prediction_id = prediction_id
        self.ids.append(prediction_id)


class PredictionsFake(LoopbackServer):

    def __init__(self, config: PredictionsConfig | None = None) -> None:
        super().__init__(_Handler)
        self.config = config or PredictionsConfig()
        self.rng = random.Random(self.config.seed)
        self.lock = threading.Lock()
        self.predictions: dict[str, dict[str, Any]] = {}
        self.polls: dict[str, int] = {}
        self.by_key: dict[str, str] = {}
        self.bodies: dict[str, str] = {}  # key → the body it was first sent with
        self.replays = 0  # creates answered with the job their key already made
        self.inputs: list[dict[str, Any]] = []
        self.created = 0
        self.lookups: list[str] = []
        self.authorization: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def prompts(self) -> list[str]:
        return [json.dumps(body, ensure_ascii=False) for body in self.inputs]

    def create(self, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.inputs.append(body)
            if self.config.create_statuses:
                return self.config.create_statuses.popleft(), {"detail": "fake failure"}
            if self.rng.random() < self.config.error_rate:
                return 503, {"detail": "fake failure"}
            canonical = json.dumps(body, sort_keys=True)
            if key and key in self.by_key:
                if self.bodies[key] != canonical:
                    return 422, {"detail": "Idempotency-Key was used with different parameters"}
                self.replays += 1
                return 200, self.view(self.by_key[key])
            self.created += 1
            prediction_id = f"p{self.created:04d}{self.rng.randrange(16**6):06x}"
            self.predictions[prediction_id] = {"id": prediction_id, "status": "starting", "input": body.get("input")}
            self.polls[prediction_id] = 0
            if key:
                self.by_key[key] = prediction_id
                self.bodies[key] = canonical
            if self.rng.random() < self.config.lost_answer_rate:
                return 503, {"detail": "fake failure after the job was made"}
            return 201, self.view(prediction_id)

    def poll(self, prediction_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.lookups.append(prediction_id)
            if self.config.poll_statuses:
                return self.config.poll_statuses.popleft(), {"detail": "fake failure"}
            if self.rng.random() < self.config.error_rate:
                return 503, {"detail": "fake failure"}
            if prediction_id not in self.predictions:
                return 404, {"detail": "not found"}
            self.polls[prediction_id] += 1
            if self.predictions[prediction_id]["status"] in ("succeeded", "failed", "canceled"):
                pass  # terminal states never change
            elif self.polls[prediction_id] >= self.config.polls_to_finish:
                self.predictions[prediction_id]["status"] = self.config.final_status
            elif self.predictions[prediction_id]["status"] == "starting":
                self.predictions[prediction_id]["status"] = "processing"
            return 200, self.view(prediction_id)

    def view(self, prediction_id: str) -> dict[str, Any]:
        prediction = dict(self.predictions[prediction_id])
        prediction["urls"] = {"get": f"{self.url}/predictions/{prediction_id}"}
        if prediction["status"] == "succeeded":
            prediction["output"] = None if self.config.output == "none" else f"{self.url}/files/{prediction_id}.wav"
        return prediction

    def file(self) -> bytes:
        if self.config.output == "text":
            return b"this is not audio"
        info = b""
        for value in self.config.echo_values:
            text = altered(value, self.rng).encode("utf-16-le")
            info += b"ICMT" + struct.pack("<I", len(text)) + text + (b"\x00" if len(text) % 2 else b"")
        if self.config.output == "mp3":
            return tiny_mp3()
        return tiny_wav(info=info)


class _Handler(QuietHandler):
    server: PredictionsFake

    def do_POST(self) -> None:
        raw = self.read_body()
        self._auth()
        if self.path.rstrip("/") != "/v1/predictions":
            self._json(404, {"detail": "not found"})
            return
        config = self.server.config
        time.sleep(config.create_latency_s)
        status, body = self.server.create(json.loads(raw or b"{}"), self.headers.get("Idempotency-Key", ""))
        time.sleep(config.create_stall_s)
        self._json(status, body)

    def do_GET(self) -> None:
        self._auth()
        config = self.server.config
        match = re.fullmatch(r"/v1/predictions/([A-Za-z0-9_\-]+)", self.path)
        if match:
            time.sleep(config.poll_latency_s)
            self._json(*self.server.poll(match.group(1)))
            return
        if re.fullmatch(r"/v1/files/[A-Za-z0-9_\-]+\.wav", self.path):
            with self.server.lock:
                status = config.file_statuses.popleft() if config.file_statuses else 200
            self._send(status, "audio/wav", self.server.file() if status == 200 else b"gone")
            return
        self._json(404, {"detail": "not found"})

    def _auth(self) -> None:
        with self.server.lock:
            self.server.authorization.append(self.headers.get("Authorization", ""))

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status >= 400 and self.server.config.retry_after:
                self.send_header("Retry-After", self.server.config.retry_after)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
