"""Markdown → safe HTML: cmark-gfm (raw HTML never markup) and the one nh3 sanitizer policy.

Every HTML fragment that reaches a template comes out of `sanitize`; plain text never does (templates
escape it).

The engine is GitHub's cmark-gfm (C, through the `cmarkgfm` wheel), about twenty times faster than the
markdown-it-py pipeline it replaced. The output is kept equal to what that pipeline produced (commonmark + table +
strikethrough, disabled task-list checkboxes, ids on h2/h3, raw HTML shown as text): `tests/test_markup_engine.py`
renders the content, a generated corpus and edge cases with both and compares them. What it takes:

- Raw HTML is shown as text. Before parsing, every `<` that is not an autolink, a `<destination>` or
  backslash-escaped is replaced by a placeholder (a Unicode punctuation character, so emphasis around it parses
  as around `<`); cmark then never sees a tag, and the placeholder becomes `&lt;` (or `%3C` in a URL) afterwards.
- What markdown-it's plugins did is done on cmark's HTML, whose shape is fixed (every text `<`, `>`, `&` and `"`
  escaped): `<del>` → `<s>`, h2/h3 ids from the anchors plugin's slug rules, task-list classes, links rewritten
  and checked. Broken links, which fail the build, are located by a second render with source positions.
- markdown-it-py still renders the short inline fields (`render_inline`: cmark has no inline-only mode).
"""

from __future__ import annotations

import ctypes
import difflib
import html as html_lib
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markdown_it import MarkdownIt
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
        """The first line in `token_map` ([start, end), 0-based in the body) that contains `needle`."""
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


# -- the engine: cmark-gfm from the cmarkgfm wheel -------------------------------------------------------------
# cmarkgfm's own helpers never free the syntax tree or the HTML buffer (about 70 kB a page, which `serve` would
# keep forever), so the few C functions needed are called here directly, from the same shared library.


class _MemAllocator(ctypes.Structure):
    _fields_ = [
        ("calloc", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t)),
        ("realloc", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)),
        ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ]


def _bind(library: ctypes.CDLL, name: str, restype: object, *argtypes: object) -> Callable[..., object]:
    function = getattr(library, name)
    function.restype = restype
    function.argtypes = argtypes
    return function  # type: ignore[no-any-return]


