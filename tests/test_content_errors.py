"""Contributors get `path:line: message` for every problem, a non-zero exit, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.board_fixtures import copy_content, line_of, replace_in, run_cli


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return copy_content(tmp_path)


def check(capsys: pytest.CaptureFixture[str], content: Path, tmp_path: Path) -> tuple[int, str]:
    result = run_cli(capsys, "build", "--content", str(content), "--out", str(tmp_path / "site"),
                     "--cache-dir", str(tmp_path / "cache"))
    return result.code, result.err


def expect(err: str, path: Path, line: int, fragment: str) -> None:
    wanted = [row for row in err.splitlines() if row.startswith(f"{path}:{line}: ")]
    assert wanted, f"no error at {path}:{line} in:\n{err}"
    assert any(fragment in row for row in wanted), f"{fragment!r} not in {wanted}"


def test_invalid_yaml_reports_the_line_where_parsing_stopped(capsys, content, tmp_path):
    gate = content / "gates" / "observability.md"
    replace_in(gate, "status: planned", "status: [planned")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    expect(err, gate, line_of(gate, "workstream: ops"), "invalid YAML")
    assert not (tmp_path / "site").exists()


def test_unknown_status_names_the_allowed_values_at_the_status_line(capsys, content, tmp_path):
    gate = content / "gates" / "observability.md"
    replace_in(gate, "status: planned", "status: someday")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    expect(err, gate, line_of(gate, "status: someday"), "'complete', 'in-progress', 'blocked' or 'planned'")


def test_unknown_and_missing_fields_are_all_reported_in_one_run(capsys, content, tmp_path):
    gate = content / "gates" / "performance-tuning.md"
    replace_in(gate, "order: 4", "order: 4\nownr: alice")
    stream = content / "workstreams" / "ops.md"
    replace_in(stream, "area: Ops\n", "")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    expect(err, gate, line_of(gate, "ownr: alice"), "unknown field 'ownr'")
    expect(err, stream, 2, "missing required field 'area'")
    assert "2 errors found." in err


def test_broken_reference_to_a_workstream(capsys, content, tmp_path):
    gate = content / "gates" / "security-audit.md"
    replace_in(gate, "workstream: product", "workstream: produkt")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    expect(err, gate, line_of(gate, "workstream: produkt"), "unknown workstream 'produkt'")


def test_broken_supersedes_reference(capsys, content, tmp_path):
    decision = content / "archive" / "decisions" / "0004-queue-backed-generation.md"
    replace_in(decision, "supersedes: 0001-synchronous-proof-generation", "supersedes: 0009-nothing")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    expect(err, decision, line_of(decision, "supersedes: 0009"), "unknown decision '0009-nothing'")


def test_dependency_naming_an_unknown_task(capsys, content, tmp_path):
    board = content / "board.md"
    replace_in(board, "task: MUSIC001D", "task: MUSIC999Z")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    expect(err, board, line_of(board, "task: MUSIC999Z"), "unknown task 'MUSIC999Z'")


def test_link_to_a_page_that_does_not_exist(capsys, content, tmp_path):
    lesson = content / "archive" / "lessons" / "status-must-outlive-failures.md"
    lesson.write_text(lesson.read_text() + "\nSee [the runbook](../../gates/runbook.md) and [ops](/nowhere/).\n")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    line = line_of(lesson, "the runbook")
    expect(err, lesson, line, "broken link '../../gates/runbook.md'")
    expect(err, lesson, line, "broken link '/nowhere/'")


def test_missing_front_matter_and_bad_file_names(capsys, content, tmp_path):
    (content / "archive" / "lessons" / "no-front-matter.md").write_text("# Just a heading\n")
    (content / "archive" / "lessons" / "Bad Name.md").write_text("---\ntitle: x\ndate: 2026-01-01\n---\n")
    code, err = check(capsys, content, tmp_path)
    assert code == 1
    assert "no-front-matter.md:1: missing front matter" in err
    assert "Bad Name.md:1: file name 'Bad Name.md' must be lowercase" in err


def test_check_reports_without_writing_and_passes_on_the_real_content(capsys, content, tmp_path):
    ok = run_cli(capsys, "check", "--content", str(content))
    assert ok.code == 0, ok.err
    replace_in(content / "gates" / "observability.md", "status: planned", "status: done")
    bad = run_cli(capsys, "check", "--content", str(content))
    assert bad.code == 1 and "status" in bad.err


def test_github_actions_gets_annotations_and_a_step_summary(capsys, content, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate = content / "gates" / "observability.md"
    replace_in(gate, "status: planned", "status: someday")
    result = run_cli(capsys, "build", "--content", str(content), "--out", str(tmp_path / "site"),
                     "--cache-dir", str(tmp_path / "cache"))
    assert result.code == 1
    line = line_of(gate, "status: someday")
    assert f"::error file={gate},line={line}::invalid value for 'status'" in result.out
    table = summary.read_text()
    assert f"| `{gate}` | {line} |" in table
