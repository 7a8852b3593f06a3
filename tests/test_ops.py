"""Ops figures from a ledger made by real orders through real faults: 5xx, timeouts, a guard hold."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.app.board import board_site
from builder.cli import main
from builder.jobs.folder_ledger import FolderLedger as Ledger
from builder.ops.metrics import percentile, summarise_ledger
from builder.site.build import BuildOptions
from tests.board_fixtures import copy_content
from tests.fakes.chat_api import ChatCompletionsFake, ChatConfig
from tests.support.browser import axe_violations, describe_violations, open_page, screenshot
from tests.support.html_checks import validate_html5, without_search_script

PRIVATE = {
    "buyer": "Rosalind Quentin-Harrow",
    "email": "rosalind.qh@example.net",
    "surname": "Vandermeer",
    "story": "Elsie Vandermeer kept bees behind the old chapel on Wexcombe Lane and sang to them every morning",
}


def order(key: str, display: str) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "buyer": {"name": PRIVATE["buyer"], "email": PRIVATE["email"]},
        "recipient": {"display_name": display, "full_name": f"{display} {PRIVATE['surname']}"},
        "from_display_name": "Sam",
        "occasion": "thank-you",
        "style": {"genre": "acoustic", "mood": "tender", "tempo": "slow"},
        "story": PRIVATE["story"] + f" ({display}).",
        "public_message": f"Thank you, {display}!",
    }


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for value in PRIVATE.values():
        assert value not in captured.out and value not in captured.err
    return captured.out


@pytest.fixture
def faulty_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Four orders: two meet 503s, one a timeout, one a model that echoes private input (held)."""
    ledger, out = tmp_path / "ledger", tmp_path / "site"
    fake = ChatCompletionsFake(ChatConfig(echo_values=[PRIVATE["surname"], PRIVATE["email"]])).start()
    for name, value in {
        "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(),
        "GIFT_LYRICS_BASE_URL": fake.url,
        "GIFT_LYRICS_API_KEY": "sk-test-not-a-secret",
        "GIFT_LYRICS_TIMEOUT_S": "0.4",
        "GIFT_RETRY_BASE_S": "0.01",
        "GIFT_RETRY_CAP_S": "0.05",
        "GIFT_MAX_ATTEMPTS": "4",
    }.items():
        monkeypatch.setenv(name, value)

    def submit(key: str, display: str) -> str:
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(order(key, display)))
        return cli(capsys, "gift", "submit", str(path), "--ledger", str(ledger)).strip().splitlines()[-1]

    def drain() -> None:
        for _ in range(30):
            cli(capsys, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out))
            states = {r.state for r in Ledger(ledger).records()}
            if not states & {"queued", "retry_wait", "running"}:
                return
            time.sleep(0.06)
            cli(capsys, "gift", "reconcile", "--ledger", str(ledger))
        raise AssertionError("orders did not settle")

    try:
        fake.config.statuses.extend([503, 503])
        refs = {"5xx-a": submit("pay_ops_a", "Ada"), "5xx-b": submit("pay_ops_b", "Bea")}
        drain()
        # exactly one slow answer, so the retry meets a fast provider however loaded the machine is (a slow
        # window let a busy machine spend all four attempts on timeouts and fail the order)
        fake.config.latencies.append(1.0)
        refs["timeout"] = submit("pay_ops_c", "Cy")
        drain()
        fake.config.mode = "echo"
        refs["held"] = submit("pay_ops_d", "Di")
        drain()
    finally:
        fake.stop()
    return ledger, out, refs


def test_ops_summary_reports_states_failures_providers_and_latency(faulty_ledger, capsys) -> None:
    ledger_dir, _out, refs = faulty_ledger
    summary = summarise_ledger(Ledger(ledger_dir))
    assert summary.by_state == {"held": 1, "published": 3}
    assert [item.ref for item in summary.attention] == [refs["held"]]
    assert summary.attention[0].reason.startswith(("private_value", "pii_", "story_copy"))
    assert summary.failures_by_reason.get("http_5xx") == 2
    timeouts = summary.failures_by_reason.get("timeout", 0)
    assert timeouts >= 1  # a quick retry may meet the slow provider once more
    lyrics = next(p for p in summary.providers if p.stage == "lyrics" and p.provider == "chat-completions")
    assert lyrics.errors == {"http_5xx": 2, "timeout": timeouts}
    assert lyrics.calls == lyrics.failures + 3  # every failed call, plus the three published gifts
    assert lyrics.failure_rate == pytest.approx(lyrics.failures / lyrics.calls)
    assert lyrics.latency.max >= 0.3  # the timed-out call waited for the 0.4 s timeout
    assert summary.retries >= 2 + timeouts
    assert summary.queue_latency.count == sum(summary.attempts_per_order.get(n, 0) * n for n in range(1, 9))
    assert summary.end_to_end.count == 3 and summary.end_to_end.p50 > 0
    assert sum(count for _, count in summary.published_per_hour) == 3

    text = cli(capsys, "ops", "summary", "--ledger", str(ledger_dir))
    assert "held 1" in text and "published 3" in text and refs["held"] in text
    data = json.loads(cli(capsys, "ops", "summary", "--json", "--ledger", str(ledger_dir)))
    assert data["by_state"] == {"held": 1, "published": 3}
    chat = next(p for p in data["providers"] if p["provider"] == "chat-completions")
    assert chat["failure_rate"] == pytest.approx(lyrics.failure_rate, abs=1e-4)


def test_ops_page_shows_the_figures_and_no_private_field(faulty_ledger, tmp_path: Path) -> None:
    ledger_dir, _out, refs = faulty_ledger
    content = copy_content(tmp_path / "board")
    out = tmp_path / "board-site"
    board_site(BuildOptions(content=content, out=out, cache_dir=tmp_path / "cache", ledger=ledger_dir)).build()
    page = (out / "ops" / "index.html").read_text()
    assert refs["held"] in page and "http_5xx" in page and "chat-completions" in page
    assert "<svg" in page and "<script" not in without_search_script(page)  # charts need no JavaScript
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in PRIVATE.values():
                assert value.encode() not in data, (path, value)
    for path in ledger_dir.rglob("*"):
        if path.is_file() and "envelopes" not in path.parts:
            data = path.read_bytes().lower()
            for value in PRIVATE.values():
                assert value.lower().encode() not in data, (path, value)


@pytest.mark.browser
def test_ops_page_with_data_is_valid_html5_and_accessible(faulty_ledger, tmp_path: Path, serve_static, chromium
                                                          ) -> None:
    ledger_dir, _out, _refs = faulty_ledger
    content = copy_content(tmp_path / "board")
    out = tmp_path / "board-site"
    board_site(BuildOptions(content=content, out=out, cache_dir=tmp_path / "cache", ledger=ledger_dir)).build()
    assert validate_html5([out / "ops" / "index.html"]) == []
    server = serve_static(out, "/board/")
    for scheme in ("light", "dark"):
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        try:
            report = open_page(page, server.url_for("ops/"))
            assert report.problems == []
            violations = axe_violations(page)
            assert violations == [], describe_violations(violations)
            screenshot(page, tmp_path, f"ops-{scheme}")
        finally:
            context.close()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
