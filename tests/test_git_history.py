"""The git reader: commits that touched a file, their dates and messages, old versions; nothing outside git."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from builder.content.git_history import GitRepository
from tests.git_repos import TestRepository


def test_last_changed_gives_each_file_its_newest_commit_relative_to_the_folder(tmp_path: Path) -> None:
    repo = TestRepository(tmp_path / "repo")
    repo.commit("Add the board", {"content/board.md": "one", "content/gates/a.md": "a1", "README.md": "r"},
                date="2026-03-01T10:00:00+02:00")
    repo.commit("Move gate a (#12)", {"content/gates/a.md": "a2"}, date="2026-04-02T09:30:00+00:00")
    repo.commit("Readme only", {"README.md": "r2"}, date="2026-05-01T00:00:00+00:00")

    git = GitRepository.discover(tmp_path / "repo" / "content")
    assert git is not None
    changed = git.last_changed(tmp_path / "repo" / "content")
    assert changed == {
        "board.md": datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        "gates/a.md": datetime(2026, 4, 2, 9, 30, tzinfo=UTC),
    }


def test_commits_of_a_file_are_newest_first_with_message_and_old_text(tmp_path: Path) -> None:
    repo = TestRepository(tmp_path / "repo")
    first = repo.commit("Plan gate", {"gates/a.md": "status: planned\n"}, date="2026-01-05T00:00:00+00:00")
    second = repo.commit("Gate done\n\nMerged pull request #7", {"gates/a.md": "status: complete\n"},
                         date="2026-02-05T00:00:00+00:00")
    git = GitRepository.discover(tmp_path / "repo")
    assert git is not None
    commits = git.commits(tmp_path / "repo" / "gates" / "a.md")
    assert [c.sha for c in commits] == [second, first]
    assert commits[0].subject == "Gate done" and commits[0].body == "Merged pull request #7"
    assert commits[0].files == ("gates/a.md",) and commits[0].short_sha == second[:7]
    assert git.show(first, "gates/a.md") == "status: planned\n"
    assert git.show(first, "gates/missing.md") is None


def test_a_folder_outside_git_has_no_history(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert GitRepository.discover(tmp_path / "plain") is None
