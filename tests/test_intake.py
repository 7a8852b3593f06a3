"""The intake over real HTTP (uvicorn on 127.0.0.1): every answer of DESIGN §6 and issue 5."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from builder.jobs.envelope import Envelope
from builder.jobs.intake import create_app
from builder.jobs.ledger import Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.signature import HEADER, sign
from tests.fakes.intake_server import running
from tests.support.jobs import fake_parse
from tests.support.ledgers import nothing_recorded as recorded_nothing
from tests.support.ledgers import refs, stored_bytes

SECRET = "whsec_test_secret"
STORY = "Maya grew up at 12 Secret Lane"


def body(key: str = "pay_1", story: str = STORY) -> bytes:
    return json.dumps({"idempotency_key": key, "story": story}).encode()


def headers(raw: bytes, key: str | None = "pay_1", *, t: int | None = None, secret: str = SECRET) -> dict:
    found = {HEADER: sign(secret, raw, t), "Content-Type": "application/json"}
    if key:
        found["Idempotency-Key"] = key
    return found


@pytest.fixture
def url(ledger: Ledger) -> Iterator[str]:
    settings = JobSettings(webhook_secret=SECRET)
    app = create_app(ledger, Envelope(Fernet.generate_key()), settings, parse=fake_parse, max_body=10 * 1024 * 1024)
    with running(app) as base:
        yield base


def post(url: str, raw: bytes, hdrs: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/orders", content=raw, headers=hdrs, timeout=10)


def nothing_recorded(ledger: Ledger) -> bool:
    return recorded_nothing(ledger)


def test_healthz(url: str) -> None:
    response = httpx.get(f"{url}/healthz", timeout=5)
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_signed_order_is_recorded_before_202(url: str, ledger: Ledger) -> None:
    raw = body()
    response = post(url, raw, headers(raw))
    assert response.status_code == 202
    ref = response.json()["ref"]
    assert ledger.get(ref).state == "queued"  # durable by the time the answer arrives


def test_replay_of_the_key_returns_the_same_ref(url: str, ledger: Ledger) -> None:
    raw = body()
    first = post(url, raw, headers(raw)).json()["ref"]
    again = post(url, raw, headers(raw))
    assert again.status_code == 202 and again.json()["ref"] == first
    assert again.headers["Idempotent-Replayed"] == "true"
    assert refs(ledger) == [first]


def test_same_key_with_a_different_body_is_409(url: str, ledger: Ledger) -> None:
    raw = body()
    post(url, raw, headers(raw))
    other = body(story="something else entirely")
    response = post(url, other, headers(other))
    assert response.status_code == 409
    assert len(refs(ledger)) == 1


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda raw: headers(raw, secret="wrong-secret"),
        lambda raw: headers(raw, t=int(time.time()) - 301),
        lambda raw: headers(raw, t=int(time.time()) + 900),  # well past the 300 s tolerance, even under load
        lambda raw: {"Idempotency-Key": "pay_1"},
        lambda raw: {HEADER: "t=abc,v1=", "Idempotency-Key": "pay_1"},
        lambda raw: {HEADER: sign(SECRET, raw + b" "), "Idempotency-Key": "pay_1"},
    ],
    ids=["wrong-secret", "stale", "future", "missing", "malformed", "other-body"],
)
def test_bad_or_stale_signature_is_401_and_records_nothing(url: str, ledger: Ledger, make_headers) -> None:
    raw = body()
    response = post(url, raw, make_headers(raw))
    assert response.status_code == 401
    assert nothing_recorded(ledger)


def test_invalid_order_is_422_with_field_errors_and_records_nothing(url: str, ledger: Ledger) -> None:
    raw = json.dumps({"story": STORY}).encode()
    response = post(url, raw, headers(raw, key=None))
    assert response.status_code == 422
    assert response.json()["errors"] == ["idempotency_key: field required"]
    assert STORY not in response.text
    assert nothing_recorded(ledger)


def test_header_key_that_contradicts_the_body_is_422(url: str, ledger: Ledger) -> None:
    raw = body("pay_1")
    response = post(url, raw, headers(raw, key="pay_2"))
    assert response.status_code == 422
    assert nothing_recorded(ledger)


def test_declared_body_over_10_mb_is_413(url: str, ledger: Ledger) -> None:
    raw = b" " * (10 * 1024 * 1024 + 1)
    response = post(url, raw, headers(raw))
    assert response.status_code == 413
    assert nothing_recorded(ledger)


def test_streamed_body_over_10_mb_is_refused_before_it_ends(url: str, ledger: Ledger) -> None:
    """Send 11 MiB of a chunked body that never ends: only a server that counts while streaming answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Giftboard-Signature: t=1,v1=00\r\n\r\n")
        chunk = b" " * (1024 * 1024)
        for _ in range(11):
            conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        answer = conn.recv(4096)  # no terminating chunk was sent
    assert answer.startswith(b"HTTP/1.1 413")
    assert nothing_recorded(ledger)


def test_fifty_concurrent_replays_of_one_key_make_one_order(url: str, ledger: Ledger) -> None:
    raw = body("pay_race")
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: post(url, raw, headers(raw, key="pay_race")), range(50)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["ref"] for r in responses}) == 1
    assert len(refs(ledger)) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert STORY.encode() not in stored_bytes(ledger)


def test_intake_serve_command_over_real_http(tmp_path: Path, ledger_location: str) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    env.update({"GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "PYTHONPATH": str(root)})
    command = [sys.executable, "-m", "builder", "intake", "serve", "--port", "0", "--ledger", ledger_location]
    refused = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "GIFT_WEBHOOK_SECRET" in refused.stderr

    proc = subprocess.Popen(command, cwd=root, env={**env, "GIFT_WEBHOOK_SECRET": SECRET},
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "intake listening on http://127.0.0.1:" in line
        url = line.split()[-1]
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        raw = json.dumps({"idempotency_key": "pay_cli", "story": STORY}).encode()
        response = post(url, raw, headers(raw, key="pay_cli"))
        assert response.status_code == 422  # the real order model: every missing field is listed
        assert len(response.json()["errors"]) >= 4 and STORY not in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
