"""Gate history from git: a real temporary repository with commits that move a gate, built through the CLI."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.board_fixtures import CONTENT, replace_in, run_cli
from tests.git_repos import TestRepository

ATOM = "{http://www.w3.org/2005/Atom}"
GATE = "content/gates/observability.md"


@pytest.fixture
def board_repo(tmp_path: Path) -> tuple[TestRepository, dict[str, str]]:
    """The seed board committed, then Observability moved planned → in-progress → complete (via a merged
    branch) → in-progress, with a text-only edit in between that must not show as a change."""
    repo = TestRepository(tmp_path / "board")
    shutil.copytree(CONTENT, repo.root / "content")
    (repo.root / "content" / "site.yaml").write_text(
        (repo.root / "content" / "site.yaml").read_text().replace("# repository: owner/repo", "repository: acme/board"))
    shas = {"add": repo.commit("Add the board", date="2026-01-05T10:00:00+00:00")}
    gate = repo.root / GATE
    replace_in(gate, "status: planned", "status: in-progress")
    shas["start"] = repo.commit("Start observability work (#12)", date="2026-02-03T09:00:00+00:00")
    replace_in(gate, "Add generation status", "Add durable generation status")
    shas["text"] = repo.commit("Reword the observability gate", date="2026-02-10T09:00:00+00:00")
    repo.git("switch", "--quiet", "-c", "observability-done")
    replace_in(gate, "status: in-progress", "status: complete")
    shas["done"] = repo.commit("Observability: dashboards and alerts are live", date="2026-03-01T08:00:00+00:00")
    repo.git("switch", "--quiet", "main")
    repo.git("merge", "--no-ff", "--quiet", "-m", "Merge pull request #15 from acme/observability-done",
             "observability-done", date="2026-03-02T08:00:00+00:00")
    replace_in(gate, "status: complete", "status: in-progress")
    shas["reopen"] = repo.commit("Reopen observability: alert routing regressed", date="2026-04-01T12:30:00+00:00")
    return repo, shas


def test_gate_page_shows_each_status_change_with_date_commit_and_pull_request(
        board_repo: tuple[TestRepository, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    repo, shas = board_repo
    out = repo.root.parent / "site"
    result = run_cli(capsys, "build", "--content", str(repo.root / "content"), "--out", str(out),
                     "--cache-dir", str(repo.root.parent / "cache"))
    assert result.code == 0, result.err
    page = (out / "gates/observability/index.html").read_text(encoding="utf-8")
    timeline = page.split('id="history-heading"')[1].split("</ol>")[0]
    rows = [row.split("</li>")[0] for row in timeline.split("<li>")[1:]]
    assert len(rows) == 4  # the text-only edit is not a status change
    newest, merged, started, added = rows
    assert '<time datetime="2026-04-01T12:30:00+00:00">1 April 2026</time>' in newest
    assert "Complete" in newest.split("→")[0] and "In Progress" in newest.split("→")[1]
    assert f'href="https://github.com/acme/board/commit/{shas["reopen"]}"><code>{shas["reopen"][:7]}</code>' in newest
    assert "pull request #" not in newest
    # a commit made on a branch: its own sha, and the pull request its merge names
    assert "1 March 2026" in merged and "In Progress" in merged.split("→")[0] and "Complete" in merged.split("→")[1]
    assert shas["done"][:7] in merged
    assert '<a href="https://github.com/acme/board/pull/15">pull request #15</a>' in merged
    assert "3 February 2026" in started and "Planned" in started and "pull request #12" in started
    assert "added as Planned" in added and shas["add"][:7] in added and "5 January 2026" in added
    assert shas["text"][:7] not in timeline


def test_board_changes_in_the_archive_with_an_atom_feed(
        board_repo: tuple[TestRepository, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    repo, shas = board_repo
    out = repo.root.parent / "site"
    assert run_cli(capsys, "build", "--content", str(repo.root / "content"), "--out", str(out),
                   "--cache-dir", str(repo.root.parent / "cache")).code == 0
    changes = (out / "archive/changes/index.html").read_text(encoding="utf-8")
    items = changes.split('class="timeline timeline--board"')[1].split("</ol>")[0].split("<li>")[1:]
    assert len(items) == 4 + 3  # Observability's four, and the three other gates added with the board
    assert "Observability" in items[0] and "1 April 2026" in items[0]
    assert 'href="../../gates/observability/"' in items[0]
    assert 'archive/changes/">Board changes</a>' in (out / "archive/index.html").read_text()
    feed = ElementTree.parse(out / "archive/changes/feed.xml").getroot()  # noqa: S314 (our own build output)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 7
    first = entries[0]
    assert first.findtext(f"{ATOM}title") == "Observability: Complete → In Progress"
    assert first.findtext(f"{ATOM}updated") == "2026-04-01T12:30:00+00:00"
    assert feed.findtext(f"{ATOM}updated") == "2026-04-01T12:30:00+00:00"
    merged = next(e for e in entries if "In Progress → Complete" in (e.findtext(f"{ATOM}title") or ""))
    assert f"commit {shas['done'][:7]}, pull request #15" in (merged.findtext(f"{ATOM}summary") or "")
    assert "archive/changes/" in (out / "sitemap.xml").read_text()


def test_a_new_commit_is_picked_up_by_the_next_build(
        board_repo: tuple[TestRepository, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    repo, _ = board_repo
    args = ("build", "--content", str(repo.root / "content"), "--out", str(repo.root.parent / "site"),
            "--cache-dir", str(repo.root.parent / "cache"))
    assert run_cli(capsys, *args).code == 0
    replace_in(repo.root / GATE, "status: in-progress", "status: complete")
    assert run_cli(capsys, *args).code == 0  # an uncommitted edit is not history yet
    sha = repo.commit("Close observability (#21)", date="2026-05-01T00:00:00+00:00")
    assert run_cli(capsys, *args).code == 0
    page = (repo.root.parent / "site/gates/observability/index.html").read_text(encoding="utf-8")
    assert sha[:7] in page and "pull request #21" in page


def test_without_git_the_board_builds_and_history_is_absent(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(CONTENT, tmp_path / "content")
    out = tmp_path / "site"
    result = run_cli(capsys, "build", "--content", str(tmp_path / "content"), "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache"))
    assert result.code == 0, result.err
    assert "Status history" not in (out / "gates/observability/index.html").read_text()
    assert not (out / "archive/changes").exists()
    assert "Board changes" not in (out / "archive/index.html").read_text()


def test_a_shallow_clone_shows_the_changes_it_has_and_says_older_ones_are_missing(
        board_repo: tuple[TestRepository, dict[str, str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo, shas = board_repo
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "2", f"file://{repo.root}", str(clone)], check=True,
                   capture_output=True)
    out = tmp_path / "shallow-site"
    assert run_cli(capsys, "build", "--content", str(clone / "content"), "--out", str(out),
                   "--cache-dir", str(tmp_path / "shallow-cache")).code == 0
    page = (out / "gates/observability/index.html").read_text(encoding="utf-8")
    assert shas["reopen"][:7] in page
    assert "added as" not in page  # the shallow boundary is not when the gate was added
    changes = (out / "archive/changes/index.html").read_text(encoding="utf-8")
    assert "Older changes are not shown: this build ran on a shallow clone." in changes
