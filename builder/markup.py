"""Markdown → safe HTML: markdown-it-py (raw HTML off) and the one nh3 sanitizer policy.

Every HTML fragment that reaches a template comes out of `sanitize`; plain text never does (templates
escape it).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markupsafe import Markup
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from builder.errors import Diagnostic
from builder.urls import join_content_path, normalise_site_url, relative_url

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "input", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "class"},
    "a": {"href", "title"},
    "abbr": {"title"},
    "span": {"title"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
    "input": {"type", "checked", "disabled"},
}
SANITIZER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel=None,
    filter_style_properties={"text-align"},
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
    body_lines: list[str] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)

    def line_for(self, token_map: list[int] | None, needle: str) -> int:
        if not token_map:
            return self.first_line
        start, end = token_map
        for offset in range(start, min(end, len(self.body_lines))):
            if needle in self.body_lines[offset]:
                return self.first_line + offset
        return self.first_line + start

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


def _rewrite_links(state: StateCore) -> None:
    context: LinkContext | None = state.env.get("links")
    if context is None:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        for token in block.children:
            if token.type != "link_open":
                continue
            href = str(token.attrGet("href") or "")
            resolved = context.resolve(href)
            if resolved is None:
                line = context.line_for(block.map, href)
                context.problems.append(
                    Diagnostic(context.display_path, line,
                               f"broken link '{href}': no page there (link to a .md file or a site path)")
                )
                continue
            token.attrSet("href", resolved)


Plugin = Callable[[MarkdownIt], None]


class Markdown:
    """One configured markdown-it-py parser; `render` returns sanitized HTML and link problems."""

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        md.use(tasklists_plugin, enabled=False)
        md.use(anchors_plugin, min_level=2, max_level=3, permalink=False)
        for plugin in plugins:
            plugin(md)
        md.core.ruler.push("giftboard_links", _rewrite_links)
        self.md = md

    def render(self, text: str, context: LinkContext | None = None) -> Markup:
        env: dict[str, object] = {}
        if context is not None:
            context.body_lines = text.splitlines()
            env["links"] = context
        return sanitize(self.md.render(text, env))

    def render_inline(self, text: str) -> Markup:
        """Inline Markdown (no paragraphs) for short fields such as a dependency's text."""
        return sanitize(self.md.renderInline(text))


def plain_text(markdown_source: str) -> str:
    """A rough plain-text version of a Markdown snippet (for meta descriptions and feed summaries)."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown_source)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`#>|]", "", text)
    return " ".join(text.split())