_LIB = ctypes.CDLL(cmarkgfm._cmark.__file__)
_parser_new = _bind(_LIB, "cmark_parser_new", ctypes.c_void_p, ctypes.c_int)
_parser_free = _bind(_LIB, "cmark_parser_free", None, ctypes.c_void_p)
_find_extension = _bind(_LIB, "cmark_find_syntax_extension", ctypes.c_void_p, ctypes.c_char_p)
_attach = _bind(_LIB, "cmark_parser_attach_syntax_extension", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_feed = _bind(_LIB, "cmark_parser_feed", None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
_finish = _bind(_LIB, "cmark_parser_finish", ctypes.c_void_p, ctypes.c_void_p)
_extensions_of = _bind(_LIB, "cmark_parser_get_syntax_extensions", ctypes.c_void_p, ctypes.c_void_p)
_render_html = _bind(_LIB, "cmark_render_html", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_node_free = _bind(_LIB, "cmark_node_free", None, ctypes.c_void_p)
_allocator = _bind(_LIB, "cmark_get_default_mem_allocator", ctypes.POINTER(_MemAllocator))
_bind(_LIB, "cmark_gfm_core_extensions_ensure_registered", None)()
_FREE = _allocator().contents.free  # type: ignore[attr-defined]
_EXTENSIONS = [_find_extension(name) for name in (b"table", b"strikethrough", b"tasklist")]
if not all(_EXTENSIONS):  # pragma: no cover - a broken cmarkgfm build
    raise ImportError("cmark-gfm lacks the table, strikethrough or tasklist extension")

# no UNSAFE: raw HTML could only ever come out as a comment (and none reaches cmark, see _neutralise)
OPTIONS = Options.CMARK_OPT_TABLE_PREFER_STYLE_ATTRIBUTES | Options.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
SOURCEPOS = Options.CMARK_OPT_SOURCEPOS
RAW_HTML_OMITTED = "<!-- raw HTML omitted -->"


def cmark_html(text: str, options: int = OPTIONS) -> str:
    """cmark-gfm's HTML for `text`, with the table, strikethrough and tasklist extensions."""
    data = text.encode("utf-8", "replace")
    parser = _parser_new(options)
    try:
        for extension in _EXTENSIONS:
            _attach(parser, extension)
        _feed(parser, data, len(data))
        root = _finish(parser)
        try:
            buffer = _render_html(root, options, _extensions_of(parser))
            try:
                return ctypes.string_at(buffer).decode("utf-8")  # type: ignore[arg-type]
            finally:
                _FREE(buffer)
        finally:
            _node_free(root)
    finally:
        _parser_free(parser)


# -- raw HTML becomes text, dangerous links stay text ------------------------------------------------------------
# Unicode punctuation (Po) that content does not use; the first two absent from a page stand in for its `<` and
# for the `(` of a link to a dangerous URL.
PLACEHOLDERS = ("\ua8f8", "\u2e2e", "\U000110bb", "\u0f04", "\u2e2b", "\u2e2c")
AUTOLINK = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"
)
POINTY_BEFORE = re.compile(r"\](?:\(|:)[ \t]*\n?[ \t]*\Z")
# markdown-it's validateLink: these schemes make no link at all (the Markdown stays text); cmark would make one
# with an empty href
DANGEROUS = r"(?:javascript|vbscript|file|data):(?!image/(?:gif|png|jpeg|webp);)"
DANGEROUS_AUTOLINK = re.compile("<" + DANGEROUS, re.I)
DANGEROUS_LINK = re.compile(r"(?<=\])\((?=[ \t]*\n?[ \t]*<?" + DANGEROUS + ")", re.I)


def _neutralise(text: str, angle: str, paren: str, keep_pointy: bool) -> str:
    """`text` with every `<` that could open raw HTML replaced by `angle`, and the `(` of every link to a dangerous
    URL by `paren`."""
    if "(" in text and ":" in text:
        text = DANGEROUS_LINK.sub(paren, text)
    pieces: list[str] = []
    position = 0
    at = text.find("<")
    while at != -1:
        slashes = at - len(text[:at].rstrip("\\")) if at and text[at - 1] == "\\" else 0
        keep = slashes % 2 == 1 or (
            (AUTOLINK.match(text, at) is not None and DANGEROUS_AUTOLINK.match(text, at) is None)
            or (keep_pointy and POINTY_BEFORE.search(text, max(0, at - 80), at) is not None)
        )
        if not keep:
            pieces.append(text[position:at])
            pieces.append(angle)
            position = at + 1
        at = text.find("<", at + 1)
    pieces.append(text[position:])
    return "".join(pieces)


def _percent(character: str) -> str:
    return "".join(f"%{byte:02X}" for byte in character.encode("utf-8"))


def engine_html(text: str, options: int = OPTIONS) -> str:
    """cmark-gfm's HTML for `text` with raw HTML shown as text, before any of the project's rewriting."""
    if "<" not in text and "](" not in text:
        return cmark_html(text, options)
    free = [p for p in PLACEHOLDERS if p not in text]
    if len(free) < 2:  # pragma: no cover - a page using all but one of the placeholder characters
        return cmark_html(text, options).replace(RAW_HTML_OMITTED, "")
    angle, paren = free[:2]
    html = cmark_html(_neutralise(text, angle, paren, keep_pointy=True), options)
    if RAW_HTML_OMITTED in html:
        # a `<` kept as a link destination was raw HTML after all: neutralise those too
        html = cmark_html(_neutralise(text, angle, paren, keep_pointy=False), options)
        html = html.replace(RAW_HTML_OMITTED, "")
    if angle in html:
        html = html.replace(angle, "&lt;")
    if paren in html:
        html = html.replace(paren, "(")
    if "%" in html:
        html = html.replace(_percent(angle), "%3C").replace(_percent(paren), "(")
    return html


# -- what markdown-it's plugins did, on cmark's HTML ------------------------------------------------------------
DEL = re.compile(r"<(/?)del>")
HREF = re.compile(r'<a href="([^"]*)"')
HEADING = re.compile(r"<h([23])>(.*?)</h\1>", re.S)
TAG = re.compile(r"<[^>]*>")
SOURCEPOS_TAG = re.compile(r'<(/?)([a-z0-9]+)(?: [^>]*?data-sourcepos="(\d+):\d+-(\d+):\d+")?[^>]*>')
TASK_TAG = re.compile(r'<(/?)(ul|ol|li)\b([^>]*)>|<input type="checkbox"( checked="")? disabled="" /> (\n<p>)?')
MISSED_TASK = re.compile(r"<li>(\n<p>)?\[([ xX])\] ")
TASK_INPUT = '<input class="task-list-item-checkbox"{} disabled="disabled" type="checkbox">'


def escape_attribute(value: str) -> str:
    """Escape an attribute value as markdown-it did (`&`, `<`, `>`, `"`)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def slugify(title: str) -> str:
    """The anchors plugin's slug (GitHub-like): lower case, spaces to dashes, only word characters and dashes."""
    return re.sub(r"[^\w\u4e00-\u9fff\- ]", "", title.lower().replace(" ", "-"))


def _heading_ids(html: str) -> str:
    slugs: set[str] = set()

    def add_id(match: re.Match[str]) -> str:
        title = html_lib.unescape(TAG.sub("", match.group(2))).replace("\n", "")
        slug = base = slugify(title)
        number = 1
        while slug in slugs:
            slug = f"{base}-{number}"
            number += 1
        slugs.add(slug)
        level = match.group(1)
        return f'<h{level} id="{escape_attribute(slug)}">{match.group(2)}</h{level}>'

    return HEADING.sub(add_id, html)


def _task_lists(html: str) -> str:
    """The tasklists plugin's markup: classes on the item and its list, the checkbox inside the first paragraph."""
    edits: dict[int, tuple[int, str]] = {}
    lists: list[re.Match[str]] = []
    items: list[tuple[re.Match[str], re.Match[str] | None]] = []
    for tag in TASK_TAG.finditer(html):
        if tag.group(2) is None:  # a checkbox
            if not items:
                continue
            item, parent = items[-1]
            edits[item.start()] = (item.end(), '<li class="task-list-item">')
            if parent is not None:
                opening = f'<{parent.group(2)}{parent.group(3)} class="contains-task-list">'
                edits[parent.start()] = (parent.end(), opening)
            checkbox = TASK_INPUT.format(' checked="checked"' if tag.group(4) else "")
            edits[tag.start()] = (tag.end(), f"\n<p>{checkbox} " if tag.group(5) else f"{checkbox} ")
        elif tag.group(1):
            (items if tag.group(2) == "li" else lists).pop()
        elif tag.group(2) == "li":
            items.append((tag, lists[-1] if lists else None))
        else:
            lists.append(tag)
    pieces: list[str] = []
    position = 0
    for start in sorted(edits):
        end, replacement = edits[start]
        pieces += [html[position:start], replacement]
        position = end
    pieces.append(html[position:])
    return "".join(pieces)


def _missed_tasks(html: str, text: str) -> str:
    """Items cmark-gfm's tasklist extension misses (inside a blockquote) in the form it gives the others.

    An item whose text still starts with `[ ] ` or `[x] ` was written so, unless the bracket was escaped or an
    entity (then markdown-it did not make it a task either), which is why such pages are left alone."""
    if "\\[" in text or "&#" in text or "&lbrack;" in text or "&lsqb;" in text:
        return html

    def checkbox(match: re.Match[str]) -> str:
        checked = ' checked=""' if match.group(2) != " " else ""
        return f'<li><input type="checkbox"{checked} disabled="" /> ' + (match.group(1) or "")

    return MISSED_TASK.sub(checkbox, html)


def _link_blocks(source: str) -> list[tuple[int, int]]:
    """For each link in `source`, in order: the lines (1-based, inclusive) of the block holding its text."""
    ranges: list[tuple[int, int]] = []
    stack: list[list[object]] = []  # [tag, first line, last line, last line of the latest child block]
    for tag in SOURCEPOS_TAG.finditer(engine_html(source, OPTIONS | SOURCEPOS)):
        closing, name, first, last = tag.groups()
        if first is not None and not closing and not tag.group(0).endswith("/>"):
            stack.append([name, int(first), int(last), 0])
        elif closing and stack and stack[-1][0] == name:
            done = stack.pop()
            if stack:
                stack[-1][3] = done[2]
        elif name == "a" and not closing:
            if not stack:
                ranges.append((1, 1))
                continue
            name_, start, end, after_child = stack[-1]
            assert isinstance(start, int) and isinstance(end, int) and isinstance(after_child, int)
            # a tight list item shows its paragraph without <p>: the text starts after its last child block
            ranges.append((max(start, after_child + 1) if name_ == "li" else start, end))
    return ranges


def _rewrite_links(html: str, text: str, context: LinkContext) -> str:
    broken: list[tuple[int, str]] = []
    index = -1

    def rewrite(match: re.Match[str]) -> str:
        nonlocal index
        index += 1
        href = html_lib.unescape(match.group(1))
        resolved = context.resolve(href)
        if resolved is None:
            broken.append((index, href))
            return match.group(0)
        return f'<a href="{escape_attribute(resolved)}"'

    html = HREF.sub(rewrite, html)
    if broken:
        blocks = _link_blocks(text)
        for index, href in broken:
            first, last = blocks[index] if index < len(blocks) else (1, 1)
            context.problems.append(context.broken(href, context.line_for([first - 1, last], href)))
    return html


Plugin = Callable[[str], str]
"""Rewrites a fragment of the engine's HTML before it is sanitized (e.g. linking `owner/repo#N`)."""


class Markdown:
    """The configured Markdown engine; `render` returns sanitized HTML and records link problems."""

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        self.plugins = tuple(plugins)
        # short inline fields only (cmark-gfm has no inline-only mode)
        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        self.md = md

    def html(self, text: str, context: LinkContext | None = None) -> str:
        """The HTML of `text` before sanitizing (links rewritten and checked against `context`)."""
        html = engine_html(text)
        if "del>" in html:
            html = DEL.sub(r"<\1s>", html)
        if context is not None:
            context.body_lines = text.splitlines()
            if "<a " in html:
                html = _rewrite_links(html, text, context)
        for plugin in self.plugins:
            html = plugin(html)
        if "<h2>" in html or "<h3>" in html:
            html = _heading_ids(html)
        if "<li>" in html and "] " in html:
            html = _missed_tasks(html, text)
        if '<input type="checkbox"' in html:
            html = _task_lists(html)
        return html

    def render(self, text: str, context: LinkContext | None = None) -> Markup:
        return sanitize(self.html(text, context))

    def render_inline(self, text: str) -> Markup:
        """Inline Markdown (no paragraphs) for short fields such as a dependency's text."""
        html = self.md.renderInline(text)
        for plugin in self.plugins:
            html = plugin(html)
        return sanitize(html)


def plain_text(markdown_source: str) -> str:
    """A rough plain-text version of a Markdown snippet (for meta descriptions and feed summaries)."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown_source)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`#>|]", "", text)
    return " ".join(text.split())
