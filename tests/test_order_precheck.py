"""Early feedback before payment: `POST /v1/orders/validate` (the real `intake serve` over HTTP) and
`gift submit --check` (the real CLI) say which public field the guard would hold and why, record nothing, and
never echo a private value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from builder.jobs.signature import HEADER, sign
from tests.gift_orders import order_dict
from tests.support.privacy import without_generated_ids

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_precheck_secret"
BUYER = {"name": "Jonathan Kowalczyk", "email": "jon.k@mailbox.test"}
RECIPIENT = {"display_name": "Maya", "full_name": "Maya Brzęczyszczykiewicz"}
STORY = "Maya lives at 12 Larkspur Road; her number is +44 20 7946 0958."
PRIVATE = ["Kowalczyk", "Brzęczyszczykiewicz", "Brzeczyszczykiewicz", "jon.k@mailbox.test", "Larkspur", "7946"]

# (public message, {field: categories the form is told}) — the categories, never the values
CASES = [
    ("Happy birthday, Maya! Love, Jon", {}),
    ("Call me on 415 555 0134 after the party", {"public_message": ["pii_phone"]}),
    ("call me on four one five, five five five, oh one three four", {"public_message": ["pii_phone"]}),
    ("Love from the Brzęczyszczykiewicz family", {"public_message": ["private_name"]}),
    ("Love from the B r z e c z y s z c z y k i e w i c z family", {"public_message": ["private_name"]}),
    ("See the photos at songs-for-maya.com", {"public_message": ["pii_url"]}),
    ("photos: songs-for-maya dot com", {"public_message": ["pii_url"]}),
    ("write to party (at) mailbox (dot) org", {"public_message": ["pii_email"]}),
    ("Kowalczyk here, ring 415 555 0134", {"public_message": ["private_name", "pii_phone"]}),
    ("ring +44 20 7946 0958", {"public_message": ["private_value", "pii_phone"]}),  # the story's own phone
]


def signed(raw: bytes) -> dict[str, str]:
    return {HEADER: sign(SECRET, raw), "Content-Type": "application/json"}


def order(message: str, **changes: object) -> dict:
    return order_dict(buyer=BUYER, recipient=RECIPIENT, story=STORY, public_message=message, **changes)


def expected(found: dict) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for finding in found["findings"]:
        grouped.setdefault(finding["field"], []).append(finding["category"])
    return grouped


def assert_no_private(text: str) -> None:
    text = without_generated_ids(text)  # "7946" inside a random id or hash is no leak
    for secret in PRIVATE:
        assert secret.casefold() not in text.casefold()


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    env.update({"GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "PYTHONPATH": str(ROOT), "CI": "true"})
    return env


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory, environment: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """`python -m builder intake serve --port 0` as a real process, and its ledger folder."""
    ledger = tmp_path_factory.mktemp("precheck") / "ledger"
    command = [sys.executable, "-m", "builder", "intake", "serve", "--port", "0", "--ledger", str(ledger)]
    proc = subprocess.Popen(command, cwd=ROOT, env={**environment, "GIFT_WEBHOOK_SECRET": SECRET},
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "intake listening on http://127.0.0.1:" in line, line
        url = line.split()[-1]
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield url, ledger
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def recorded(ledger: Path) -> list[Path]:
    return [p for p in ledger.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".bin", ".enc")
            and "lock" not in p.name]


@pytest.mark.parametrize(("message", "want"), CASES)
def test_validate_over_http_names_each_field_and_finding_and_records_nothing(
    intake: tuple[str, Path], message: str, want: dict
) -> None:
    url, ledger = intake
    raw = json.dumps(order(message)).encode()
    response = httpx.post(f"{url}/v1/orders/validate", content=raw, headers=signed(raw), timeout=20)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["ok"] is (not want) and found["errors"] == []
    assert expected(found) == want
    for finding in found["findings"]:
        assert finding["message"]  # a sentence the form can show as it is
    assert_no_private(response.text)
    assert recorded(ledger) == []


def test_validate_checks_the_display_names_too(intake: tuple[str, Path]) -> None:
    url, _ = intake
    raw = json.dumps(order("Happy birthday!", from_display_name="Jon 415 555 0134")).encode()
    found = httpx.post(f"{url}/v1/orders/validate", content=raw, headers=signed(raw), timeout=20).json()
    assert expected(found) == {"from_display_name": ["pii_phone"]}
    assert found["findings"][0]["message"] == "the sender's display name contains a phone number"
    # a name the buyer chose to show is theirs to show: the surname in a display name is no finding
    raw = json.dumps(order("Happy birthday!", from_display_name="Jon Kowalczyk")).encode()
    assert httpx.post(f"{url}/v1/orders/validate", content=raw, headers=signed(raw), timeout=20).json()["ok"]
    assert_no_private(json.dumps(found))


def test_validate_reports_model_errors_without_values_and_refuses_bad_signatures(intake: tuple[str, Path]) -> None:
    url, ledger = intake
    bad = order("hi")
    bad["occasion"] = "halloween"
    del bad["style"]
    raw = json.dumps(bad).encode()
    response = httpx.post(f"{url}/v1/orders/validate", content=raw, headers=signed(raw), timeout=20)
    assert response.status_code == 200
    found = response.json()
    assert found["ok"] is False and found["findings"] == []
    assert any(e.startswith("occasion:") for e in found["errors"]) and "style: required" in found["errors"]
    assert "halloween" not in response.text
    raw = json.dumps(order("Call 415 555 0134")).encode()
    forged = {HEADER: sign("not-the-secret", raw), "Content-Type": "application/json"}
    refused = httpx.post(f"{url}/v1/orders/validate", content=raw, headers=forged, timeout=20)
    assert refused.status_code == 401 and "findings" not in refused.json()
    unsigned = httpx.post(f"{url}/v1/orders/validate", content=raw, timeout=20)
    assert unsigned.status_code == 401
    assert recorded(ledger) == []


def test_a_validated_order_is_still_accepted_by_the_real_endpoint(intake: tuple[str, Path]) -> None:
    url, ledger = intake
    raw = json.dumps(order("Happy birthday, Maya!", idempotency_key="pay_after_check")).encode()
    assert httpx.post(f"{url}/v1/orders/validate", content=raw, headers=signed(raw), timeout=20).json()["ok"]
    assert recorded(ledger) == []
    accepted = httpx.post(f"{url}/v1/orders", content=raw, headers=signed(raw), timeout=20)
    assert accepted.status_code == 202 and accepted.json()["ref"].startswith("ord_")


def check(environment: dict[str, str], path: Path, *extra: str, ledger: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in environment.items() if k != "GIFT_ENVELOPE_KEY"}  # --check needs no key
    return subprocess.run([sys.executable, "-m", "builder", "gift", "submit", "--check", str(path), *extra,
                           "--ledger", str(ledger)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_submit_check_prints_field_findings_and_records_nothing(tmp_path: Path, environment: dict[str, str]) -> None:
    ledger = tmp_path / "ledger"
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order("Kowalczyk here, ring 415 555 0134")))
    done = check(environment, path, ledger=ledger)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"{path}: public_message: the message contains a private name (a surname or a full name that the page "
        "does not show)",
        f"{path}: public_message: the message contains a phone number",
    ]
    assert "would be held; nothing recorded" in done.stderr
    assert_no_private(done.stdout + done.stderr)
    assert not ledger.exists()

    path.write_text(json.dumps(order("Happy birthday, Maya! Stay young, hope you love it")))
    clean = check(environment, path, ledger=ledger)
    assert clean.returncode == 0 and clean.stdout == "" and "pass the guard" in clean.stderr

    path.write_text(json.dumps(order("see songs-for-maya dot com")))
    as_json = check(environment, path, "--json", ledger=ledger)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"ok": False, "errors": [], "findings": [
        {"field": "public_message", "category": "pii_url", "message": "the message contains a link"}]}
    assert not ledger.exists()


def test_submit_check_lists_model_errors_like_submit(tmp_path: Path, environment: dict[str, str]) -> None:
    path = tmp_path / "order.json"
    bad = order("hi")
    bad["occasion"] = "halloween"
    path.write_text(json.dumps(bad))
    done = check(environment, path, ledger=tmp_path / "ledger")
    assert done.returncode == 2 and f"{path}: occasion:" in done.stderr and "halloween" not in done.stderr
    assert done.stdout == "" and not (tmp_path / "ledger").exists()
