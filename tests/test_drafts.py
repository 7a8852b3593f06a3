"""Order drafts over the real intake HTTP (uvicorn on 127.0.0.1), on both ledger backends: POST /v1/drafts runs
the same checks as /v1/orders/validate, stores the private input only as an encrypted envelope, answers a draft
id, and an expired draft is swept with its envelope."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.jobs.envelope import Envelope
from builder.jobs.intake import create_app
from builder.jobs.ledger import Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.signature import sign
from tests.fakes.intake_server import running
from tests.support.ledgers import stored_bytes
from tests.support.privacy import without_generated_id_bytes
from tests.support.stripe import PRIVATE, SECRET, post_draft
from tests.support.stripe import draft_order as order

TTL_S = 3600.0


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(Fernet.generate_key())


@pytest.fixture
def url(ledger: Ledger, envelope: Envelope) -> Iterator[str]:
    with running(create_app(ledger, envelope, JobSettings(webhook_secret=SECRET, draft_ttl_s=TTL_S))) as base:
        yield base


def assert_nothing_private(data: bytes) -> None:
    data = without_generated_id_bytes(data)  # "7946" inside a random draft id or hash is no leak
    for value in PRIVATE:
        assert value.encode() not in data, value


def test_a_draft_keeps_the_private_input_only_sealed(url: str, ledger: Ledger, envelope: Envelope) -> None:
    raw = order()
    before = time.time()
    response = post_draft(url, raw)
    assert response.status_code == 201, response.text
    draft_id = response.json()["draft_id"]
    assert draft_id.startswith("drf_") and response.json()["expires_at"].endswith("Z")
    assert_nothing_private(response.content)
    draft = ledger.get_draft(draft_id)
    assert draft is not None and envelope.open(draft.sealed) == raw
    assert before + TTL_S <= draft.expires_at <= time.time() + TTL_S
    assert_nothing_private(stored_bytes(ledger, with_envelopes=True))
    assert post_draft(url, raw).json()["draft_id"] != draft_id  # each checkout attempt is its own draft


def test_a_draft_failing_the_checks_is_422_and_stores_nothing(url: str, ledger: Ledger) -> None:
    response = post_draft(url, order("Call me on 415 555 0134 after the party"))
    assert response.status_code == 422
    found = response.json()
    assert not found["ok"] and [f["category"] for f in found["findings"]] == ["pii_phone"]
    assert_nothing_private(response.content)
    assert ledger.sweep_drafts(time.time() + 10 * TTL_S) == []


def test_a_bad_signature_is_401_and_stores_nothing(url: str, ledger: Ledger) -> None:
    raw = order()
    response = post_draft(url, raw, signature=sign("whsec_wrong", raw))
    assert response.status_code == 401
    stale = post_draft(url, raw, signature=sign(SECRET, raw, int(time.time()) - 3600))
    assert stale.status_code == 401
    assert ledger.sweep_drafts(time.time() + 10 * TTL_S) == []


def test_expired_drafts_are_deleted_with_their_envelopes(url: str, ledger: Ledger) -> None:
    drafts = sorted(post_draft(url, order()).json()["draft_id"] for _ in range(2))
    sealed = [ledger.get_draft(draft_id).sealed for draft_id in drafts]  # type: ignore[union-attr]
    assert ledger.sweep_drafts(time.time()) == []  # nothing is due yet
    assert all(ledger.get_draft(draft_id) for draft_id in drafts)
    assert ledger.sweep_drafts(time.time() + TTL_S + 1) == drafts
    assert all(ledger.get_draft(draft_id) is None for draft_id in drafts)
    everything = stored_bytes(ledger, with_envelopes=True)
    assert not any(s in everything or s.hex().encode() in everything for s in sealed)  # folder bytes, PG hex
    assert ledger.sweep_drafts(time.time() + TTL_S + 1) == []


def test_gift_draft_keeps_a_sealed_draft_or_says_why_not(tmp_path: Path, ledger: Ledger,
                                                          ledger_location: str) -> None:
    key = Fernet.generate_key()
    env = {**os.environ, "GIFT_ENVELOPE_KEY": key.decode(), "GIFT_LEDGER_URL": ledger_location,
           "GIFT_DRAFT_TTL_S": "600"}
    good, held = tmp_path / "good.json", tmp_path / "held.json"
    good.write_bytes(order())
    held.write_bytes(order("Call me on 415 555 0134 after the party"))

    def gift_draft(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "builder", "gift", "draft", str(path)], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    kept = gift_draft(good)
    assert kept.returncode == 0, kept.stderr
    draft_id = kept.stdout.strip()
    draft = ledger.get_draft(draft_id)
    assert draft is not None and Envelope(key).open(draft.sealed) == good.read_bytes()
    assert 590 <= draft.expires_at - draft.created_at <= 610
    refused = gift_draft(held)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stdout.startswith(f"{held}: public_message: ") and "phone" in refused.stdout
    assert "nothing stored" in refused.stderr
    for output in (kept, refused):
        assert_nothing_private((output.stdout + output.stderr).encode())
    assert ledger.sweep_drafts(time.time() + 601) == [draft_id]
