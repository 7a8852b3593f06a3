"""Search in Chromium: Pagefind's index from the installed binary, found words, progressive enhancement, and gift
pages that are never indexed and never load it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.fernet import Fernet

from builder.cli import main
from builder.site.search import find_pagefind
from tests.board_fixtures import REPO, copy_content
from tests.support import missing_tool
from tests.support.browser import StaticServer, axe_violations, describe_violations, new_page, open_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

GIFT_WORD = "Porthleven"  # only in the gift's public message below, nowhere on the board


@pytest.fixture
def board_with_a_gift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """The seed board built with its search index, plus one published gift page in the same output."""
    if find_pagefind() is None:
        missing_tool("Pagefind is not installed (run npm ci)")
    content = copy_content(tmp_path)
    out, ledger = tmp_path / "site", tmp_path / "ledger"
    monkeypatch.setenv("GIFT_ENVELOPE_KEY", Fernet.generate_key().decode())
    order = json.loads((REPO / "examples/order-maya.json").read_text(encoding="utf-8"))
    order["public_message"] = f"Happy birthday, Maya! Here's to sea swims in {GIFT_WORD}."
    (tmp_path / "order.json").write_text(json.dumps(order), encoding="utf-8")
    assert main(["gift", "submit", str(tmp_path / "order.json"), "--ledger", str(ledger)]) == 0
    assert main(["gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out)]) == 0
    args = ["build", "--content", str(content), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--ledger", str(ledger)]
    assert main(args) == 0
    # and once more after an edit: a rebuild with gift pages already in the output still leaves them out
    (content / "gates/performance-tuning.md").write_text(
        (content / "gates/performance-tuning.md").read_text(encoding="utf-8") + "\nMeasured twice.\n", encoding="utf-8")
    assert main(args) == 0
    capsys.readouterr()
    assert (out / "pagefind" / "pagefind.js").is_file()
    assert list((out / "gifts").glob("*/index.html"))
    return out


def search(page: Page, query: str) -> list[tuple[str, str]]:
    """Type `query` into the search box; the (title, href) of each result once they show."""
    box = page.get_by_role("searchbox", name="Search the board")
    box.fill(query)
    page.locator("#site-search-results .site-search__status").filter(has_text=query).wait_for(timeout=30000)
    links = page.locator("#site-search-results li > a")
    return [(links.nth(i).inner_text(), links.nth(i).get_attribute("href") or "") for i in range(links.count())]


def test_search_finds_a_gate_by_a_word_of_its_description(
        board_with_a_gift: Path, serve_static: Callable[..., StaticServer], chromium: Browser) -> None:
    server = serve_static(board_with_a_gift, "/giftboard/")  # under a sub-path, as on GitHub Pages
    with new_page(chromium, viewport={"width": 1280, "height": 900}) as page:
        report = open_page(page, server.url_for("archive/"))
        assert report.problems == [], report.problems
        found = search(page, "auditability")  # a word of the Observability gate's description
        assert ("Observability", "/giftboard/gates/observability/") in found, found
        page.locator("#site-search-results li > a", has_text="Observability").first.click()
        page.wait_for_url(server.url_for("gates/observability/"))
        assert search(page, "nh3") != []  # archive entries are found too
        assert search(page, "zzzqqq") == []
        assert page.locator("#site-search-results").inner_text().startswith("No results for")


def test_gift_pages_are_never_indexed_and_never_load_search(
        board_with_a_gift: Path, serve_static: Callable[..., StaticServer], chromium: Browser) -> None:
    gift = next((board_with_a_gift / "gifts").glob("*/index.html"))
    html = gift.read_text(encoding="utf-8")
    assert GIFT_WORD in html
    assert "pagefind" not in html.lower() and "search.js" not in html
    assert not re.search(r"<script(?![^>]*application/ld\+json)", html)  # data (JSON-LD) only, no code
    server = serve_static(board_with_a_gift)
    with new_page(chromium, viewport={"width": 1280, "height": 900}) as page:
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        open_page(page, server.url_for(str(gift.parent.relative_to(board_with_a_gift)) + "/"))
        assert not [url for url in requests if "pagefind" in url or "search.js" in url], requests
        open_page(page, server.url_for(""))
        assert search(page, GIFT_WORD) == []
        assert not [href for _title, href in search(page, "Maya") if "/gifts/" in href]


def test_the_board_works_without_javascript_and_offers_search_with_it(
        board_with_a_gift: Path, serve_static: Callable[..., StaticServer], chromium: Browser) -> None:
    server = serve_static(board_with_a_gift)
    with new_page(chromium, viewport={"width": 1280, "height": 900}, java_script_enabled=False) as page:
        report = open_page(page, server.url_for(""))
        assert report.problems == [], report.problems
        assert page.get_by_role("searchbox").count() == 0  # hidden: no box that cannot work
        assert page.locator("main").get_by_role("link", name="Observability").first.is_visible()
        page.locator("main").get_by_role("link", name="Observability").first.click()
        assert page.locator("main h1").inner_text() == "Observability"
    for scheme in ("light", "dark"):
        with new_page(chromium, viewport={"width": 1280, "height": 900}, color_scheme=scheme) as page:
            open_page(page, server.url_for(""))
            assert page.get_by_role("searchbox", name="Search the board").is_visible()
            assert search(page, "observability")
            violations = axe_violations(page)  # with the results open
            assert violations == [], f"{scheme}: {describe_violations(violations)}"


def test_a_build_without_search_offers_no_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = copy_content(tmp_path)
    out = tmp_path / "site"
    assert main(["build", "--content", str(content), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--no-search"]) == 0
    assert not (out / "pagefind").exists()
    board = (out / "index.html").read_text(encoding="utf-8")
    assert "site-search" not in board and "search.js" not in board
