"""The board build with the GitHub source: evidence on pages, contradictions under --strict, offline rules."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.cli import main
from tests.fakes.github_api import FakeGitHub, seed_board_world
from tests.test_github_sync import LINKED_GATE, REPO, ROOT, TOKEN


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the seed content whose Security Audit gate links GitHub work; no token, no network."""
    shutil.copytree(ROOT / "content", tmp_path / "content")
    (tmp_path / "content" / "gates" / "security-audit.md").write_text(LINKED_GATE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
def synced(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """Sync the workspace from a fake GitHub, then take the token and the server away again."""
    with FakeGitHub(token=TOKEN, scopes="") as fake:
        seed_board_world(fake, REPO)
        fake.add_issue(REPO, 1, title="Audit PII boundaries", state="closed", closed_at="2026-11-10T10:00:00Z")
        fake.add_issue(REPO, 2, title="Redact <generated> content", state="open", pull=True)
        fake.add_issue(REPO, 3, title="Follow-up", state="closed")
        fake.add_check_run(REPO, "main", name="build", conclusion="success")
        fake.add_milestone(REPO, 1, title="Launch", open_issues=0, closed_issues=4)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        assert main(["sync"]) == 0
        monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
        monkeypatch.delenv("GITHUB_TOKEN")
        yield fake


def build(*extra: str, out: str = "site") -> int:
    return main(["build", "--out", out, "--no-cache", *extra])


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_offline_build_without_a_snapshot_fails_clearly(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build("--offline") == 1
    err = capsys.readouterr().err
    assert "--offline: no GitHub snapshot at .cache/github-snapshot.json" in err
    assert "python -m builder sync" in err
    assert not (workspace / "site").exists()


def test_gate_pages_show_live_evidence_and_a_warning_when_status_contradicts_it(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build("--offline") == 0
    assert "warning: content/gates/security-audit.md:3: gate status contradicts" in capsys.readouterr().err
    gate = (workspace / "site" / "gates" / "security-audit" / "index.html").read_text(encoding="utf-8")
    assert "Status contradicts the evidence" in gate and "acme/giftboard#2 is open" in gate
    assert "Evidence:</span> 2 of 3 linked issues and pull requests done" not in gate  # #3 is in the text only
    assert "1 of 2 linked issues and pull requests done" in gate
    assert "Redact &lt;generated&gt; content" in gate and "<generated>" not in gate
    # owner/repo#N in the gate's text became a decorated link
    assert re.search(r'<a href="https://github.com/acme/giftboard/issues/3" class="gh-ref gh-ref-closed" '
                     r'title="Follow-up">acme/giftboard#3 <span class="gh-state gh-state-closed">closed</span></a>',
                     gate)
    board = (workspace / "site" / "index.html").read_text(encoding="utf-8")
    assert "Status contradicts the evidence" in board
    infra = (workspace / "site" / "gates" / "infrastructure-as-code" / "index.html").read_text(encoding="utf-8")
    assert "last generate run green" in infra and "3m 12s" in infra and "45s" in infra


def test_strict_build_fails_on_a_contradiction_with_file_and_line(
        synced: FakeGitHub, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build("--offline", "--strict") == 1
    err = capsys.readouterr().err
    assert "content/gates/security-audit.md:3: gate status contradicts its GitHub evidence: declared complete, " \
           "but acme/giftboard#2 is open" in err
    assert not (workspace / "site").exists()


def test_generated_archive_entries_appear_next_to_hand_written_ones(synced: FakeGitHub, workspace: Path) -> None:
    assert build("--offline") == 0
    history = (workspace / "site" / "archive" / "history" / "index.html").read_text(encoding="utf-8")
    assert "Build history: 2026-11" in history and "Build history: 2026-10" in history
    assert "Phase 1" in history  # the hand-written entry is still there
    month = (workspace / "site" / "archive" / "history" / "github-2026-11" / "index.html").read_text(encoding="utf-8")
    assert "Read-only GitHub source" in month and "CI green" in month
    summary = workspace / "site" / "archive" / "summaries" / "github-acme-giftboard" / "index.html"
    text = summary.read_text(encoding="utf-8")
    assert "Giftboard builds a launch-gate board from content." in text and "Python" in text


def test_two_builds_from_one_snapshot_are_byte_identical(synced: FakeGitHub, workspace: Path) -> None:
    assert build("--offline", out="one") == 0
    assert build("--offline", out="two") == 0
    one, two = tree(workspace / "one"), tree(workspace / "two")
    assert one.keys() == two.keys() and one == two


def test_token_appears_in_no_built_file(synced: FakeGitHub, workspace: Path) -> None:
    assert build("--offline") == 0
    for path, data in tree(workspace / "site").items():
        assert TOKEN.encode() not in data, path
    assert TOKEN.encode() not in (workspace / ".cache" / "github-snapshot.json").read_bytes()


def test_online_build_without_token_or_snapshot_builds_links_without_state(
        workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build() == 0
    assert "no GitHub snapshot" in capsys.readouterr().err
    gate = (workspace / "site" / "gates" / "security-audit" / "index.html").read_text(encoding="utf-8")
    assert "live state unknown" in gate and "Status contradicts" not in gate
