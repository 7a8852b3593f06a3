"""The gift page: escaped plain text, a strict CSP with a hashed stylesheet, honest disclosure, small and valid."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from builder.errors import BuildError, ConfigError
from builder.gifts.content_credentials import C2paSettings
from builder.gifts.contracts import CoverArt, GiftPage, Lyrics, PublicGift, Style
from builder.gifts.disclosure import COMPOSITE_WITH_TRAINED
from builder.gifts.media import prepare_media
from builder.gifts.page import json_ld, render_gift_page, render_removed_page
from builder.gifts.publisher import LocalPublisher, new_gift_token
from builder.settings import load_settings
from tests.support.browser import StaticServer, axe_violations, describe_violations, new_page, open_page, screenshot
from tests.support.html_checks import find_executable_markup, validate_html5
from tests.test_media import _artwork, _clip, _png

if TYPE_CHECKING:
    from playwright.sync_api import Browser

FIRST_VIEW_BUDGET = 14 * 1024
GENERATED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LYRICS = """[Verse 1]
The kettle sings, the morning's gold
Another year of stories told

[Chorus]
So here's to you, here's to you
Every song we ever knew

[Verse 2]
We danced across the kitchen floor
And there is always room for more"""
XSS_NAME = '<img src=x onerror="alert(1)">'
XSS_FROM = '"><script>alert(2)</script>'
XSS_MESSAGE = ("Happy birthday!</p><script>alert(3)</script><a href=\"javascript:alert(4)\">x</a>"
               "<svg onload=alert(5)><iframe srcdoc='<script>alert(6)</script>'></iframe>")

_MEDIA_CACHE: dict[tuple[bool, bool], object] = {}


def make_page(*, recipient: str = "Maya", sender: str = "Jon", message: str = "Happy birthday, Maya!\nLove, Jon",
              lyrics: Lyrics | None = None, photo: bool = False, signed: bool = False,
              c2pa: C2paSettings | None = None, token: str = "tok_test_0123456789abcdef",  # noqa: S107
              ) -> GiftPage:
    """A gift page with real media (built once per kind and reused: media is not what these tests check)."""
    key = (photo, signed)
    if key not in _MEDIA_CACHE or c2pa is not None:
        settings = c2pa or C2paSettings.off("no signing chain in this test")
        _MEDIA_CACHE[key] = prepare_media(art=CoverArt(_png(_artwork((1024, 1024))), "offline"), audio=_clip(),
                                          photo=_png(_artwork((900, 700))) if photo else None, c2pa=settings)
    media = _MEDIA_CACHE[key]
    public = PublicGift(recipient_display_name=recipient, from_display_name=sender, occasion="birthday",
                        style=Style("folk", "warm", "medium"), public_message=message, has_cover_photo=photo)
    return GiftPage(
        token=token, public=public, lyrics=lyrics or Lyrics("Here's to You", LYRICS, "offline", ""),
        audio=media.audio, cover=media.cover, cover_fallback=media.cover_fallback,  # type: ignore[attr-defined]
        social=media.social, generated_at=GENERATED_AT,  # type: ignore[attr-defined]
        providers={"lyrics": "chat-completions", "audio": "predictions", "cover": "offline"},
        extra_files=list(media.extra_files),  # type: ignore[attr-defined]
    )


class _Head(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.metas: list[dict[str, str]] = []
        self.title = ""
        self._in: str | None = None
        self.styles: list[str] = []
        self.scripts: list[tuple[str, str]] = []
        self._script_type = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "meta":
            self.metas.append(values)
        elif tag in {"title", "style", "script"}:
            self._in, self._script_type = tag, values.get("type", "")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append((self._script_type, data))

    def meta(self, key: str, value: str) -> str:
        return next(m["content"] for m in self.metas if m.get(key) == value)


def head_of(html: str) -> _Head:
    parser = _Head()
    parser.feed(html)
    return parser


# --- escaping -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("photo", [False, True], ids=["cover-art", "photo-cover"])
def test_xss_in_names_and_public_message_is_shown_as_text_never_run(photo: bool) -> None:
    html = render_gift_page(make_page(recipient=XSS_NAME, sender=XSS_FROM, message=XSS_MESSAGE, photo=photo))
    assert find_executable_markup(html) == []
    assert html.count("<script") == 1  # the JSON-LD data block only
    assert "A song for &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "<iframe" not in html and "<svg" not in html


def test_json_ld_cannot_close_its_script_element() -> None:
    title = "</script><script>alert(1)</script><!-- & -->"
    page = make_page(lyrics=Lyrics(title, LYRICS, "offline", ""))
    html = render_gift_page(page)
    (kind, block), = head_of(html).scripts
    assert kind == "application/ld+json"
    assert not re.search("[<>&]", block)
    data = json.loads(block)
    assert data["name"] == title and data["@type"] == "MusicRecording"
    assert data["digitalSourceType"] == COMPOSITE_WITH_TRAINED  # model lyrics and music, procedural cover art
    assert json.loads(json_ld(page)) == data


def test_lyrics_keep_their_line_breaks_and_stanzas() -> None:
    html = render_gift_page(make_page())
    assert "The kettle sings, the morning&#39;s gold<br>Another year of stories told" in html
    assert '<span class="part">Chorus</span>' in html
    assert html.count('<span class="part">') == 3


# --- head: CSP, privacy, social -----------------------------------------------------------------------------------


def test_csp_allows_the_inline_stylesheet_by_its_hash_and_nothing_else() -> None:
    html = render_gift_page(make_page())
    head = head_of(html)
    csp = head.meta("http-equiv", "Content-Security-Policy")
    (style,) = head.styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == f"'sha256-{digest}'"
    assert directives["img-src"] == directives["media-src"] == "'self'"
    assert "unsafe-inline" not in csp and "script-src" not in csp


def test_page_is_noindex_no_referrer_and_its_social_tags_carry_no_names() -> None:
    html = render_gift_page(make_page(recipient="Maya", sender="Jonathan"))
    head = head_of(html)
    assert "noindex" in head.meta("name", "robots")
    assert head.meta("name", "referrer") == "no-referrer"
    assert head.meta("property", "og:image") == "social.jpg"
    for text in [head.title, *(m.get("content", "") for m in head.metas)]:
        assert "Maya" not in text and "Jonathan" not in text


def test_og_image_is_absolute_with_a_public_base_url() -> None:
    page = make_page()
    html = render_gift_page(page, public_base_url="https://gifts.example.org/")
    head = head_of(html)
    assert head.meta("property", "og:image") == f"https://gifts.example.org/gifts/{page.token}/social.jpg"
    assert head.meta("property", "og:url") == f"https://gifts.example.org/gifts/{page.token}/"


def test_public_base_url_comes_from_the_environment_and_must_be_a_url() -> None:
    base_url = load_settings({"GIFT_GIFTS_BASE_URL": "https://owner.github.io/gifts"}).gifts_base_url
    page = make_page()
    assert (f'content="https://owner.github.io/gifts/gifts/{page.token}/social.jpg"'
            in render_gift_page(page, public_base_url=base_url))
    with pytest.raises(ConfigError, match="GIFT_GIFTS_BASE_URL"):
        load_settings({"GIFT_GIFTS_BASE_URL": 'javascript:alert(1)//"'})
    with pytest.raises(BuildError, match="GIFT_GIFTS_BASE_URL"):
        render_gift_page(page, public_base_url='javascript:alert(1)//"')


def test_audio_player_shows_its_length_before_play_offers_a_download_and_media_names_are_generic() -> None:
    html = render_gift_page(make_page())
    assert re.search(r'<audio controls preload="metadata"[^>]* src="song.mp3"', html)  # length, not the song
    assert '<time datetime="PT1S">0:01</time> · Warm folk' in html  # and the known length in the markup
    assert re.search(r'<a href="song.mp3" download="song.mp3">Download the song</a> \(MP3, \d+ KB\)', html)
    assert set(re.findall(r'(?:src|srcset|href)="([^"]+)"', html)) >= {"song.mp3", "cover.jpg"}
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert "://" not in url, f"third-party request: {url}"


# --- disclosure ---------------------------------------------------------------------------------------------------


def test_disclosure_says_what_was_generated_by_which_kind_of_provider_and_when() -> None:
    html = render_gift_page(make_page())
    assert ("The lyrics and music were generated by AI; the cover art was made by a procedural generator, on "
            '<time datetime="2026-11-25T12:00:00Z">25 November 2026 at 12:00 UTC</time>') in html
    assert "<dt>Lyrics</dt>\n<dd>Generated by AI: a large language model (Chat Completions API)</dd>" in html
    assert "<dt>Music</dt>\n<dd>Generated by AI: a music generation model (predictions API)</dd>" in html
    assert ("<dt>Cover art</dt>\n<dd>Made by a procedural generator: Giftboard&#39;s built-in generator "
            "(procedural, no AI model, runs offline)</dd>") in html
    assert '<span class="badge">Made with AI</span>' in html


def test_disclosure_reports_missing_content_credentials() -> None:
    unsigned = render_gift_page(make_page())
    assert "signed Content Credentials (C2PA) are not attached" in unsigned


def test_disclosure_reports_attached_content_credentials(tmp_path: Path) -> None:
    from builder.gifts.dev_certificates import ensure_dev_chain

    chain, key = ensure_dev_chain(tmp_path / "c2pa")
    settings = C2paSettings(enabled=True, source="development", chain_pem=chain, key_pem=key)
    html = render_gift_page(make_page(signed=True, c2pa=settings))
    assert "carry signed Content Credentials (C2PA)" in html


def test_a_buyers_photo_is_not_called_ai_generated() -> None:
    html = render_gift_page(make_page(photo=True))
    assert "The lyrics and music were generated by AI, on" in html
    assert "<dt>Cover</dt>\n<dd>A photo chosen by Jon (not generated)" in html
    assert 'alt="A photo chosen by Jon"' in html


# --- size ---------------------------------------------------------------------------------------------------------


def test_page_html_and_css_fit_in_14_kb() -> None:
    html = render_gift_page(make_page(message="Happy birthday! " * 31))
    size = len(html.encode("utf-8"))
    assert size <= FIRST_VIEW_BUDGET, f"the gift page is {size} bytes of HTML+CSS, over {FIRST_VIEW_BUDGET}"


def test_first_view_fits_in_14_kb_even_with_the_longest_allowed_text() -> None:
    """Longest names (60), title (120) and message (500), all characters that escaping expands; the first
    view (head, inline CSS and the header with cover, title and player) must still fit one round trip."""
    worst_name = "'&\"<>" * 12
    worst_lyrics = Lyrics("'<&>\"" * 24, ("I'm 'here' & <there>\n" * 290)[:6000], "chat-completions", "m" * 60)
    html = render_gift_page(make_page(recipient=worst_name, sender=worst_name, message="'" * 500, lyrics=worst_lyrics))
    first_view = html[: html.index("</header>") + len("</header>")].encode("utf-8")
    assert len(first_view) <= FIRST_VIEW_BUDGET, f"first view is {len(first_view)} bytes"


# --- real checkers: vnu, axe-core in Chromium ---------------------------------------------------------------------


def publish(site: Path, page: GiftPage) -> Path:
    files = {"index.html": render_gift_page(page).encode()}
    for media_file in (page.cover, page.cover_fallback, page.social, page.audio, *page.extra_files):
        if media_file is not None:
            files[media_file.name] = media_file.data
    LocalPublisher(site).publish(page.token, files)
    return site / "gifts" / page.token / "index.html"


def test_gift_page_removed_page_and_gifts_folder_page_validate_as_html5(tmp_path: Path) -> None:
    page = make_page(recipient=XSS_NAME, sender=XSS_FROM, message=XSS_MESSAGE, token=new_gift_token())
    index = publish(tmp_path / "site", page)
    removed = tmp_path / "removed.html"
    removed.write_text(render_removed_page(), encoding="utf-8")
    folder_page = tmp_path / "site" / "gifts" / "index.html"  # written by the publisher: no listing of tokens
    assert "Nothing to see here" in folder_page.read_text()
    assert validate_html5([index, removed, folder_page]) == []


def test_removed_page_has_the_same_privacy_rules() -> None:
    html = render_removed_page()
    head = head_of(html)
    assert "noindex" in head.meta("name", "robots") and head.meta("name", "referrer") == "no-referrer"
    (style,) = head.styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in head.meta("http-equiv", "Content-Security-Policy")
    assert find_executable_markup(html) == [] and "This gift was removed" in html


@pytest.mark.browser
@pytest.mark.parametrize(
    ("scheme", "viewport"),
    [("light", {"width": 1280, "height": 800}), ("dark", {"width": 1280, "height": 800}),
     ("light", {"width": 390, "height": 844})],
    ids=["light-desktop", "dark-desktop", "light-phone"],
)
def test_gift_page_passes_axe_in_chromium_with_its_csp_and_no_third_party_requests(
    tmp_path: Path, chromium: Browser, serve_static: Callable[..., StaticServer], scheme: str,
    viewport: dict[str, int],
) -> None:
    page = make_page(recipient=XSS_NAME, sender="Jon", message=XSS_MESSAGE, photo=scheme == "dark",
                     token=new_gift_token())
    site = tmp_path / "site"
    publish(site, page)
    server = serve_static(site, "/gifts-site/")
    requests: list[str] = []
    with new_page(chromium, viewport=viewport, color_scheme=scheme) as tab:
        tab.on("request", lambda request: requests.append(request.url))
        report = open_page(tab, server.url_for(f"gifts/{page.token}/"))
        shot = screenshot(tab, tmp_path, f"gift-{scheme}-{viewport['width']}")
        assert report.problems == [], report.problems  # a CSP violation is a console error
        background = tab.evaluate("getComputedStyle(document.querySelector('section')).borderRadius")
        assert background == "20px", "the inline stylesheet did not apply (blocked by the CSP?)"
        assert tab.evaluate("document.querySelector('.cover img').complete && "
                            "document.querySelector('.cover img').naturalWidth > 0")
        assert tab.evaluate("window.__xss === undefined && document.querySelectorAll('script').length === 1")
    with new_page(chromium, viewport=viewport, color_scheme=scheme, bypass_csp=True) as tab:
        open_page(tab, server.url_for(f"gifts/{page.token}/"))  # our CSP would block axe's injected script
        violations = axe_violations(tab)
        assert violations == [], describe_violations(violations)
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert all(url.startswith(server.origin) for url in requests), requests


@pytest.mark.browser
def test_removed_page_passes_axe_in_chromium(tmp_path: Path, chromium: Browser,
                                             serve_static: Callable[..., StaticServer]) -> None:
    site = tmp_path / "site"
    page = make_page(token=new_gift_token())
    publish(site, page)
    LocalPublisher(site).takedown(page.token)
    server = serve_static(site)
    with new_page(chromium, viewport={"width": 800, "height": 600}) as tab:
        report = open_page(tab, server.url_for(f"gifts/{page.token}/"))
        screenshot(tab, tmp_path, "removed")
        assert report.problems == []
        assert tab.inner_text("h1") == "This gift was removed"
    with new_page(chromium, viewport={"width": 800, "height": 600}, bypass_csp=True) as tab:
        open_page(tab, server.url_for(f"gifts/{page.token}/"))
        violations = axe_violations(tab)
        assert violations == [], describe_violations(violations)

