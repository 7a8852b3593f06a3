"""Content that must not pass: every error in one run through the real CLI, duplicate keys, symlinks out of the
content folder, control characters (the feed stays well-formed XML), and messages that suggest the fix."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.board_fixtures import CONTENT, line_of, replace_in


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(cwd: Path, *argv: str) -> Run:
    """`python -m builder …` in a child process, as a contributor runs it (paths print relative to `cwd`)."""
    env = {**os.environ, "GITHUB_ACTIONS": "", "PYTHONWARNINGS": "error::RuntimeWarning"}
    done = subprocess.run([sys.executable, "-m", "builder", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A work folder holding a copy of the real content as `content/`."""
    import shutil

    shutil.copytree(CONTENT, tmp_path / "content")
    return tmp_path


def build(tree: Path) -> Run:
    return cli(tree, "build", "--content", "content", "--out", "site", "--cache-dir", "cache")


def expect(err: str, path: str, line: int, fragment: str) -> None:
    rows = [row for row in err.splitlines() if row.startswith(f"{path}:{line}: ")]
    assert rows, f"no error at {path}:{line} in:\n{err}"
    assert any(fragment in row for row in rows), f"{fragment!r} not in {rows}"


def test_ten_independent_errors_across_files_are_all_reported_in_one_run(tree):
    content = tree / "content"
    planted: list[tuple[str, str, str]] = []  # (path, needle for the line, message fragment)

    def plant(relative: str, old: str, new: str, needle: str, fragment: str) -> None:
        replace_in(content / relative, old, new)
        planted.append((f"content/{relative}", needle, fragment))

    plant("gates/observability.md", "status: planned", "status: someday", "status: someday",
          "invalid value for 'status': expected 'complete'")
    plant("gates/performance-tuning.md", "order: 4", "order: 4\nworkstrem: ops", "workstrem:",
          "unknown field 'workstrem': did you mean 'workstream'?")
    plant("workstreams/ops.md", "order: 4", "order: 4\ntitle: Again", "title: Again", "duplicate key 'title'")
    plant("archive/decisions/0003-sanitize-with-nh3.md", "date: 2026-11-25", "date: 2026-13-01",
          "date: 2026-13-01", "expected YYYY-MM-DD")
    plant("board.md", "task: MUSIC001D", "task: MUSIC999Z", "task: MUSIC999Z", "unknown task 'MUSIC999Z'")
    plant("archive/summaries/giftboard-repository.md", "source: this repository", 'source: "bell \\a"',
          "source:", "control character U+0007")
    # deleting a gate breaks the lesson that names it and the decision that links to it: both in this run
    (content / "gates" / "security-audit.md").unlink()
    planted.append(("content/archive/lessons/keep-completed-work-visible.md", "gate: security-audit",
                    "unknown gate 'security-audit'"))
    planted.append(("content/archive/decisions/0002-gift-page-safety-is-a-launch-dependency.md",
                    "gates/security-audit.md", "broken link '../../gates/security-audit.md'"))
    (tree / "elsewhere.md").write_text("---\ntitle: Private\ndate: 2026-01-01\n---\nnot content\n")
    (content / "archive" / "lessons" / "leak.md").symlink_to(tree / "elsewhere.md")
    (content / "archive" / "history" / "notes.md").write_text("# notes\n")

    for verb in ("build", "check"):
        run = build(tree) if verb == "build" else cli(tree, "check", "--content", "content", "--cache-dir", "cache")
        assert run.code == 1, run.err
        for path, needle, fragment in planted:
            expect(run.err, path, line_of(tree / path, needle), fragment)
        expect(run.err, "content/archive/lessons/leak.md", 1, "symlink to a file outside the content folder")
        expect(run.err, "content/archive/history/notes.md", 1, "missing front matter")
        assert "10 errors found." in run.err, run.err
    assert not (tree / "site").exists()


def test_a_file_that_fails_is_still_a_valid_link_and_reference_target(tree):
    # the lesson names the observability gate and the decision links nothing broken: one error, not three
    gate = tree / "content" / "gates" / "observability.md"
    replace_in(gate, "title: Observability", "title: Observability\ntitle: Twice")
    lesson = tree / "content" / "archive" / "lessons" / "status-must-outlive-failures.md"
    lesson.write_text(lesson.read_text() + "\nSee [observability](../../gates/observability.md).\n")
    run = build(tree)
    assert run.code == 1
    expect(run.err, "content/gates/observability.md", 3, "duplicate key 'title' (first set at line 2)")
    assert "1 error found." in run.err, run.err


def test_duplicate_keys_in_site_yaml_and_nested_front_matter_fail_at_the_second_key(tree):
    site = tree / "content" / "site.yaml"
    site.write_text(site.read_text() + "title: Second title\n")
    board = tree / "content" / "board.md"
    replace_in(board, "task: MUSIC001D", "task: MUSIC001D\n    task: MUSIC001D")
    run = build(tree)
    assert run.code == 1
    expect(run.err, "content/site.yaml", line_of(site, "title: Second"), "duplicate key 'title'")
    second = [n for n, row in enumerate(board.read_text().splitlines(), 1) if "task: MUSIC001D" in row][1]
    expect(run.err, "content/board.md", second, "duplicate key 'task'")


