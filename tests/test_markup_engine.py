"""The comrak engine renders what the site rendered before, except for the changes listed here: a differential test.

The reference is the output the site had before comrak (cmark-gfm made equal to this, kept here test-only):
markdown-it-py (commonmark + table + strikethrough, raw HTML off), the tasklists and anchors plugins, the core rule
that rewrote and checked links, the token-based `owner/repo#N` rule, and the nh3 policy of the time (which kept
`style="text-align: …"` on table cells). Both outputs are compared after this normalisation:

- attributes are sorted by name (the engines write them in different orders; nh3 keeps the order it is given);
- text that is only whitespace and touches a block-level tag is dropped, and the whitespace inside other text is
  not changed (so `<em>a</em> <em>b</em>` keeps its space, while markdown-it's newline after `<table>` and
  comrak's absence of one compare equal);
- the intended changes below, applied to both sides (`_intended`, `_Canonical`); nothing else: tags, text, entities
  (decoded), hrefs, ids, classes and the `path:line` diagnostics must be equal.

Intended changes everywhere (each checked where it applies, so the rule cannot hide anything else):

1. Every heading (h1–h6, not only h2/h3) has an id, and ends with an empty permalink `<a href="#id"
   aria-label="Link to heading '…'" class="anchor"></a>` (comrak's header ids; the site's CSS shows a `#` on hover
   and focus). The reference runs the anchors plugin on all six levels, so the ids themselves are compared.
2. Strikethrough is `<del>` (comrak, and GitHub) rather than markdown-it's `<s>`.
3. Table alignment is `align="left|center|right"` on th/td rather than `style="text-align: …"` (comrak has no
   style option; the site's CSS honours the attribute). vnu notes `align` as obsolete (an info warning, not an
   error).
4. Boolean attributes are written `checked=""` / `disabled=""` rather than `checked="checked"`.

The inputs where the engines differ otherwise are listed in `KNOWN_DIFFERENCES`, each with the reason, and are
checked to still differ only as described (so the list cannot go stale silently).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import nh3
import pytest
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

import builder.site.build
from benchmarks.corpus import pages as corpus_pages
from builder.errors import Diagnostic
from builder.github.refs import STATE_LABELS, issue_url, iter_refs, refs_plugin
from builder.github.snapshot import LinkedIssue, Snapshot
from builder.markup import ALLOWED_TAGS, LinkContext, Markdown
from builder.site.build import BuildOptions, Site
from tests.board_fixtures import CONTENT

REPO = "acme/giftboard"


# -- the reference: the markdown-it-py pipeline as it was --------------------------------------------------------

def _reference_line_for(context: LinkContext, lines: list[str], token_map: list[int] | None, needle: str) -> int:
    """The first line in `token_map` ([start, end), 0-based in the body) that contains `needle`."""
    if not token_map:
        return context.first_line
    start, end = token_map
    for offset in range(start, min(end, len(lines))):
        if needle in lines[offset]:
            return context.first_line + offset
    return context.first_line + start


def _reference_rewrite_links(state: StateCore) -> None:
    context: LinkContext | None = state.env.get("links")
    if context is None:
        return
    lines = state.src.splitlines()
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        for token in block.children:
            if token.type != "link_open":
                continue
            href = str(token.attrGet("href") or "")
            resolved = context.resolve(href)
            if resolved is None:
                context.problems.append(context.broken(href, _reference_line_for(context, lines, block.map, href)))
                continue
            token.attrSet("href", resolved)


def _reference_ref_tokens(ref: str, issue: LinkedIssue | None) -> list[Token]:
    link = Token("link_open", "a", 1)
    link.attrs = {"href": issue_url(ref, issue), "class": "gh-ref" + (f" gh-ref-{issue.state}" if issue else "")}
    if issue is not None and issue.title:
        link.attrs["title"] = issue.title
    tokens = [link, Token("text", "", 0, content=ref)]
    if issue is not None:
        tokens += [Token("text", "", 0, content=" "),
                   Token("html_inline", "", 0, content=f'<span class="gh-state gh-state-{issue.state}">'),
                   Token("text", "", 0, content=STATE_LABELS[issue.state]),
                   Token("html_inline", "", 0, content="</span>")]
    return [*tokens, Token("link_close", "a", -1)]


def _reference_refs_plugin(snapshot: Snapshot | None) -> Callable[[MarkdownIt], None]:
    def split(token: Token) -> list[Token]:
        pieces: list[Token] = []
        position = 0
        for match in iter_refs(token.content):
            if match.start() > position:
                pieces.append(Token("text", "", 0, content=token.content[position : match.start()]))
            ref = match.group(0)
            pieces.extend(_reference_ref_tokens(ref, snapshot.issue(ref) if snapshot else None))
            position = match.end()
        if not pieces:
            return [token]
        if position < len(token.content):
            pieces.append(Token("text", "", 0, content=token.content[position:]))
        return pieces

    def link_refs(state: StateCore) -> None:
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            children: list[Token] = []
            depth = 0
            for child in block.children:
                depth += {"link_open": 1, "link_close": -1}.get(child.type, 0)
                if child.type == "text" and depth == 0 and "#" in child.content:
                    children.extend(split(child))
                else:
                    children.append(child)
            block.children = children

    return lambda md: md.core.ruler.after("inline", "github_refs", link_refs)


REFERENCE_SANITIZER = nh3.Cleaner(  # the policy before comrak: table cells kept their style
    tags=ALLOWED_TAGS,
    attributes={"*": {"id", "class"}, "a": {"href", "title"}, "abbr": {"title"}, "span": {"title"},
                "th": {"style"}, "td": {"style"}, "ol": {"start"}, "input": {"type", "checked", "disabled"}},
    url_schemes={"http", "https", "mailto"},
    link_rel=None,
    filter_style_properties={"text-align"},
    strip_comments=True,
)


def sanitize(html: str) -> Markup:
    return Markup(REFERENCE_SANITIZER.clean(html))  # noqa: S704 - the reference's sanitizer


class ReferenceMarkdown:
    """The markdown-it-py pipeline the engine replaced (same public surface as `builder.markup.Markdown`)."""

    def __init__(self, snapshot: Snapshot | None = None, refs: bool = True) -> None:
        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        md.use(tasklists_plugin, enabled=False)
        md.use(anchors_plugin, min_level=1, max_level=6, permalink=False)  # intended change 1
        if refs:
            _reference_refs_plugin(snapshot)(md)
        md.core.ruler.push("giftboard_links", _reference_rewrite_links)
        self.md = md

    def render(self, text: str, context: LinkContext | None = None) -> Markup:
        env: dict[str, object] = {}
        if context is not None:
            env["links"] = context
        return sanitize(self.md.render(text, env))

    def render_inline(self, text: str) -> Markup:
        return sanitize(self.md.renderInline(text))


# -- normalisation --------------------------------------------------------------------------------------------

BLOCK_TAGS = frozenset(
    "html head body header footer main nav section article aside div p ul ol li table thead tbody tr th td "
    "h1 h2 h3 h4 h5 h6 pre blockquote hr title meta link script style figure figcaption dl dt dd form".split()
)


BOOLEAN_ATTRIBUTES = frozenset({"checked", "disabled"})


def _intended(tag: str, attrs: list[tuple[str, str | None]]) -> tuple[str, list[tuple[str, str | None]]]:
    """Rewrite one tag of either output to the form the intended changes (module docstring) give it."""
    if tag == "s":  # 2: strikethrough is <del>
        tag = "del"
    kept: list[tuple[str, str | None]] = []
    for name, value in attrs:
        if name in BOOLEAN_ATTRIBUTES:  # 4: a boolean attribute is written checked="" rather than checked="checked"
            value = ""
        elif name == "style" and tag in ("th", "td") and value and value.startswith("text-align:"):
            name, value = "align", value.partition(":")[2].strip().rstrip(";")  # 3: align="right"
        kept.append((name, value))
    return tag, kept


class _Canonical(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, str]] = []
        self.in_permalink = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and ("class", "anchor") in attrs:
            # 1: a heading ends with an empty permalink to its own id, named by aria-label
            heading = next((value for kind, value in reversed(self.items)
                            if kind == "start" and re.match(r"<h[1-6][ >]", value)), "")
            href = dict(attrs).get("href") or ""
            assert heading.startswith("<h") and f'id="{href[1:]}"' in heading, (heading, attrs)
            assert dict(attrs).get("aria-label", "").startswith("Link to heading "), attrs
            self.in_permalink = True
            return
        tag, attrs = _intended(tag, attrs)
        rendered = " ".join(f'{name}="{value or ""}"' for name, value in sorted(attrs))
        self.items.append(("start", f"<{tag} {rendered}>" if attrs else f"<{tag}>"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.in_permalink and tag == "a":
            self.in_permalink = False
            return
        tag, _ = _intended(tag, [])
        self.items.append(("end", f"</{tag}>"))

    def handle_data(self, data: str) -> None:
        assert not self.in_permalink, "a heading's permalink has no text"
        if self.items and self.items[-1][0] == "text":
            self.items[-1] = ("text", self.items[-1][1] + data)
        else:
            self.items.append(("text", data))

    def handle_comment(self, data: str) -> None:
        self.items.append(("comment", f"<!--{data}-->"))


def _is_block(item: tuple[str, str]) -> bool:
    kind, value = item
    return kind in ("start", "end") and re.match(r"</?([a-z0-9]+)", value).group(1) in BLOCK_TAGS  # type: ignore[union-attr]


def normalise(html: str) -> str:
    """One item a line: a tag with sorted attributes, or a text run; whitespace-only text beside blocks dropped."""
    parser = _Canonical()
    parser.feed(html)
    parser.close()
    items = parser.items
    kept: list[str] = []
    for index, (kind, value) in enumerate(items):
        if kind == "text" and not value.strip():
            before = items[index - 1] if index else None
            after = items[index + 1] if index + 1 < len(items) else None
            if before is None or after is None or _is_block(before) or _is_block(after):
                continue
        kept.append(value if kind != "text" else repr(value))
    return "\n".join(kept)


# -- inputs ---------------------------------------------------------------------------------------------------

EDGE_CASES: dict[str, str] = {
    "nested lists": "- a\n  - b\n    - c\n\n      para in c\n- d\n\n1. one\n2. two\n   1. inner\n\n3) three\n",
    "tight and loose": "- a\n- b\n\n- c\n\n* x\n* y\n",
    "ordered start": "7. seven\n8. eight\n",
    "table alignment": (
        "| l | c | r | n |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n| *e* | `c` | [x](https://e.org) | |\n"
    ),
    "table escaped pipe": "| a | b |\n|---|---|\n| x \\| y | `p\\|q` |\n",
    "table without body": "| a | b |\n|---|---|\n",
    "code fence with html and links": "```html\n<script>alert(1)</script>\n[x](y.md) acme/giftboard#3\n```\n",
    "tilde fence and info": "~~~ python extra\n<b>x</b>\n~~~\n\n```<lang\nz\n```\n",
    "indented code": "    <div>code</div>\n    [x](missing.md)\n",
    "links with titles and fragments": '[t](https://e.org/a "Title & <b>") [f](#frag) [g](../gates/x.md#part "T")\n',
    "link reference definitions": "[a][ref] and [b]\n\n[ref]: https://e.org/r 'R'\n[b]: <https://e.org/b c>\n",
    "pointy destinations": "[a](<https://e.org/x y>) [b](<../gates/x.md>) [c](<nope)\n",
    "autolinks": "<https://example.org/a?b=c&d=e> <mailto:x@y.org> <x@y.org> <ftp://f.example/>\n",
    "not autolinks": "<https://x y> < https://x> <x@> <localhost:5001/foo>\n",
    "emphasis": "*a* _b_ **c** __d__ ***e*** *f **g** h* a*b*c a_b_c *unclosed **mixed* ok** _*x*_\n",
    "emphasis edge": "**foo*bar** *foo**bar* foo*bar* *(*foo*)* _(_foo_)_ *foo*bar\n",
    "nested strong with the same delimiters": "**a **b** c**\n",
    "emphasis and angle": "a*<x>*b *<b>* *a<* x>*y*\n",
    "strikethrough": "~~gone~~ ~single~ a~~b~~c ~~*em*~~ ~~ spaced ~~\n",
    "triple tildes": "~~~three~~~\n",
    "headings with duplicate text": "## Plan\n\n## Plan\n\n### Plan\n\n## Plan-1\n\n# Top\n\n#### Deep\n\n## Plan\n",
    "headings with markup": (
        "## Hello *world* & `code` <b>\n\n## Ünïcode 漢字 — dash\n\n## [link](https://e.org) text\n"
    ),
    "unclosed fence at the end": "```\ncode\n\n```python\nno newline at the end",
    "one-column table without pipes in the delimiter row": "| a\n---\n",
    "raw html that looks like markdown": "<span title=\"*x* [y](z.md)\">s</span> <a href='a/b#6'>t</a>\n",
    "html block interrupting a paragraph": "text\n<div>\n*x*\n</div>\ntext <b>\n",
    "setext headings": "Title\nover two lines\n---\n\nOther\n===\n",
    "empty heading": "##\n\n## !!!\n\n## !!!\n",
    "task lists": "- [ ] todo\n- [x] done\n- [X] upper\n- [ ]nospace\n- not a task\n\n1. [ ] ordered\n",
    "loose task list": "- [ ] a\n\n- [x] b\n  more\n\n  para\n",
    "nested task list": "3) [ ] d\n   - [X] e\n   - f\n",
    "task lists in quotes": "> - [ ] a\n> - [x] b\n\n1. > 1. [X] c\n>\n>    para\n\n> - [x] l\n>\n> - m\n",
    "escaped task markers": "- \\[ ] a\n- &#91;x] b\n- [x]\n\n> - \\[x] d\n",
    "tab after a task marker": "- [x]\tc\n",
    "refs in text code and links": (
        "See acme/giftboard#12, `acme/giftboard#12`, [acme/giftboard#12](https://e.org) and "
        "https://github.com/acme/giftboard#12 and docs/acme/giftboard#12 and *acme/giftboard#4*.\n\n"
        "```\nacme/giftboard#12\n```\n\n## About acme/giftboard#6\n\n| ref |\n|---|\n| acme/giftboard#5 |\n"
    ),
    "refs beside entities": "&lt;acme/giftboard#6&gt; &amp;acme/giftboard#6 \"acme/giftboard#6\"\n",
    "refs with an escaped hash": "a/b\\#6 a/b&#35;6\n",
    "backslash before a ref": "x \\acme/giftboard#6\n",
    "html entities": "&copy; &amp; &lt;b&gt; &#35; &#x41; &nbsp;x &bogus; &#0; \\* \\< \\&amp;\n",
    "raw html inline": "Use <b>bold</b>, <span title=\"*x*\">s</span>, <!-- c -->, <?pi?>, <!DOCTYPE x> & </p>.\n",
    "raw html blocks": "<div>\n*hi*\n</div>\n\n<script>\nalert(1)\n\n[x](y.md)\n</script>\n\n<!--\n\n*c*\n-->\n",
    "raw html in lists and quotes": "- <b>x</b>\n- item\n  <div>y</div>\n\n> <p>quoted</p>\n> more\n",
    "escaped angle": "\\<b> \\\\<b> `<b>` ``<b>``\n",
    "blockquote": "> quote with [link](https://e.org)\n>\n> - list\n\n> lazy\ncontinuation\n",
    "hard breaks": "line one  \nline two\\\nline three\n",
    "thematic breaks": "a\n\n---\n\n***\n\n___\n",
    "images": "![alt *text*](pic.png \"t\") ![x](javascript:alert(1))\n",
    "dangerous links": "[a](javascript:alert(1)) [b](JAVASCRIPT:x) [c](data:text/html,x) [d](vbscript:x)\n",
    "unicode urls": "[u](https://example.org/ä?q=ü) [s](a b) [b](x\\\\y) [q](a[b]c) [e](a%20b) [m](a.md#ü)\n",
    "internationalised host": "[u](https://bücher.example/)\n",
    "invalid percent escape": "[p](https://e.org/%41%zz)\n",
    "site links": "[g](../gates/x.md) [w](/workstreams/runtime/) [r](../..) [m](missing.md) [s](/nowhere/)\n",
    "broken links in blocks": (
        "Intro [ok](../../gates/x.md).\n\n- item [m1](missing-1.md)\n- second\n  [m2](missing-2.md)\n\n"
        "> [m3](missing-3.md)\n\n| a |\n|---|\n| [m4](missing-4.md) |\n\n## Head [m5](missing-5.md)\n\n"
        "Para\nline two [m6](missing-6.md) [m6](missing-6.md)\n"
    ),
    "broken link in tight item after nested list": "- a\n  - b\n- c [m](missing.md)\n",
    "tabs and nul": "\tcode\n\nx\x00y\n\n-\ttab item\n",
    "crlf": "a\r\nb\r\n\r\n## H\r\n",
}

# name → why the output differs, and a fragment each engine's output must contain (so the entry stays true)
KNOWN_DIFFERENCES: dict[str, tuple[str, str, str]] = {
    "refs with an escaped hash": (
        "markdown-it's refs rule ran before escapes and entities were joined into the text, so `a/b\\#6` and "
        "`a/b&#35;6` happened to stay unlinked; the engine's post-processor sees the text `a/b#6` and links it",
        "'a/b#6 a/b#6'", 'class="gh-ref"'),
    "backslash before a ref": (
        "the same token split: markdown-it cut `\\acme/giftboard#6` after `\\a` and linked `cme/giftboard#6`, a "
        "wrong reference; the engine links `acme/giftboard#6`",
        "https://github.com/cme/giftboard/issues/6", "https://github.com/acme/giftboard/pull/6"),
    "internationalised host": (
        "markdown-it writes a non-ASCII host in punycode, comrak percent-encodes its UTF-8; browsers parse both to "
        "the same URL (the WHATWG URL parser decodes the host and applies IDNA)",
        "https://xn--bcher-kva.example/", "https://b%C3%BCcher.example/"),
    "one-column table without pipes in the delimiter row": (
        "GFM needs a pipe in the delimiter row of a one-column table (`| a |` over `| --- |`); markdown-it "
        "accepts `| a` over `---`, which comrak reads as a setext heading. Both are valid Markdown readings",
        "<table>", '<h2 id="-a">'),
    "tab after a task marker": (
        "markdown-it's tasklists plugin accepts `[x]` followed by a tab but then drops the marker without drawing "
        "the checkbox; comrak draws the checkbox",
        "<li class=\"task-list-item\">\n'\\tc'", 'type="checkbox"'),
    "dangerous links": (
        "a link to a javascript:, vbscript:, file: or data: URL: markdown-it made no link and left the Markdown as "
        "text; comrak makes the link with an empty href (its safe-URL rule). Nothing executable either way",
        "'[a](javascript:alert(1))", '<a href="">\n\'a\''),
    "images": (
        "the same rule for an image: markdown-it left `![x](javascript:…)` as text, comrak makes an image, which "
        "the policy removes like every image",
        "' ![x](javascript:alert(1))'", "<p>\n</p>"),
    "raw html blocks": (
        "an HTML block (GFM's seven kinds: <div>, <script>, comments, …) is shown as text as it was written, "
        "without a <p> and without reading Markdown inside it (so `[x](y.md)` in it is no link, and no broken link "
        "either); markdown-it, with HTML off, read the lines as paragraphs of Markdown",
        "<em>\n'hi'", r"'<div>\n*hi*\n</div>\n<script>"),
    "html block interrupting a paragraph": (
        "the same: `<div>` starts an HTML block, shown as text, not Markdown", "<em>\n'x'",
        r"</p>" "\n" r"'\n<div>\n*x*\n"),
    "raw html in lists and quotes": (
        "the same inside list items and quotes", "<p>\n" r"'<p>quoted</p>\nmore'", r"'\n<p>quoted</p>\nmore\n'"),
    "raw html inline": (
        "an inline tag (`<span title=\"*x*\">`) is one piece of raw HTML shown as text; markdown-it read Markdown "
        "inside it", "'Use <b>bold</b>, <span title=\"'\n<em>", "<span title=\"*x*\">s</span>, <!-- c -->"),
    "raw html that looks like markdown": (
        "the same: the Markdown inside a tag's attribute is no emphasis and no link (no broken link either)",
        "<a href=\"z.md\">", "'<span title=\"*x* [y](z.md)\">s</span> <a href=\\''"),
    "escaped task markers": (
        "comrak makes a task of `&#91;x] b` (the entity is a `[`) and of an item that is only `[x]`; markdown-it "
        "did not", "<li>\n'[x] b'", "<input checked=\"\" class=\"task-list-item-checkbox\""),
    "loose task list": (
        "in a loose list the checkbox comes before the item's first <p> rather than inside it (the site's CSS "
        "keeps them on one line)", "<p>\n<input class=\"task-list-item-checkbox\"",
        "<input class=\"task-list-item-checkbox\" disabled=\"\" type=\"checkbox\">\n<p>"),
    "task lists in quotes": (
        "the same for a loose list in a quote", "<p>\n<input checked", "type=\"checkbox\">\n<p>\n'l'"),
    "strikethrough": (
        "one tilde strikes too (`~single~`), as GFM and GitHub do; cmark-gfm was limited to two",
        "' ~single~ a'", "<del>\n'single'\n</del>"),
    "headings with markup": (
        "the id leaves out raw HTML (`<b>`) instead of spelling it (`b`)", 'id="hello-world--code-b"',
        'id="hello-world--code-"'),
    "setext headings": (
        "a line break in a heading is a dash in its id, as on GitHub (markdown-it dropped it)",
        'id="titleover-two-lines"', 'id="title-over-two-lines"'),
    "refs in text code and links": (
        "the id of a heading with an `owner/repo#N` no longer takes in the state label the reference plugin "
        "added before the anchors ran ('-draft')", 'id="about-acmegiftboard6-draft"', 'id="about-acmegiftboard6"'),
}

# name → why the diagnostics differ (the HTML is compared as usual)
KNOWN_PROBLEM_DIFFERENCES: dict[str, str] = {
    "unicode urls": "a broken link is named as written (`x\\y`, `a.md#ü`), not percent-encoded (`x%5Cy`)",
}


def make_context(display: str = "content/archive/lessons/x.md") -> LinkContext:
    return LinkContext(
        page_url="archive/lessons/x/",
        source="archive/lessons/x.md",
        display_path=display,
        first_line=5,
        urls_by_source={"gates/x.md": "gates/x/", "archive/lessons/x.md": "archive/lessons/x/"},
        known_urls=frozenset({"", "gates/x/", "workstreams/runtime/", "archive/lessons/x/", "archive/"}),
    )


SNAPSHOT = Snapshot(
    repository=REPO,
    fetched_at="2026-11-25T12:00:00Z",
    issues={f"{REPO}#6": LinkedIssue(ref=f"{REPO}#6", kind="pull", state="draft", title='Draft <b>"work"</b>',
                                     url=f"https://github.com/{REPO}/pull/6"),
            f"{REPO}#12": LinkedIssue(ref=f"{REPO}#12", kind="issue", state="open", title="Twelve",
                                      url=f"https://github.com/{REPO}/issues/12")},
)


def both(text: str, snapshot: Snapshot | None = SNAPSHOT) -> tuple[tuple[str, list[Diagnostic]], ...]:
    results = []
    for engine in (ReferenceMarkdown(snapshot), Markdown(plugins=[refs_plugin(snapshot)])):
        context = make_context()
        html = engine.render(text, context)
        results.append((normalise(str(html)), context.problems))
    return tuple(results)


# -- the tests ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_render_the_same(name: str) -> None:
    text = EDGE_CASES[name]
    (expected, expected_problems), (actual, actual_problems) = both(text)
    if name in KNOWN_DIFFERENCES:
        _reason, reference_has, engine_has = KNOWN_DIFFERENCES[name]
        assert reference_has in expected and engine_has in actual
        return
    assert actual == expected
    if name in KNOWN_PROBLEM_DIFFERENCES:
        assert [p.line for p in actual_problems] == [p.line for p in expected_problems]
        assert actual_problems != expected_problems
        return
    assert actual_problems == expected_problems


def test_a_generated_corpus_renders_the_same() -> None:
    for page in corpus_pages(200):
        (expected, expected_problems), (actual, actual_problems) = both(page.body)
        assert actual == expected, page.slug
        assert actual_problems == expected_problems


# inline text → why it differs (and what the engine's output holds instead)
KNOWN_INLINE_DIFFERENCES: dict[str, tuple[str, str]] = {
    "[x](javascript:alert(3)) <script>x</script>": ("as for 'dangerous links': an empty href", '<a href="">'),
    "1. not a list": ("comrak has no inline-only mode: a field that is a whole list renders as one (markdown-it's "
                      "renderInline kept it as text)", "<ol>"),
    "# not a heading": ("the same for a heading", "<h1 id=\"not-a-heading\">"),
}


def test_inline_fields_render_the_same() -> None:
    for text in ["Gift page *safety* is a launch dependency", f"Tracked in {REPO}#6 and `{REPO}#6`",
                 "[x](javascript:alert(3)) <script>x</script>", "1. not a list", "# not a heading", "a\nb",
                 "ends with a *paragraph*\n\nand another"]:
        expected = normalise(ReferenceMarkdown(SNAPSHOT).render_inline(text))
        actual = normalise(Markdown(plugins=[refs_plugin(SNAPSHOT)]).render_inline(text))
        if text in KNOWN_INLINE_DIFFERENCES:
            assert actual != expected and KNOWN_INLINE_DIFFERENCES[text][1] in actual, actual
        elif "\n\n" in text:  # two paragraphs stay two paragraphs (markdown-it joined them in one line)
            assert actual.startswith("<p>") and actual.count("<p>") == 2, actual
        else:
            assert actual == expected, text


def test_the_real_content_builds_the_same_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = {}
    for name in ("reference", "engine"):
        if name == "reference":
            monkeypatch.setattr(builder.site.build, "Markdown", lambda plugins=(): ReferenceMarkdown(None))
        else:
            monkeypatch.setattr(builder.site.build, "Markdown", Markdown)
        out = tmp_path / name
        Site(BuildOptions(content=CONTENT, out=out, cache_dir=tmp_path / f"cache-{name}",
                          ledger=None, workers=1, incremental=False)).build()
        outputs[name] = {path.relative_to(out): path.read_text() for path in sorted(out.rglob("*.html"))}
    assert outputs["engine"].keys() == outputs["reference"].keys()
    assert len(outputs["engine"]) > 10
    for path, expected in outputs["reference"].items():
        assert normalise(outputs["engine"][path]) == normalise(expected), path


def test_broken_links_are_reported_at_their_lines() -> None:
    context = make_context("content/x.md")
    Markdown().render(EDGE_CASES["broken links in blocks"], context)
    assert [(p.line, p.message.split("'")[1]) for p in context.problems] == [
        (7, "missing-1.md"), (9, "missing-2.md"), (11, "missing-3.md"), (15, "missing-4.md"),
        (17, "missing-5.md"), (20, "missing-6.md"), (20, "missing-6.md")]


def test_raw_html_is_text_and_never_markup() -> None:
    html = str(Markdown().render(EDGE_CASES["raw html blocks"] + EDGE_CASES["raw html inline"]))
    assert "&lt;script&gt;" in html and "&lt;div&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script" not in html and "<div" not in html and "<b>" not in html


def test_the_engine_frees_what_it_allocates() -> None:
    import resource

    from builder.markup import engine_html

    body = corpus_pages(1).__next__().body
    for _ in range(300):
        engine_html(body, lambda url: url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3000):
        engine_html(body, lambda url: url)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 20_000, f"{grown_kb} kB more after 3,000 renders"
