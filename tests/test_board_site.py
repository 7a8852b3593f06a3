"""The built board as a visitor sees it: under a sub-path, in a real browser, valid and accessible."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.site.build import BuildOptions, Site
from tests.board_fixtures import copy_content, replace_in
from tests.support.browser import axe_violations, describe_violations, open_page, screenshot
from tests.support.html_checks import internal_link_errors, validate_html5

BASE_URL = "https://team.github.io/giftboard/"


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("board")
    content = copy_content(root)
    out = root / "site"
    Site(BuildOptions(content=content, out=out, cache_dir=root / "cache", base_url=BASE_URL)).build()
    return out


def test_every_internal_link_resolves_under_a_sub_path(built_site: Path) -> None:
    assert internal_link_errors(built_site, "/giftboard/", site_url=BASE_URL) == []
    assert f"<loc>{BASE_URL}gates/observability/</loc>" in (built_site / "sitemap.xml").read_text()


def test_without_a_base_url_feed_and_sitemap_stay_relative_to_the_site_root(tmp_path: Path) -> None:
    content = copy_content(tmp_path)
    out = tmp_path / "site"
    Site(BuildOptions(content=content, out=out, cache_dir=tmp_path / "cache")).build()
    errors = internal_link_errors(out, "/giftboard/")
    assert [error for error in errors if not error.startswith("404.html")] == []


def test_every_page_is_valid_html5(built_site: Path) -> None:
    assert validate_html5(sorted(built_site.rglob("*.html"))) == []


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_board_renders_in_chromium_without_errors_and_passes_axe(
    built_site: Path, serve_static, chromium, tmp_path: Path, scheme: str
) -> None:
    server = serve_static(built_site, "/giftboard/")
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        for path in ["", "gates/infrastructure-as-code/", "archive/", "archive/decisions/0003-sanitize-with-nh3/",
                     "gates/", "workstreams/", "archive/tags/", "archive/tags/security/", "archive/tasks/"]:
            report = open_page(page, server.url_for(path))
            assert report.problems == [], path
            assert page.locator("main h1").count() == 1
            violations = axe_violations(page)
            assert violations == [], describe_violations(violations)
        page.goto(server.url_for(""))
        shot = screenshot(page, tmp_path, f"board-{scheme}")
        assert shot.stat().st_size > 10_000
        # the stylesheet applied: status badges are styled pills, not default inline text
        radius = page.locator(".badge--complete").first.evaluate("e => getComputedStyle(e).borderRadius")
        assert radius not in ("", "0px")
    finally:
        context.close()


@pytest.mark.browser
def test_board_is_usable_on_a_phone(built_site: Path, serve_static, chromium, tmp_path: Path) -> None:
    server = serve_static(built_site, "/giftboard/")
    context = chromium.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2)
    page = context.new_page()
    try:
        open_page(page, server.url_for(""))
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        screenshot(page, tmp_path, "board-phone")
    finally:
        context.close()


@pytest.mark.browser
def test_readiness_line_and_first_gate_are_on_the_first_screen_of_a_390_px_phone(
        built_site: Path, serve_static, chromium) -> None:
    server = serve_static(built_site, "/giftboard/")
    context = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True)
    page = context.new_page()
    try:
        open_page(page, server.url_for(""))
        line = page.locator("#readiness")
        assert line.is_visible()
        box = line.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
        assert line.inner_text().startswith("1 of 4 gates complete · blocking launch: Infrastructure as Code")
        first_gate = page.locator(".cards--gates .card").first.bounding_box()  # the first gate card, whole
        assert first_gate is not None and first_gate["y"] + first_gate["height"] <= 844, first_gate
        assert page.locator(".cards--gates .card h4").first.inner_text() == "Security Audit"
        violations = axe_violations(page)  # the phone layout moves boxes: it must still pass
        assert violations == [], describe_violations(violations)
    finally:
        context.close()


@pytest.fixture(scope="module")
def readiness_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed with a blocked, overdue gate, owners and due dates, and edit-this-page links."""
    root = tmp_path_factory.mktemp("readiness")
    content = copy_content(root)
    replace_in(content / "gates" / "observability.md", "status: planned",
               "status: blocked\nblocked_reason: Waiting for the metrics vendor contract\nowner: Dana\ndue: 2001-02-03")
    replace_in(content / "gates" / "performance-tuning.md", "order: 4", "order: 4\nowner: Ops team\ndue: 2999-12-31")
    replace_in(content / "site.yaml", "language: en", "language: en\nrepository: acme/giftboard")
    out = root / "site"
    Site(BuildOptions(content=content, out=out, cache_dir=root / "cache", base_url=BASE_URL)).build()
    return out


def test_blocked_and_overdue_pages_are_valid_html5(readiness_site: Path) -> None:
    pages = [readiness_site / path / "index.html" for path in ("", "gates/observability", "gates", "workstreams/ops")]
    assert validate_html5(pages) == []


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_blocked_and_overdue_gates_pass_axe_in_light_and_dark(readiness_site: Path, serve_static, chromium,
                                                               scheme: str) -> None:
    server = serve_static(readiness_site, "/giftboard/")
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        for path in ["", "gates/observability/", "gates/", "workstreams/ops/"]:
            report = open_page(page, server.url_for(path))
            assert report.problems == [], path
            violations = axe_violations(page)
            assert violations == [], f"{path}: " + describe_violations(violations)
        page.goto(server.url_for(""))
        assert page.locator("#readiness").inner_text().startswith(
            "1 of 4 gates complete · blocking launch: Observability (blocked: Waiting for the metrics vendor contract;"
            " Dana, due 2001-02-03, overdue)")
    finally:
        context.close()


@pytest.mark.browser
def test_readiness_line_with_a_blocked_gate_still_fits_the_first_phone_screen(readiness_site: Path, serve_static,
                                                                             chromium) -> None:
    server = serve_static(readiness_site, "/giftboard/")
    context = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True)
    page = context.new_page()
    try:
        open_page(page, server.url_for(""))
        box = page.locator("#readiness").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844, box
    finally:
        context.close()