def test_symlinks_out_of_the_content_folder_are_refused_and_nothing_is_published(tree):
    outside = tree / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ntitle: Machine secret\ndate: 2026-01-01\n---\nprivate words\n")
    content = tree / "content"
    (content / "archive" / "lessons" / "secret.md").symlink_to(outside / "secret.md")
    (content / "archive" / "summaries").rename(tree / "summaries-moved")
    (content / "archive" / "summaries").symlink_to(tree / "summaries-moved", target_is_directory=True)
    run = build(tree)
    assert run.code == 1
    expect(run.err, "content/archive/lessons/secret.md", 1, "symlink to a file outside the content folder")
    expect(run.err, "content/archive/summaries/giftboard-repository.md", 1, "outside the content folder")
    assert not (tree / "site").exists()


def test_a_symlink_that_stays_inside_the_content_folder_is_fine(tree):
    content = tree / "content"
    (content / "archive" / "lessons" / "same-lesson.md").symlink_to(
        content / "archive" / "lessons" / "status-must-outlive-failures.md")
    run = build(tree)
    assert run.code == 0, run.err
    assert (tree / "site" / "archive" / "lessons" / "same-lesson" / "index.html").is_file()


def test_control_characters_are_refused_at_their_line_whether_escaped_or_raw(tree):
    lesson = tree / "content" / "archive" / "lessons" / "status-must-outlive-failures.md"
    replace_in(lesson, "title: ", 'title: "Form\\x0cfeed" #')
    stream = tree / "content" / "workstreams" / "ops.md"
    stream.write_text(stream.read_text() + "\nA raw \x1b escape in the body.\n")
    run = build(tree)
    assert run.code == 1
    expect(run.err, "content/archive/lessons/status-must-outlive-failures.md", 2, "control character U+000C")
    expect(run.err, "content/workstreams/ops.md", line_of(stream, "A raw"), "control character U+001B")


def test_feed_is_well_formed_xml_for_titles_and_summaries_with_markup_characters(tree):
    lesson = tree / "content" / "archive" / "lessons" / "status-must-outlive-failures.md"
    replace_in(lesson, "title: ", "title: Tom & Jerry <b> \"quotes\" ]]> ")
    decision = tree / "content" / "archive" / "decisions" / "0003-sanitize-with-nh3.md"
    replace_in(decision, "status: accepted", "status: accepted\nsummary: 'a < b && c > d \u2028 ok'")
    run = build(tree)
    assert run.code == 0, run.err
    feed = ET.fromstring((tree / "site" / "feed.xml").read_bytes())  # noqa: S314 - our own output; expat is strict
    titles = [entry.findtext("{http://www.w3.org/2005/Atom}title") for entry in feed]
    assert any(title and title.startswith('Tom & Jerry <b> "quotes" ]]>') for title in titles)


def test_messages_suggest_the_fix(tree):
    content = tree / "content"
    gate = content / "gates" / "security-audit.md"
    replace_in(gate, "workstream: product", "workstream: prodcut")
    lesson = content / "archive" / "lessons" / "payment-safe-failure-handling.md"
    lesson.write_text(lesson.read_text() + "\nSee [the gate](../../gates/observabilty.md) and "
                      "[ops](/gates/obsrvability/).\n")
    decision = content / "archive" / "decisions" / "0005-read-only-source-access.md"
    replace_in(decision, "date: ", "date: 20261201 #")
    run = build(tree)
    assert run.code == 1
    expect(run.err, "content/gates/security-audit.md", line_of(gate, "workstream:"),
           "unknown workstream 'prodcut': did you mean 'product'?")
    line = line_of(lesson, "the gate")
    expect(run.err, "content/archive/lessons/payment-safe-failure-handling.md", line,
           "broken link '../../gates/observabilty.md': no page there (did you mean '../../gates/observability.md'?)")
    expect(run.err, "content/archive/lessons/payment-safe-failure-handling.md", line,
           "broken link '/gates/obsrvability/': no page there (did you mean '/gates/observability/'?)")
    expect(run.err, "content/archive/decisions/0005-read-only-source-access.md", line_of(decision, "date:"),
           "expected a date as YYYY-MM-DD")


def test_a_markdown_file_that_cannot_be_read_is_an_error_not_a_traceback(tree):
    (tree / "content" / "gates" / "folder.md").mkdir()
    (tree / "content" / "gates" / "dangling.md").symlink_to(tree / "content" / "gates" / "gone.md")
    run = build(tree)
    assert run.code == 1
    expect(run.err, "content/gates/folder.md", 1, "cannot read the file")
    expect(run.err, "content/gates/dangling.md", 1, "cannot read the file")
