"""The shared test tools do what other tests rely on: serve, browse, validate, find script and broken links."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import missing_tool
from tests.support.browser import (
    StaticServer,
    axe_violations,
    describe_violations,
    open_page,
    screenshot,
    serve_directory,
)
from tests.support.html_checks import find_executable_markup, internal_link_errors, validate_html5

if TYPE_CHECKING:
    from playwright.sync_api import Page

GOOD_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title><link rel="stylesheet" href="{css}"></head>
<body><main><h1>{title}</h1>{body}</main></body>
</html>
"""


def page(title: str, body: str = "", css: str = "../../style.css") -> str:
    return GOOD_PAGE.format(title=title, body=body, css=css)


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write(site, "index.html", page("Board", '<p><a href="gates/observability/">Observability</a></p>', "style.css"))
    write(site, "gates/observability/index.html", page("Observability", '<h2 id="evidence">Evidence</h2>'))
    write(site, "style.css", "body { font-family: sans-serif; }\n")
    write(site, "404.html", page("Not found", "<p>No such page on this board.</p>", "/repo/style.css"))
    return site


def get(server: StaticServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One raw request, redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# --- static server -------------------------------------------------------------------------------------------------


def test_static_server_serves_pretty_urls_under_the_sub_path(small_site: Path) -> None:
    with serve_directory(small_site, "/repo/") as server:
        assert server.url == f"http://127.0.0.1:{server.port}/repo/"
        status, headers, body = get(server, "/repo/gates/observability/")
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<h1>Observability</h1>" in body
        assert get(server, "/repo/")[2].startswith(b"<!doctype html>")
        assert get(server, "/repo/style.css")[1]["Content-Type"] == "text/css; charset=utf-8"


def test_static_server_redirects_a_folder_without_its_slash_like_github_pages(small_site: Path) -> None:
    with serve_directory(small_site, "repo") as server:
        status, headers, _ = get(server, "/repo/gates/observability")
        assert (status, headers["Location"]) == (301, "/repo/gates/observability/")
        status, headers, _ = get(server, "/repo")
        assert (status, headers["Location"]) == (301, "/repo/")


def test_static_server_answers_unknown_paths_with_the_sites_404_page(small_site: Path) -> None:
    with serve_directory(small_site, "/repo/") as server:
        status, _, body = get(server, "/repo/gates/missing/")
        assert status == 404
        assert b"No such page on this board." in body
        status, _, body = get(server, "/style.css")  # outside the sub-path: not this site at all
        assert status == 404
        assert b"No such page" not in body


def test_static_server_never_serves_files_outside_its_folder(small_site: Path) -> None:
    (small_site.parent / "secret.txt").write_text("private", encoding="utf-8")
    with serve_directory(small_site, "/repo/") as server:
        for path in ("/repo/../secret.txt", "/repo/%2e%2e/secret.txt", "/repo/gates/../../secret.txt"):
            status, _, body = get(server, path)
            assert status == 404, path
            assert b"private" not in body


def test_static_server_answers_head_without_a_body_and_logs_requests(small_site: Path) -> None:
    with serve_directory(small_site) as server:
        status, headers, body = get(server, "/index.html", method="HEAD")
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) == (small_site / "index.html").stat().st_size
        assert server.log == [("HEAD", "/index.html", 200)]


def test_serve_static_fixture_stops_its_servers_after_the_test(
    serve_static: Callable[..., StaticServer], small_site: Path
) -> None:
    first = serve_static(small_site, "/a/")
    second = serve_static(small_site)
    assert get(first, "/a/")[0] == 200
    assert get(second, "/")[0] == 200
    assert first.port != second.port


# --- executable markup ---------------------------------------------------------------------------------------------

SAFE_MARKUP = """<!doctype html><html lang="en"><head><title>t</title>
<script type="application/ld+json">{"@context": "https://schema.org"}</script>
<meta http-equiv="content-security-policy" content="default-src 'none'">
</head><body>
<a href="https://example.org/" title="onclick is fine in text">one</a>
<a href="gates/observability/#evidence">two</a><img src="data:image/png;base64,AAAA" alt="">
<img src="cover.svg" alt=""><p>javascript: is only text here; onload=alert(1)</p>
<svg><a href="#x"><text>ok</text></a></svg>
</body></html>"""


