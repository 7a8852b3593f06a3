"""Readiness at a glance: owner, due date, blocked gates, the readiness line, groups and dependency states."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.board_fixtures import copy_content, line_of, replace_in, run_cli
from tests.fakes.github_api import FakeGitHub

PAST = "2001-02-03"  # long past: an open gate due then is overdue whenever the suite runs
FUTURE = "2999-12-31"


def text_of(fragment: str) -> str:
    """Visible text with inline tags dropped in place (so "(<a>X</a>)" reads "(X)")."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def words_of(fragment: str) -> str:
    """Visible text with every tag read as a space (block boundaries such as dt/dd)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def build(capsys: pytest.CaptureFixture[str], content: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "site"
    result = run_cli(capsys, "build", "--content", str(content), "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache"), "--no-cache", *extra)
    assert result.code == 0, result.err
    return out


def readiness_line(board: str) -> str:
    match = re.search(r'<p class="readiness[^"]*" id="readiness">(.*?)</p>', board, re.S)
    assert match, "no readiness line on the board"
    return text_of(match.group(1))


@pytest.fixture
def content(tmp_path: Path) -> Path:
    content = copy_content(tmp_path)
    gates = content / "gates"
    replace_in(gates / "observability.md", "status: planned",
               f"status: blocked\nblocked_reason: Waiting for the metrics vendor contract\nowner: Dana\ndue: {PAST}")
    replace_in(gates / "performance-tuning.md", "order: 4", f"order: 4\nowner: Ops team\ndue: {FUTURE}")
    replace_in(gates / "security-audit.md", "order: 1", f"order: 1\ndue: {PAST}")  # complete: never overdue
    return content


def test_readiness_line_counts_complete_gates_and_lists_what_blocks_launch_most_urgent_first(
        capsys, content, tmp_path) -> None:
    board = (build(capsys, content, tmp_path) / "index.html").read_text(encoding="utf-8")
    assert readiness_line(board) == (
        "1 of 4 gates complete · blocking launch: "
        f"Observability (blocked: Waiting for the metrics vendor contract; Dana, due {PAST}, overdue), "
        f"Performance Tuning (Ops team, due {FUTURE}), Infrastructure as Code"
    )
    assert board.index('id="readiness"') < board.index('class="summary"')  # at the top, before the prose
    assert re.search(r'<div class="tally__item tally__item--blocked"><dt>Blocked</dt><dd>1</dd></div>', board)


def test_a_blocked_and_overdue_gate_says_so_in_words_on_its_card_and_page(capsys, content, tmp_path) -> None:
    out = build(capsys, content, tmp_path)
    board = (out / "index.html").read_text(encoding="utf-8")
    cards = board[board.index('id="gates-heading"'):]
    card = cards[cards.index(">Observability</a>"):]
    card = words_of(card[: card.index("</li>")])
    assert "Blocked by Waiting for the metrics vendor contract" in card
    assert f"Owner Dana Due {PAST} ⚠ overdue" in card and "⊘ Blocked" in card
    audit = cards[cards.index(">Security Audit</a>"):]
    audit = words_of(audit[: audit.index("</li>")])
    assert f"Due {PAST}" in audit and "overdue" not in audit  # complete gates are never overdue
    page = words_of((out / "gates" / "observability" / "index.html").read_text(encoding="utf-8"))
    assert "⊘ Blocked" in page and "Blocked by Waiting for the metrics vendor contract" in page
    assert f"Due {PAST} ⚠ overdue" in page


def test_gates_are_grouped_under_their_workstreams_with_per_workstream_progress(capsys, content, tmp_path) -> None:
    board = (build(capsys, content, tmp_path) / "index.html").read_text(encoding="utf-8")
    gates = board[board.index('id="gates-heading"'):board.index('id="dependencies-heading"')]
    groups = re.findall(r'<h3 class="gate-group__title"[^>]*>(.*?)</h3>(.*?)</section>', gates, re.S)
    assert [(text_of(head), re.findall(r'<h4 class="card__title"><a [^>]*>([^<]+)</a>', body))
            for head, body in groups] == [
        ("Product Protect Gift Delivery 1 of 1 gate complete", ["Security Audit"]),
        ("Runtime Harden Generation 0 of 1 gate complete", ["Infrastructure as Code"]),
        ("Ops Add Operational Controls 0 of 2 gates complete", ["Observability", "Performance Tuning"]),
    ]
    streams = board[board.index('id="workstreams-heading"'):board.index('id="gates-heading"')]
    assert re.findall(r'<p class="card__progress">([^<]+)</p>', streams) == [
        "No gates yet", "0 of 1 gate complete", "1 of 1 gate complete", "0 of 2 gates complete"]


def test_blocked_without_a_reason_and_a_reason_without_blocked_are_errors_at_their_lines(
        capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    observability = content / "gates" / "observability.md"
    performance = content / "gates" / "performance-tuning.md"
    replace_in(observability, "status: planned", "status: blocked")
    replace_in(performance, "order: 4", "order: 4\nblocked_reason: nothing really")
    result = run_cli(capsys, "check", "--content", str(content), "--cache-dir", str(tmp_path / "cache"))
    assert result.code == 1
    assert (f"{observability}:{line_of(observability, 'status: blocked')}: status is blocked: "
            "add blocked_reason: what blocks the gate") in result.err
    assert (f"{performance}:{line_of(performance, 'blocked_reason')}: blocked_reason is set but status is "
            "planned: remove it or set status: blocked") in result.err
    assert "Traceback" not in result.err


def dependencies_of(board: str) -> list[str]:
    section = board[board.index('id="dependencies-heading"'):board.index('id="invariants-heading"')]
    items = re.findall(r'<li class="checklist__item dependency[^"]*">(.*?)</li>', section, re.S)
    return [text_of(item) for item in items]


def test_a_dependency_is_done_when_its_archived_task_is_done_and_open_otherwise(capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    board = (build(capsys, content, tmp_path) / "index.html").read_text(encoding="utf-8")
    assert dependencies_of(board)[0] == "○ Open MUSIC001D generation work. archived task"  # carried forward
    replace_in(content / "archive" / "tasks" / "music001d.md", "status: carried-forward", "status: done")
    board = (build(capsys, content, tmp_path) / "index.html").read_text(encoding="utf-8")
    items = dependencies_of(board)
    assert items[0] == "✓ Done MUSIC001D generation work. archived task"
    assert items[1] == "○ Open Gift-page readiness and safe public presentation."
    assert 'class="checklist__box"' not in board[board.index('id="dependencies-heading"'):
                                                 board.index('id="invariants-heading"')]


def test_dependency_text_and_task_id_are_spaced_whatever_their_order(capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    (content / "archive" / "tasks" / "pock014.md").write_text(
        "---\nid: POCK014\ntitle: Offline sync\ndate: 2026-10-01\nstatus: done\noutcome: Shipped.\n---\nDone.\n",
        encoding="utf-8")
    replace_in(content / "board.md", "  - text: Gift-page readiness", "\n".join([
        "  - text: Offline sync for the field app.",
        "    task: POCK014",
        "  - text: Finish the sync (POCK014) before launch.",
        "    task: POCK014",
        "  - text: Ship POCK014, then review.",
        "    task: POCK014",
        "  - text: Gift-page readiness",
    ]))
    board = (build(capsys, content, tmp_path) / "index.html").read_text(encoding="utf-8")
    items = dependencies_of(board)
    assert items[1:4] == [
        "✓ Done POCK014 Offline sync for the field app. archived task",
        "✓ Done Finish the sync (POCK014) before launch. archived task",
        "✓ Done Ship POCK014, then review. archived task",
    ]
    assert "POCK014Offline" not in board
    assert board.count('<a href="archive/tasks/pock014/" title="Archived task POCK014: done">POCK014</a>') == 3


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/board")
    with FakeGitHub(token="ghp_readinessTOKEN123456", scopes="") as fake:
        fake.add_issue("acme/board", 5, title="Queue service", state="closed", closed_at="2026-11-10T10:00:00Z")
        fake.add_issue("acme/board", 6, title="Disclosure copy", state="open")
        fake.add_issue("acme/board", 7, title="Disclosure review", state="closed", pull=True, merged=True)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_readinessTOKEN123456")
        yield fake


def test_a_dependency_is_done_when_every_issue_it_links_is_closed(capsys, tmp_path, github) -> None:
    content = copy_content(tmp_path)
    replace_in(content / "board.md", "  - text: Queue-backed job execution.",
               "  - text: Queue-backed job execution.\n    links: [acme/board#5]")
    replace_in(content / "board.md", "  - text: PII and AI disclosure controls.",
               "  - text: PII and AI disclosure controls.\n    links: [acme/board#7, acme/board#6]")
    cache = tmp_path / "cache"
    synced = run_cli(capsys, "sync", "--content", str(content), "--snapshot", str(cache / "github-snapshot.json"))
    assert synced.code == 0, synced.err
    board = (build(capsys, content, tmp_path, "--offline") / "index.html").read_text(encoding="utf-8")
    items = dependencies_of(board)
    assert items[2] == "✓ Done Queue-backed job execution."
    assert items[3] == "○ Open PII and AI disclosure controls."  # one of its two links is still open


def test_a_long_readiness_line_names_the_five_most_urgent_gates_and_counts_the_rest(capsys, content, tmp_path) -> None:
    for number in range(1, 4):
        (content / "gates" / f"extra-{number}.md").write_text(
            f"---\ntitle: Extra {number}\nstatus: planned\nworkstream: ops\norder: {10 + number}\n---\nMore work.\n",
            encoding="utf-8")
    board = (build(capsys, content, tmp_path) / "index.html").read_text(encoding="utf-8")
    line = readiness_line(board)
    assert line.startswith("1 of 7 gates complete · blocking launch: Observability (blocked:")
    assert line.endswith("Infrastructure as Code, Extra 1, Extra 2, and 1 more")
    assert re.search(r', and <a href="gates/">1 more</a>', board)
