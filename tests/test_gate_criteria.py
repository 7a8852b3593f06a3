"""Gate criteria computed from evidence: met, not met and no data with their values; a `complete` gate with a
criterion that is not met contradicts it (a warning on the page, `--strict` fails at the gate's line)."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.cli import main
from tests.fakes.github_api import FakeGitHub, seed_board_world
from tests.test_github_sync import REPO, ROOT, TOKEN

GATE_FILE = "content/gates/observability.md"
GATE = """---
title: Observability
status: {status}
workstream: ops
order: 3
criteria:
  - issue: acme/giftboard#41
  - label: Alert routing reviewed
    issue: acme/giftboard#42
  - workflow: ci.yml
  - check: e2e
  - label: Queue latency p95 within 100 ms
    metric: queue_latency_p95_ms <= 100
  - metric: "cold_build_s < 2"
  - metric: error_budget_used_ratio <= 0.5
---
Add generation status, provider failure visibility, retry auditability, and support-safe operational summaries.
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "content", tmp_path / "content")
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "queue.json").write_text(json.dumps({"queue_latency": {"p95_ms": 50.1, "p50_ms": 20}}))
    (results / "build.json").write_text(json.dumps({"cold_build_s": 2.75, "pages": 4000}))
    (results / "intake.json").write_text(json.dumps([["intake p95", "12.8 ms", "< 20 ms", "met"]]))  # a table
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
def synced(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The criteria's issues, runs and checks on a fake GitHub, synced into the snapshot, then the server gone."""
    write_gate(workspace, "complete")
    with FakeGitHub(token=TOKEN, scopes="") as fake:
        seed_board_world(fake, REPO)  # ci.yml: green on main for the newest merged pull request
        fake.add_issue(REPO, 41, title="Dashboards", state="closed", closed_at="2026-11-10T10:00:00Z")
        fake.add_issue(REPO, 42, title="Alert routing", state="open")
        fake.add_check_run(REPO, "feature-e2e", name="e2e", conclusion="success")  # never on main
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        assert main(["sync"]) == 0
        yield fake
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("GITHUB_TOKEN")


def write_gate(workspace: Path, status: str) -> None:
    (workspace / GATE_FILE).write_text(GATE.format(status=status), encoding="utf-8")


def build(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["build", "--offline", "--no-cache", *extra])
    return code, capsys.readouterr().err


def criteria_rows(page: str) -> dict[str, str]:
    """Criterion text → its line on the gate page, tags stripped."""
    block = page.split('<ul class="criteria__list">')[1].split("</ul>")[0]
    rows = {}
    for item in re.findall(r"<li [^>]*>(.*?)</li>", block, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", item))
        match = re.match(r"(?:✓ met|✗ not met|\? no data) (.*?): ", text)
        assert match, text
        rows[match.group(1)] = text
    return rows


def test_each_criterion_shows_met_not_met_or_no_data_with_its_value(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = build(capsys)
    assert code == 0
    page = (workspace / "site/gates/observability/index.html").read_text(encoding="utf-8")
    rows = criteria_rows(page)
    assert rows["acme/giftboard#41 closed"].startswith("✓ met") and "closed" in rows["acme/giftboard#41 closed"]
    assert rows["Alert routing reviewed"].startswith("✗ not met") and ": open" in rows["Alert routing reviewed"]
    assert rows["ci.yml green on the default branch"].startswith("✓ met")
    assert "last run green" in rows["ci.yml green on the default branch"]
    assert rows["check 'e2e' green on the default branch"].startswith("? no data")
    assert "never ran on the default branch" in rows["check 'e2e' green on the default branch"]
    queue = rows["Queue latency p95 within 100 ms"]
    assert queue.startswith("✓ met") and "queue_latency_p95_ms = 50.1" in queue
    assert "(benchmarks/results/queue.json)" in queue
    assert rows["cold_build_s < 2"].startswith("✗ not met") and "cold_build_s = 2.75" in rows["cold_build_s < 2"]
    assert rows["error_budget_used_ratio <= 0.5"].startswith("? no data")
    assert "no value for error_budget_used_ratio" in rows["error_budget_used_ratio <= 0.5"]
    assert "3 of 7 criteria met, 2 with no data" in page
    board = (workspace / "site/index.html").read_text(encoding="utf-8")
    assert "Criteria:</span> 3 of 7 criteria met, 2 with no data" in board


def test_a_complete_gate_with_an_unmet_criterion_warns_and_fails_strict_at_its_line(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = build(capsys)
    assert code == 0
    assert f"warning: {GATE_FILE}:3: gate status contradicts its criteria: declared complete, but " \
           "“Alert routing reviewed” is not met (open)" in err
    assert "“check 'e2e' green on the default branch” has no data (never ran on the default branch)" in err
    assert "“cold_build_s < 2” is not met (cold_build_s = 2.75)" in err
    assert "“Queue latency" not in err and "“acme/giftboard#41 closed”" not in err
    page = (workspace / "site/gates/observability/index.html").read_text(encoding="utf-8")
    assert "Status contradicts the criteria" in page
    code, err = build(capsys, "--strict")
    assert code == 1
    assert f"{GATE_FILE}:3: gate status contradicts its criteria" in err
    assert "build failed: the previous output is untouched" in err


def test_criteria_that_are_all_met_make_a_complete_gate_pass_strict(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GATE.format(status="complete")
    kept = "\n".join(line for line in text.splitlines()
                     if "#42" not in line and "Alert routing" not in line and "e2e" not in line
                     and "cold_build" not in line and "error_budget" not in line)
    (workspace / GATE_FILE).write_text(kept + "\n", encoding="utf-8")
    code, err = build(capsys, "--strict")
    assert code == 0, err
    page = (workspace / "site/gates/observability/index.html").read_text(encoding="utf-8")
    assert "3 of 3 criteria met" in page and "Status contradicts" not in page


def test_unmet_criteria_do_not_contradict_a_gate_in_progress(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace, "in-progress")
    code, err = build(capsys, "--strict")
    assert code == 0, err
    assert "contradicts its criteria" not in err


def test_without_a_snapshot_github_criteria_have_no_data_and_claim_nothing(
        workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace, "complete")
    capsys.readouterr()
    assert main(["build", "--no-cache"]) == 0
    err = capsys.readouterr().err
    page = (workspace / "site/gates/observability/index.html").read_text(encoding="utf-8")
    rows = criteria_rows(page)
    assert rows["acme/giftboard#41 closed"].startswith("? no data") and "no GitHub snapshot" in page
    # the metrics were read, so those still count
    assert "contradicts its criteria" in err and "“cold_build_s < 2” is not met" in err
    assert "“acme/giftboard#41 closed”" not in err


def test_an_invalid_criterion_is_a_content_error_with_its_line(
        workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GATE.format(status="planned").replace("metric: error_budget_used_ratio <= 0.5",
                                                 "metric: error budget is fine")
    text = text.replace("  - workflow: ci.yml", "  - workflow: ci.yml\n    check: build")
    (workspace / GATE_FILE).write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["build", "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert f"{GATE_FILE}:10:" in err and "a criterion names exactly one of issue, workflow, check or metric" in err
    assert f"{GATE_FILE}:16:" in err and "e.g. queue_latency_p95_ms <= 100" in err


def test_ops_summary_metrics_come_from_the_ledger_and_win_over_benchmarks(
        workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GIFT_ENVELOPE_KEY", Fernet.generate_key().decode())
    ledger = workspace / "ledger"
    assert main(["gift", "submit", str(ROOT / "examples/order-maya.json"), "--ledger", str(ledger)]) == 0
    assert main(["gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(workspace / "site")]) == 0
    (workspace / GATE_FILE).write_text(GATE.format(status="planned").split("criteria:")[0] + """criteria:
  - metric: queue_latency_p95_ms <= 60000
  - metric: orders_published >= 1
  - metric: orders_held == 0
---
Observability.
""", encoding="utf-8")
    capsys.readouterr()
    assert main(["build", "--no-cache", "--ledger", str(ledger)]) == 0
    page = (workspace / "site/gates/observability/index.html").read_text(encoding="utf-8")
    rows = criteria_rows(page)
    assert rows["queue_latency_p95_ms <= 60000"].startswith("✓ met")
    assert "(ops summary)" in rows["queue_latency_p95_ms <= 60000"]
    assert "queue_latency_p95_ms = 50.1" not in page  # the benchmark's number lost to the ledger's
    assert rows["orders_published >= 1"].startswith("✓ met") and "orders_published = 1" in page
    assert rows["orders_held == 0"].startswith("✓ met") and "orders_held = 0" in page


def test_issue_linked_needs_every_issue_the_gate_links_closed(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = GATE.format(status="complete").split("criteria:")[0]
    (workspace / GATE_FILE).write_text(head + "links: [acme/giftboard#41, acme/giftboard#42]\ncriteria:\n"
                                       "  - issue: linked\n---\nObservability.\n", encoding="utf-8")
    code, err = build(capsys)
    assert code == 0
    rows = criteria_rows((workspace / "site/gates/observability/index.html").read_text(encoding="utf-8"))
    assert rows["linked issues closed"].startswith("✗ not met") and ": 1 of 2 closed" in rows["linked issues closed"]
    assert f"{GATE_FILE}:3: gate status contradicts its criteria: declared complete, but “linked issues closed” " \
           "is not met (1 of 2 closed)" in err
    (workspace / GATE_FILE).write_text(head + "links: [acme/giftboard#41]\ncriteria:\n  - issue: linked\n---\nOk.\n",
                                       encoding="utf-8")
    code, err = build(capsys, "--strict")
    assert code == 0, err