def test_safe_markup_has_no_findings() -> None:
    assert find_executable_markup(SAFE_MARKUP) == []


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        "<script src='x.js'></script>",
        "<SCRIPT type='module'>alert(1)</SCRIPT>",
        "<svg><script>alert(1)</script></svg>",
        "<img src=x onerror=alert(1)>",
        "<body onload='alert(1)'>",
        "<div ONMOUSEOVER='alert(1)'>x</div>",
        "<a href='javascript:alert(1)'>x</a>",
        "<a href=' \tJaVa\nScRiPt:alert(1)'>x</a>",
        "<a href='&#106;avascript:alert(1)'>x</a>",
        "<a href='&#x6A;&#x61;vascript&colon;alert(1)'>x</a>",
        "<a href='vbscript:msgbox(1)'>x</a>",
        "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
        "<a href='data:image/svg+xml;base64,PHN2Zz4='>x</a>",
        "<form action='javascript:alert(1)'><button>x</button></form>",
        "<button formaction='javascript:alert(1)'>x</button>",
        "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
        "<svg><animate attributeName='href' values='javascript:alert(1)'/></svg>",
        "<iframe src='https://example.org/'></iframe>",
        "<iframe srcdoc='&lt;p&gt;hi'></iframe>",
        "<object data='x.swf'></object>",
        "<embed src='x.swf'>",
        "<base href='https://evil.example/'>",
        "<meta http-equiv='Refresh' content='0; url=https://evil.example/'>",
    ],
)
def test_each_executable_vector_is_reported(markup: str) -> None:
    findings = find_executable_markup(f"<p>before</p>\n{markup}\n<p>after</p>")
    assert findings, markup
    assert all(finding.startswith("line 2: ") for finding in findings), findings


# --- internal links ------------------------------------------------------------------------------------------------


def test_a_consistent_site_has_no_broken_links(small_site: Path) -> None:
    write(small_site, "gates/observability/index.html", page("Obs", '<h2 id="evidence">E</h2><a href="../../">Up</a>'))
    write(small_site, "feed.xml", '<feed xmlns="http://www.w3.org/2005/Atom"><link href="index.html"/></feed>')
    write(
        small_site,
        "sitemap.xml",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://o.github.io/repo/gates/observability/</loc></url></urlset>",
    )
    assert internal_link_errors(small_site, "/repo/", site_url="https://o.github.io/repo/") == []


def test_broken_links_are_reported_with_page_line_and_reason(small_site: Path) -> None:
    body = "\n".join(
        [
            '<a href="gates/observability/#evidence">fine</a>',
            '<a href="/repo/gates/observability/">fine, absolute under the base path</a>',
            '<a href="https://example.org/missing/">external: not checked</a>',
            '<a href="mailto:team@example.org">mail</a>',
            '<a href="gates/missing/">no such page</a>',
            '<a href="gates/observability/#nope">no such fragment</a>',
            '<a href="/gates/observability/">escapes the sub-path</a>',
            '<a href="#top">top</a><a href="#main-missing">no such local fragment</a>',
            '<img src="cover%20art.png" alt="" srcset="cover%20art.png 1x, big.png 2x">',
        ]
    )
    write(small_site, "index.html", GOOD_PAGE.format(title="Board", body=body, css="style.css"))
    write(small_site, "cover art.png", "png")
    errors = internal_link_errors(small_site, "/repo/")
    assert errors == [
        "index.html:8: broken link → gates/missing/ (no such file)",
        "index.html:9: broken link → gates/observability/#nope (no element with id 'nope' in "
        "gates/observability/index.html)",
        "index.html:10: broken link → /gates/observability/ (outside the site's base path /repo/)",
        "index.html:11: broken link → #main-missing (no element with id 'main-missing' in index.html)",
        "index.html:12: broken link → big.png (no such file)",
    ]


