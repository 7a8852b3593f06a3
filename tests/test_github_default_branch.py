"""Gate evidence comes from the default branch only, and a declared check or workflow that never ran there is
"no evidence", which contradicts `complete`: synced from a fake GitHub, built offline, read through the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.cli import main
from tests.fakes.github_api import FakeGitHub, seed_board_world
from tests.test_github_sync import REPO, ROOT, TOKEN

GATE = """---
title: Security Audit
status: {status}
workstream: product
order: 1
workflow: audit.yml
checks: [{checks}]
---
Confirm PII boundaries, disclosure posture, and generated-content redaction.
"""
GATE_FILE = "content/gates/security-audit.md"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "content", tmp_path / "content")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
def github(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, scopes="") as fake:
        seed_board_world(fake, REPO)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        yield fake


def write_gate(workspace: Path, *, status: str = "complete", checks: str = "build") -> None:
    (workspace / GATE_FILE).write_text(GATE.format(status=status, checks=checks), encoding="utf-8")


def sync_then_build(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    assert main(["sync"]) == 0
    capsys.readouterr()
    code = main(["build", "--offline", "--no-cache", *extra])
    captured = capsys.readouterr()
    gate = Path("site/gates/security-audit/index.html")
    return code, captured.err, gate.read_text(encoding="utf-8") if gate.is_file() else ""


def add_run(fake: FakeGitHub, run_id: int, conclusion: str, day: str, **where: str) -> None:
    fake.add_workflow_run(REPO, run_id=run_id, path="audit.yml", conclusion=conclusion,
                          created_at=f"2026-11-{day}T09:00:00Z", started_at=f"2026-11-{day}T09:00:30Z",
                          updated_at=f"2026-11-{day}T09:04:00Z", **where)


def test_a_failing_pull_request_run_does_not_flag_a_complete_gate(
        github: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace)
    github.add_check_run(REPO, "main", name="build", conclusion="success")
    add_run(github, 801, "success", "20")
    # newer, failing, and not the default branch's: a contributor's branch, and a fork's pull request from its main
    add_run(github, 802, "failure", "22", event="pull_request", head_branch="feature/redaction")
    add_run(github, 803, "failure", "23", event="pull_request", head_branch="main",
            head_repository="contributor/giftboard")
    code, err, gate = sync_then_build(capsys, "--strict")
    assert code == 0, err
    assert "last audit run green" in gate and "Status contradicts" not in gate
    assert "/actions/runs/801" in gate and "/actions/runs/802" not in gate and "/actions/runs/803" not in gate


def test_a_green_pull_request_run_does_not_hide_a_red_default_branch(
        github: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace)
    github.add_check_run(REPO, "main", name="build", conclusion="success")
    add_run(github, 811, "failure", "20")
    add_run(github, 812, "success", "22", event="pull_request", head_branch="fix/audit")
    code, err, gate = sync_then_build(capsys)
    assert code == 0
    assert f"warning: {GATE_FILE}:3: gate status contradicts its GitHub evidence: declared complete, but the " \
           "last audit run failed" in err
    assert "last audit run failed" in gate and "Status contradicts the evidence" in gate
    code, err, _ = sync_then_build(capsys, "--strict")
    assert code == 1 and f"{GATE_FILE}:3: gate status contradicts" in err


def test_a_workflow_that_only_ran_on_other_branches_is_no_evidence_for_a_complete_gate(
        github: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace)
    github.add_check_run(REPO, "main", name="build", conclusion="success")
    add_run(github, 821, "success", "22", event="pull_request", head_branch="feature/audit")
    code, err, _ = sync_then_build(capsys, "--strict")
    assert code == 1
    assert f"{GATE_FILE}:3: gate status contradicts its GitHub evidence: declared complete, but no evidence: " \
           "audit.yml never ran on the default branch" in err
    assert not Path("site").exists()


def test_a_declared_check_that_never_ran_on_the_default_branch_contradicts_complete(
        github: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace, checks="build, e2e")
    add_run(github, 831, "success", "20")
    github.add_check_run(REPO, "main", name="build", conclusion="success")
    github.add_check_run(REPO, "feature-e2e", name="e2e", conclusion="success")  # ran, but not on main
    code, err, gate = sync_then_build(capsys)
    assert code == 0
    assert "no evidence: check 'e2e' never ran on the default branch" in err
    assert "e2e</li>" not in gate and "no run on the default branch" in gate
    assert "Status contradicts the evidence" in gate
    code, err, _ = sync_then_build(capsys, "--strict")
    assert code == 1 and f"{GATE_FILE}:3:" in err


def test_no_evidence_is_no_contradiction_for_a_gate_not_yet_complete(
        github: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace, status="in-progress", checks="e2e")
    code, err, gate = sync_then_build(capsys, "--strict")
    assert code == 0, err
    assert "no runs of audit.yml on the default branch" in gate and "Status contradicts" not in gate


def test_pages_never_carry_developer_hints(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_gate(workspace)
    assert main(["build", "--no-cache"]) == 0
    assert "python -m builder sync" in capsys.readouterr().err  # the hint is for the developer, in the CLI
    for page in Path("site").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "builder sync" not in text and "sync fetches" not in text, page
    assert "live state unknown: no GitHub snapshot" in Path("site/gates/security-audit/index.html").read_text()
