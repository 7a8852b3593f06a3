"""Markdown with raw HTML, javascript: links and event handlers never becomes executable markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from builder.markup import Markdown, sanitize
from builder.site.build import BuildOptions, Site
from tests.board_fixtures import copy_content
from tests.support.html_checks import find_executable_markup, without_search_script

ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://example.org"></iframe>',
    "<svg onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<base href='https://evil.example/'>",
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "[x](<javascript:alert(1)>)",
    "<details open ontoggle=alert(1)>",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_markdown_attack_renders_inert(attack: str) -> None:
    html = Markdown().render(f"Before {attack} after\n\n- item {attack}\n")
    assert find_executable_markup(html) == []
    assert not re.search(r"<(script|iframe|svg|base|meta|details)\b", html, re.I)


def test_raw_html_is_shown_as_text_not_dropped() -> None:
    html = Markdown().render("Use <b>bold</b> sparingly")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_sanitizer_keeps_safe_markup_and_drops_handlers() -> None:
    cleaned = sanitize('<p><a href="https://example.org" onclick="x()">ok</a><em>fine</em></p>')
    assert cleaned == '<p><a href="https://example.org">ok</a><em>fine</em></p>'


def test_attacks_in_every_content_field_produce_no_executable_markup_in_the_site(tmp_path: Path) -> None:
    content = copy_content(tmp_path)
    payload = " ".join(ATTACKS[:4])
    lesson = content / "archive/lessons/attack.md"
    lesson.write_text(
        "---\ntitle: \"<script>alert('title')</script>\"\ndate: 2026-11-01\n"
        "summary: '<img src=x onerror=alert(2)>'\n---\n" + payload + "\n"
    )
    board = content / "board.md"
    invariant = "  - Source-to-board automation uses read-only source access."
    attack = '  - "[x](javascript:alert(3)) <script>x</script>"'
    board.write_text(board.read_text().replace(invariant, f"{invariant}\n{attack}"))
    out = tmp_path / "site"
    Site(BuildOptions(content=content, out=out, cache_dir=tmp_path / "cache")).build()
    for page in out.rglob("*.html"):  # the one script allowed is the site's own search enhancement
        assert find_executable_markup(without_search_script(page.read_text())) == [], page
    for feed in ("feed.xml", "sitemap.xml"):
        assert "<script" not in (out / feed).read_text()