def test_sitemap_and_feed_links_are_checked(small_site: Path) -> None:
    write(
        small_site,
        "sitemap.xml",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://o.github.io/repo/</loc></url><url><loc>https://o.github.io/repo/gone/</loc></url></urlset>",
    )
    write(small_site, "feed.xml", '<feed xmlns="http://www.w3.org/2005/Atom"><link href="archive/"/></feed>')
    assert internal_link_errors(small_site, "/repo/", site_url="https://o.github.io/repo") == [
        "feed.xml: broken link → archive/ (no such file)",
        "sitemap.xml: broken link → https://o.github.io/repo/gone/ (no such file)",
    ]


# --- HTML5 validation ----------------------------------------------------------------------------------------------


def test_validate_html5_reports_file_and_line_for_invalid_pages_only(tmp_path: Path) -> None:
    good = write(tmp_path, "good.html", page("Good", "<p>fine</p>"))
    bad = write(tmp_path, "bad.html", page("Bad", '<p id="a">one</p>\n<p id="a">two</p>'))
    errors = validate_html5([good, bad])
    assert errors, "a duplicate id must be an error"
    assert all(error.startswith(f"{bad.resolve()}:") for error in errors), errors
    assert any("Duplicate ID" in error for error in errors), errors
    assert validate_html5([]) == []


def test_validate_html5_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.html"):
        validate_html5([tmp_path / "nope.html"])


# --- missing tools -------------------------------------------------------------------------------------------------


def test_a_missing_tool_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no such tool"):
        missing_tool("no such tool")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no such tool"):
        missing_tool("no such tool")


# --- browser -------------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_browser_reports_a_clean_page_under_a_sub_path(
    browser_page: Page, serve_static: Callable[..., StaticServer], small_site: Path, tmp_path: Path
) -> None:
    server = serve_static(small_site, "/repo/")
    report = open_page(browser_page, server.url_for("gates/observability/"))
    assert report.problems == []
    assert report.status == 200
    assert browser_page.title() == "Observability"
    shot = screenshot(browser_page, tmp_path / "shots", "observability")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.browser
def test_browser_collects_console_errors_page_errors_and_failed_requests(
    browser_page: Page, serve_static: Callable[..., StaticServer], small_site: Path
) -> None:
    body = '<img src="missing.png" alt="x"><script>console.error("boom"); undefinedFunction();</script>'
    write(small_site, "broken/index.html", page("Broken", body, "../style.css"))
    server = serve_static(small_site, "/repo/")
    report = open_page(browser_page, server.url_for("broken/"))
    assert any("boom" in line for line in report.console_errors), report
    assert any("undefinedFunction" in line for line in report.page_errors), report
    assert any(line.startswith("404 GET ") and line.endswith("/broken/missing.png") for line in report.failed_requests)
    missing = open_page(browser_page, server.url_for("nowhere/"))
    assert missing.status == 404
    assert any("answered 404, expected 200" in line for line in missing.problems)
    assert open_page(browser_page, server.url_for("nowhere/"), expect_status=404).problems == []


@pytest.mark.browser
def test_axe_finds_wcag_violations_and_passes_an_accessible_page(
    browser_page: Page, serve_static: Callable[..., StaticServer], small_site: Path
) -> None:
    write(small_site, "bad/index.html", '<!doctype html><html><title>x</title><img src="../style.css"></html>')
    server = serve_static(small_site, "/repo/")
    open_page(browser_page, server.url_for("bad/"))
    ids = {violation["id"] for violation in axe_violations(browser_page)}
    assert {"html-has-lang", "image-alt"} <= ids
    open_page(browser_page, server.url_for("gates/observability/"))
    assert axe_violations(browser_page) == []


def test_describe_violations_names_rule_node_and_fix() -> None:
    violation = {
        "id": "image-alt",
        "impact": "critical",
        "help": "Images must have alternative text",
        "nodes": [{"target": ["main > img"], "failureSummary": "Fix any of the following:\n  Element has no alt"}],
    }
    assert describe_violations([violation]) == (
        "image-alt (critical): Images must have alternative text\n    main > img: Element has no alt"
    )


def test_a_malformed_feed_is_an_error_not_a_crash(small_site: Path) -> None:
    write(small_site, "feed.xml", "<feed><entry></feed>")
    (error,) = internal_link_errors(small_site, "/repo/")
    assert error.startswith("feed.xml: not well-formed XML (mismatched tag: line 1")
