"""Archive polish: tags and tag pages, summaries in lists, back-links to gates, index pages, last-updated dates from
git and edit-this-page links."""

from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.board_fixtures import CONTENT, copy_content, replace_in, run_cli
from tests.git_repos import TestRepository
from tests.support.html_checks import internal_link_errors

ATOM = "{http://www.w3.org/2005/Atom}"


def words_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def build(capsys: pytest.CaptureFixture[str], content: Path, out: Path) -> dict[str, str]:
    result = run_cli(capsys, "build", "--content", str(content), "--out", str(out),
                     "--cache-dir", str(out.parent / "cache"), "--no-cache")
    assert result.code == 0, result.err
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*")
            if p.suffix in {".html", ".xml"}}


@pytest.fixture
def pages(capsys, tmp_path) -> dict[str, str]:
    return build(capsys, copy_content(tmp_path), tmp_path / "site")


def test_tags_show_on_entries_and_each_has_a_page_listing_its_entries(pages) -> None:
    entry = pages["archive/decisions/0003-sanitize-with-nh3/index.html"]
    assert '<a class="tag tag--link" href="../../../archive/tags/security/">#security</a>' in entry
    assert '<a class="tag tag--link" href="../../../archive/tags/dependencies/">#dependencies</a>' in entry
    security = pages["archive/tags/security/index.html"]
    titles = re.findall(r'<a href="../../../archive/(?:decisions|lessons)/[^"]+/">([^<]+)</a>', security)
    assert titles == ["Sanitize HTML with nh3, not bleach",
                      "Source-to-board automation reads GitHub with a read-only token"]  # newest first
    assert "2 archive entries tagged security." in security
    index = pages["archive/tags/index.html"]
    assert re.findall(r'href="(?:\.\./)*archive/tags/([a-z]+)/">#', index) == [
        "dependencies", "github", "payments", "reliability", "security"]
    reliability = words_of(pages["archive/tags/reliability/index.html"])
    assert "Decisions" in reliability and "Lessons" in reliability  # entries of every kind, named by section


def test_the_feed_gives_each_entry_its_kind_and_its_tags_as_categories(pages) -> None:
    feed = ET.fromstring(pages["feed.xml"])  # noqa: S314 - our own build output
    categories = {entry.findtext(f"{ATOM}title"): [c.get("term") for c in entry.findall(f"{ATOM}category")]
                  for entry in feed.findall(f"{ATOM}entry")}
    assert categories["Sanitize HTML with nh3, not bleach"] == ["decisions", "security", "dependencies"]
    assert categories["Generation work"] == ["tasks"]


def test_archive_lists_show_each_entry_summary_or_task_outcome(pages) -> None:
    for listing in ("archive/index.html", "archive/tasks/index.html"):
        assert ('<span class="entry-list__summary">Phase 1 proved lyrics, song and cover generation synchronously; '
                'durable generation is carried forward as a launch dependency.</span>') in pages[listing], listing
    assert 'class="entry-list__summary"' not in pages["archive/decisions/index.html"]  # none has a summary


