"""The board build: the seed page in full, atomic output, incremental rebuilds that are never stale."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from builder.site.build import BuildOptions, Site
from tests.board_fixtures import SEED, copy_content, replace_in, run_cli


def visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def build(tmp_path: Path, content: Path, out: Path | None = None, **options: object) -> Site:
    site = Site(BuildOptions(content=content, out=out or tmp_path / "site", cache_dir=tmp_path / "cache",
                             **options))  # type: ignore[arg-type]
    site.build()
    return site


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return copy_content(tmp_path)


def test_board_page_holds_every_sentence_and_item_of_the_seed_in_order(tmp_path, content):
    build(tmp_path, content)
    text = visible_text((tmp_path / "site" / "index.html").read_text())
    position = 0
    for line in SEED.read_text().splitlines():
        line = " ".join(line.split()).removeprefix("• ")  # the seed's list bullets are <li> items here
        if not line:
            continue
        found = text.find(line, position)
        assert found >= 0, f"seed line missing or out of order: {line!r}"
        position = found + len(line)


def test_board_shows_statuses_as_text_not_only_colour(tmp_path, content):
    build(tmp_path, content)
    page = (tmp_path / "site" / "index.html").read_text()
    page = page[page.index('id="gates-heading"'):]  # the gate cards (the readiness line above names gates too)
    for title, label in [("Security Audit", "Complete"), ("Infrastructure as Code", "In Progress"),
                         ("Observability", "Planned"), ("Performance Tuning", "Planned")]:
        card = page[page.index(f">{title}</a>"):]
        card = card[: card.index("</li>")]
        assert f"</span> {label}</span>" in card


def test_every_page_kind_is_written_with_pretty_urls(tmp_path, content):
    build(tmp_path, content)
    site = tmp_path / "site"
    for path in ["index.html", "gates/observability/index.html", "workstreams/runtime/index.html",
                 "archive/index.html", "archive/decisions/index.html",
                 "archive/decisions/0003-sanitize-with-nh3/index.html", "archive/tasks/music001d/index.html",
                 "404.html", "sitemap.xml", "feed.xml", "assets/site.css"]:
        assert (site / path).is_file(), path
    feed = (site / "feed.xml").read_text()
    assert feed.startswith("<?xml") and "<feed xmlns=\"http://www.w3.org/2005/Atom\"" in feed
    assert "Sanitize HTML with nh3, not bleach" in feed


def test_dependency_naming_an_archived_task_links_to_it(tmp_path, content):
    build(tmp_path, content)
    page = (tmp_path / "site" / "index.html").read_text()
    assert '<a href="archive/tasks/music001d/"' in page
    task = (tmp_path / "site" / "archive/tasks/music001d/index.html").read_text()
    assert "MUSIC001D" in task and "carried-forward" in task


def test_failed_build_leaves_the_previous_output_untouched(tmp_path, content, capsys):
    out = tmp_path / "site"
    build(tmp_path, content)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    replace_in(content / "gates" / "observability.md", "status: planned", "status: nope")
    (content / "archive/lessons/status-must-outlive-failures.md").write_text("no front matter")
    result = run_cli(capsys, "build", "--content", str(content), "--out", str(out), "--cache-dir",
                     str(tmp_path / "cache"))
    assert result.code == 1
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".site.")]
    assert leftovers == []


def test_build_from_the_same_input_is_byte_identical(tmp_path, content):
    build(tmp_path, content, tmp_path / "one")
    build(tmp_path, content, tmp_path / "two")
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one == two


def test_no_change_rebuild_skips_work_and_a_change_is_never_stale(tmp_path, content):
    build(tmp_path, content)
    again = build(tmp_path, content)
    assert again.report.up_to_date
    lesson = content / "archive/lessons/keep-completed-work-visible.md"
    replace_in(lesson, "Reviews of Phase 1", "Reviews of the Phase 1 proof")
    third = build(tmp_path, content)
    assert not third.report.up_to_date and third.report.reused > 0
    page = (tmp_path / "site/archive/lessons/keep-completed-work-visible/index.html").read_text()
    assert "Reviews of the Phase 1 proof" in page
    # a title change shows on other pages, so everything is rendered again
    replace_in(lesson, "title: Keep completed work visible", "title: Keep finished work visible")
    fourth = build(tmp_path, content)
    assert fourth.report.reused == 0
    assert "Keep finished work visible" in (tmp_path / "site/archive/index.html").read_text()


def test_tampered_output_is_rebuilt(tmp_path, content):
    build(tmp_path, content)
    target = tmp_path / "site/gates/observability/index.html"
    target.write_text("tampered")
    site = build(tmp_path, content)
    assert not site.report.up_to_date
    assert "Observability" in target.read_text()


def test_gift_pages_in_the_output_survive_a_board_build(tmp_path, content):
    build(tmp_path, content)
    gift = tmp_path / "site/gifts/abc/index.html"
    gift.parent.mkdir(parents=True)
    gift.write_text("a gift")
    replace_in(content / "board.md", "launch-gate model", "launch gate model")
    build(tmp_path, content)
    assert gift.read_text() == "a gift"


def test_parallel_rendering_matches_single_process(tmp_path, content):
    lessons = content / "archive" / "lessons"
    for number in range(120):
        (lessons / f"generated-{number:03d}.md").write_text(
            f"---\ntitle: Lesson {number}\ndate: 2026-10-{number % 28 + 1:02d}\n---\n"
            f"Body {number} with a [link](../../board.md) and **bold**.\n"
        )
    build(tmp_path, content, tmp_path / "serial", workers=1)
    build(tmp_path, content, tmp_path / "parallel", workers=2)
    for page in (tmp_path / "serial").rglob("*.html"):
        twin = tmp_path / "parallel" / page.relative_to(tmp_path / "serial")
        assert twin.read_bytes() == page.read_bytes(), page


def test_missing_content_folder_is_a_clear_error(tmp_path, capsys):
    result = run_cli(capsys, "build", "--content", str(tmp_path / "nope"), "--out", str(tmp_path / "site"))
    assert result.code == 1
    assert "content folder not found" in result.err


def test_template_error_names_the_template_line(tmp_path, content, capsys):
    templates = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parent.parent / "templates", templates)
    (templates / "gate.html").write_text("{% extends 'base.html' %}{% block main %}{{ nothing.here }}{% endblock %}")
    result = run_cli(capsys, "build", "--content", str(content), "--out", str(tmp_path / "site"),
                     "--templates", str(templates), "--cache-dir", str(tmp_path / "cache"))
    assert result.code == 1
    assert "gate.html:1:" in result.err and "nothing" in result.err
    assert not (tmp_path / "site").exists()


def test_a_swap_that_fails_puts_the_previous_site_and_its_gifts_back(tmp_path, content, monkeypatch):
    build(tmp_path, content)
    gift = tmp_path / "site/gifts/tok/index.html"
    gift.parent.mkdir(parents=True)
    gift.write_text("a gift")
    before = (tmp_path / "site/index.html").read_bytes()
    replace_in(content / "board.md", "launch-gate model", "launch gate model")
    import builder.site.writer as writer

    real_replace = writer.os.replace

    def failing_replace(source, target):
        if ".staging-" in str(source) and Path(target).name == "site":
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(writer.os, "replace", failing_replace)
    with pytest.raises(OSError):
        build(tmp_path, content)
    assert gift.read_text() == "a gift"
    assert (tmp_path / "site/index.html").read_bytes() == before
