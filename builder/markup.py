"""Markdown → safe HTML: comrak (raw HTML shown as text) and the one nh3 sanitizer policy.

Every HTML fragment that reaches a template comes out of `sanitize`; plain text never does (templates
escape it).

The engine is comrak (Rust, CommonMark + GFM) through its Python binding's public API, one render a fragment. Its
options do what the board needs natively: `escape` shows raw HTML as text, the table, strikethrough and tasklist
extensions (with the task-list classes), ids on headings (`header_id_prefix`), and a `link_url_rewriter` callback
that makes every link relative to the page and checks it. The callback does not say where the link is, so a broken
link is located in the source text (see `LinkContext.rewriter`). `tests/test_markup_engine.py` compares the output
with the markdown-it-py pipeline the site used before and lists every difference.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import comrak
import nh3
from markupsafe import Markup

from builder.errors import Diagnostic
from builder.urls import join_content_path, normalise_site_url, relative_url

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "input", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "class"},
    "a": {"href", "title", "aria-label"},  # aria-label: the name of a heading's permalink (it has no text)
    "abbr": {"title"},
    "span": {"title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    "input": {"type", "checked", "disabled"},
}
SANITIZER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel=None,
    strip_comments=True,
)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def sanitize(html: str) -> Markup:
    """The project's single HTML sanitizer policy."""
    return Markup(SANITIZER.clean(html))  # noqa: S704 - this is the sanitizer


@dataclass
class LinkContext:
    """Where a fragment is rendered and which pages exist, for rewriting and checking links."""

    page_url: str
    source: str  # content-relative path of the Markdown file ("" when not from a file)
    display_path: str
    first_line: int
    urls_by_source: dict[str, str]
    known_urls: frozenset[str]
    problems: list[Diagnostic] = field(default_factory=list)

    def rewriter(self, text: str) -> Callable[[str], str]:
        """The engine's link callback for one render of `text`: the rewritten href of each link, in document
        order; a link to no page keeps its href and is recorded as a problem at its line."""
        cursor = 0

        def rewrite(href: str) -> str:
            nonlocal cursor
            if EXTERNAL.match(href) or href.startswith(("#", "//")):
                return href  # never broken, never rewritten: no need to find it
            at = find_destination(text, href, cursor)
            if at != -1:
                cursor = at + len(href)
            resolved = self.resolve(href)
            if resolved is not None:
                return resolved
            if at == -1:
                at = find_destination(text, href, 0)
            line = self.first_line + (text.count("\n", 0, at) if at != -1 else 0)
            self.problems.append(self.broken(href, line))
            return href

        return rewrite

    def resolve(self, href: str) -> str | None:
        """The rewritten href, or None when it points at a page that does not exist."""
        if href.startswith("#") or EXTERNAL.match(href) or href.startswith("//"):
            return href
        path, _, fragment = href.partition("#")
        suffix = f"#{fragment}" if fragment else ""
        if path.endswith(".md"):
            target = self.urls_by_source.get(join_content_path(self.source, path))
        else:
            url = path if path.startswith("/") else posixpath.join(self.page_url, path)
            target = normalise_site_url(posixpath.normpath(url) + ("/" if path.endswith("/") else ""))
            if target == ".":
                target = ""
            if target not in self.known_urls:
                target = None
        if target is None:
            return None
        return relative_url(self.page_url, target) + suffix

    def broken(self, href: str, line: int) -> Diagnostic:
        """The error for a link to a page that does not exist, naming the closest page that does."""
        path = href.partition("#")[0]
        if path.endswith(".md"):
            wanted = join_content_path(self.source, path)
            closest = difflib.get_close_matches(wanted, list(self.urls_by_source), n=1, cutoff=0.6)
            base = posixpath.dirname(self.source) or "."
            hint = [f"/{match}" if path.startswith("/") else posixpath.relpath(match, base) for match in closest]
        else:
            wanted = normalise_site_url(path if path.startswith("/") else posixpath.join(self.page_url, path))
            closest = difflib.get_close_matches(wanted, [url for url in self.known_urls if url], n=1, cutoff=0.6)
            hint = [f"/{match}" for match in closest]
        fix = f"did you mean '{hint[0]}'?" if hint else "link to a .md file or a site path"
        return Diagnostic(self.display_path, line, f"broken link '{href}': no page there ({fix})")


# -- the engine: comrak through its public API ---------------------------------------------------------------
def _extension_options() -> comrak.ExtensionOptions:
    options = comrak.ExtensionOptions()
    options.table = True
    options.strikethrough = True
    options.tasklist = True
    options.header_id_prefix = ""  # ids on headings, GitHub's slugs ("plan", "plan-1", …)
    return options


PARSE = comrak.ParseOptions()
RENDER = comrak.RenderOptions()
RENDER.escape = True  # raw HTML is shown as text, never markup
RENDER.tasklist_classes = True  # task-list-item / contains-task-list / task-list-item-checkbox
PLAIN = _extension_options()  # no link callback: fragments rendered without a page (inline fields, previews)
INLINE_PARAGRAPH = ("<p>", "</p>\n")


def engine_html(text: str, links: Callable[[str], str] | None = None) -> str:
    """comrak's HTML for `text`; `links` is called with every link's URL and returns the href to write."""
    if links is None:
        return comrak.render_markdown(text, extension_options=PLAIN, parse_options=PARSE, render_options=RENDER)
    options = _extension_options()  # one per render: a callback never outlives its page (and threads never share)
    options.link_url_rewriter = links
    return comrak.render_markdown(text, extension_options=options, parse_options=PARSE, render_options=RENDER)


def inline_html(html: str) -> str:
    """The inside of a fragment that is one paragraph (as Hugo's `markdownify` does); other fragments as they are."""
    opening, closing = INLINE_PARAGRAPH
    if html.startswith(opening) and html.endswith(closing) and html.count(opening) == 1:
        return html[len(opening) : -len(closing)]
    return html


Plugin = Callable[[str], str]
"""Rewrites a fragment of the engine's HTML before it is sanitized (e.g. linking `owner/repo#N`)."""


class Markdown:
    """The configured Markdown engine; `render` returns sanitized HTML and records link problems."""

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        self.plugins = tuple(plugins)

    def html(self, text: str, context: LinkContext | None = None) -> str:
        """The HTML of `text` before sanitizing (links rewritten and checked against `context`)."""
        html = engine_html(text, context.rewriter(text) if context is not None else None)
        for plugin in self.plugins:
            html = plugin(html)
        return html

    def render(self, text: str, context: LinkContext | None = None) -> Markup:
        return sanitize(self.html(text, context))

    def render_inline(self, text: str) -> Markup:
        """Inline Markdown (no paragraph around it) for short fields such as a dependency's text."""
        html = inline_html(engine_html(text))
        for plugin in self.plugins:
            html = plugin(html)
        return sanitize(html)


def find_destination(text: str, href: str, start: int) -> int:
    """Where `href` is written as a link destination in `text` (after `(`, `<` or a reference's `]:`) from
    `start`, else anywhere from `start`; -1 when it is not written as is (escapes, entities)."""
    if not href:
        return -1
    at = text.find(href, start)
    first = at
    while at != -1:
        before = text[max(0, at - 3) : at].rstrip(" \t")
        if before.endswith(("(", "<", "]:")):
            return at
        at = text.find(href, at + 1)
    return first


def plain_text(markdown_source: str) -> str:
    """A rough plain-text version of a Markdown snippet (for meta descriptions and feed summaries)."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown_source)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`#>|]", "", text)
    return " ".join(text.split())