def test_an_entry_summary_shows_in_its_lists_and_tag_pages(capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    replace_in(content / "archive" / "decisions" / "0003-sanitize-with-nh3.md", "tags:",
               "summary: nh3 is maintained and faster; bleach is archived.\ntags:")
    pages = build(capsys, content, tmp_path / "site")
    line = '<span class="entry-list__summary">nh3 is maintained and faster; bleach is archived.</span>'
    for listing in ("archive/index.html", "archive/decisions/index.html", "archive/tags/security/index.html"):
        assert line in pages[listing], listing


def test_a_gate_lists_the_lessons_and_decisions_that_name_it_by_field_or_link(capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    replace_in(content / "archive" / "decisions" / "0003-sanitize-with-nh3.md", "\n---\n",
               "\n---\nThis keeps the [Security Audit](../../gates/security-audit.md) honest.\n\n")
    replace_in(content / "archive" / "decisions" / "0005-read-only-source-access.md", "\n---\n",
               "\n---\nSee [the audit](/gates/security-audit/#top).\n\n")
    pages = build(capsys, content, tmp_path / "site")
    audit = pages["gates/security-audit/index.html"]
    section = audit[audit.index('id="backlinks-heading"'):]
    section = section[: section.index("</section>")]
    assert re.findall(r'<a href="../../archive/[a-z]+/([^"/]+)/">', section) == [
        "0003-sanitize-with-nh3", "0005-read-only-source-access",  # newest first, then by file name
        "0002-gift-page-safety-is-a-launch-dependency", "keep-completed-work-visible"]  # seed link; lesson's gate:
    assert "lesson" in words_of(section) and "decision" in words_of(section)
    infra = pages["gates/infrastructure-as-code/index.html"]  # a decision's `gates:` and a lesson's `gate:`
    assert "../../archive/decisions/0004-queue-backed-generation/" in infra
    assert "../../archive/lessons/payment-safe-failure-handling/" in infra
    decision = pages["archive/decisions/0004-queue-backed-generation/index.html"]
    assert '<dt>Gates</dt><dd><a href="../../../gates/infrastructure-as-code/">Infrastructure as Code</a>' in decision
    assert 'id="backlinks-heading"' not in pages["gates/performance-tuning/index.html"]  # nothing names it


def test_an_unknown_gate_in_a_decision_is_an_error_at_its_line(capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    decision = content / "archive" / "decisions" / "0004-queue-backed-generation.md"
    replace_in(decision, "gates: [infrastructure-as-code]", "gates:\n  - infrastructure-as-code\n  - observabilty")
    result = run_cli(capsys, "check", "--content", str(content), "--cache-dir", str(tmp_path / "cache"))
    assert result.code == 1
    assert f"{decision}:9: unknown gate 'observabilty': did you mean 'observability'?" in result.err


def test_gates_and_workstreams_have_index_pages_linked_from_the_breadcrumbs(pages, tmp_path) -> None:
    gates = words_of(pages["gates/index.html"])
    assert "1 of 4 gates complete · blocking launch:" in gates
    for title, status in [("Security Audit", "Complete"), ("Infrastructure as Code", "In Progress"),
                          ("Observability", "Planned"), ("Performance Tuning", "Planned")]:
        assert re.search(rf'>{title}</a> <span class="badge[^"]*"><span [^>]*>.</span> {status}</span>',
                         pages["gates/index.html"]), title
    streams = pages["workstreams/index.html"]
    assert re.findall(r'<p class="card__progress">([^<]+)</p>', streams) == [
        "No gates yet", "0 of 1 gate complete", "1 of 1 gate complete", "0 of 2 gates complete"]
    assert '<li><a href="../../gates/">Gates</a></li>' in pages["gates/observability/index.html"]
    assert '<li><a href="../../workstreams/">Workstreams</a></li>' in pages["workstreams/ops/index.html"]
    assert internal_link_errors(tmp_path / "site") == []


@pytest.fixture
def repository(tmp_path: Path) -> TestRepository:
    """The seed content committed into a real git repository: the gates move on later days."""
    repo = TestRepository(tmp_path / "board-repo")
    shutil.copytree(CONTENT, repo.root / "content")
    repo.commit("Seed the board", date="2026-11-02T09:00:00+00:00")
    replace_in(repo.root / "content" / "gates" / "observability.md", "status: planned", "status: in-progress")
    repo.commit("Observability starts (#21)", date="2026-11-28T16:30:00+00:00")
    return repo


def test_pages_show_when_git_last_changed_them_and_link_their_source_when_a_repository_is_set(
        capsys, tmp_path, repository) -> None:
    content = repository.root / "content"
    pages = build(capsys, content, tmp_path / "site")
    observability = pages["gates/observability/index.html"]
    assert 'Last updated <time datetime="2026-11-28">28 November 2026</time>' in observability
    assert 'Last updated <time datetime="2026-11-02">2 November 2026</time>' in pages["gates/security-audit/index.html"]
    assert "Edit this page" not in observability  # no repository: in site.yaml

    replace_in(content / "site.yaml", "language: en", "language: en\nrepository: acme/launch-board\nbranch: trunk")
    repository.commit("Name the repository", date="2026-11-29T08:00:00+00:00")
    pages = build(capsys, content, tmp_path / "site")
    assert ('<a href="https://github.com/acme/launch-board/edit/trunk/content/gates/observability.md">'
            "Edit this page on GitHub</a>") in pages["gates/observability/index.html"]
    assert ("https://github.com/acme/launch-board/edit/trunk/content/archive/lessons/"
            "keep-completed-work-visible.md") in pages["archive/lessons/keep-completed-work-visible/index.html"]
    assert "https://github.com/acme/launch-board/edit/trunk/content/board.md" in pages["index.html"]
    assert 'Last updated <time datetime="2026-11-28">' in pages["gates/observability/index.html"]  # unchanged


def test_outside_git_there_is_no_last_updated_line_but_edit_links_still_work(capsys, tmp_path) -> None:
    content = copy_content(tmp_path)
    replace_in(content / "site.yaml", "language: en", "language: en\nrepository: acme/launch-board")
    pages = build(capsys, content, tmp_path / "site")
    gate = pages["gates/observability/index.html"]
    assert "Last updated" not in gate
    assert "https://github.com/acme/launch-board/edit/main/content/gates/observability.md" in gate
