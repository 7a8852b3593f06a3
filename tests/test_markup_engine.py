"""The cmark-gfm engine renders what the markdown-it-py pipeline rendered: a differential test.

The reference is the previous implementation, kept here test-only: markdown-it-py (commonmark + table +
strikethrough, raw HTML off), the tasklists and anchors (h2/h3) plugins, the core rule that rewrote and checked
links, and the token-based `owner/repo#N` rule. Both outputs go through the same nh3 policy and are then compared
after this normalisation:

- attributes are sorted by name (the engines write them in different orders; nh3 keeps the order it is given);
- text that is only whitespace and touches a block-level tag is dropped, and the whitespace inside other text is
  not changed (so `<em>a</em> <em>b</em>` keeps its space, while markdown-it's newline after `<table>` and
  cmark's absence of one compare equal);
- nothing else: tags, text, entities (decoded), hrefs, ids, classes and the `path:line` diagnostics must be equal.

The few inputs where the engines really differ are listed in `KNOWN_DIFFERENCES`, each with the reason, and are
checked to still differ only as described (so the list cannot go stale silently).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

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
from builder.markup import LinkContext, Markdown, sanitize
from builder.site.build import BuildOptions, Site
from tests.board_fixtures import CONTENT

REPO = "acme/giftboard"


# -- the reference: the markdown-it-py pipeline as it was --------------------------------------------------------

def _reference_rewrite_links(state: StateCore) -> None:
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
                context.problems.append(context.broken(href, context.line_for(block.map, href)))
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


class ReferenceMarkdown:
    """The markdown-it-py pipeline the engine replaced (same public surface as `builder.markup.Markdown`)."""

    def __init__(self, snapshot: Snapshot | None = None, refs: bool = True) -> None:
        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        md.use(tasklists_plugin, enabled=False)
        md.use(anchors_plugin, min_level=2, max_level=3, permalink=False)
        if refs:
            _reference_refs_plugin(snapshot)(md)
        md.core.ruler.push("giftboard_links", _reference_rewrite_links)
        self.md = md

    def render(self, text: str, context: LinkContext | None = None) -> Markup:
        env: dict[str, object] = {}
        if context is not None:
            context.body_lines = text.splitlines()
            env["links"] = context
        return sanitize(self.md.render(text, env))

    def render_inline(self, text: str) -> Markup:
        return sanitize(self.md.renderInline(text))


# -- normalisation --------------------------------------------------------------------------------------------

BLOCK_TAGS = frozenset(
    "html head body header footer main nav section article aside div p ul ol li table thead tbody tr th td "
    "h1 h2 h3 h4 h5 h6 pre blockquote hr title meta link script style figure figcaption dl dt dd form".split()
)


class _Canonical(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        rendered = " ".join(f'{name}="{value or ""}"' for name, value in sorted(attrs))
        self.items.append(("start", f"<{tag} {rendered}>" if attrs else f"<{tag}>"))

    def handle_endtag(self, tag: str) -> None:
        self.items.append(("end", f"</{tag}>"))

    def handle_data(self, data: str) -> None:
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
    "nested strong with the same delimiters": (
        "cmark-gfm (CommonMark 0.29 delimiter rules) makes one <strong> of `**a **b** c**`, markdown-it nests a "
        "second one around `b`; the text is the same and all of it is strong either way",
        "<strong>\n'b'\n</strong>", "<strong>\n'a b c'\n</strong>"),
    "refs with an escaped hash": (
        "markdown-it's refs rule ran before escapes and entities were joined into the text, so `a/b\\#6` and "
        "`a/b&#35;6` happened to stay unlinked; the engine's post-processor sees the text `a/b#6` and links it",
        "'a/b#6 a/b#6'", 'class="gh-ref"'),
    "backslash before a ref": (
        "the same token split: markdown-it cut `\\acme/giftboard#6` after `\\a` and linked `cme/giftboard#6`, a "
        "wrong reference; the engine links `acme/giftboard#6`",
        "https://github.com/cme/giftboard/issues/6", "https://github.com/acme/giftboard/pull/6"),
    "internationalised host": (
        "markdown-it writes a non-ASCII host in punycode, cmark percent-encodes its UTF-8; browsers parse both to "
        "the same URL (the WHATWG URL parser decodes the host and applies IDNA)",
        "https://xn--bcher-kva.example/", "https://b%C3%BCcher.example/"),
    "unclosed fence at the end": (
        "a fence left open at the end of a file with no final newline: cmark ends the code with a newline, "
        "markdown-it does not; a trailing newline in <pre> is not displayed",
        "'code\\n\\n```python\\nno newline at the end'", "'code\\n\\n```python\\nno newline at the end\\n'"),
    "one-column table without pipes in the delimiter row": (
        "GFM needs a pipe in the delimiter row of a one-column table (`| a |` over `| --- |`); markdown-it "
        "accepts `| a` over `---`, which cmark reads as a setext heading. Both are valid Markdown readings",
        "<table>", '<h2 id="-a">'),
    "tab after a task marker": (
        "markdown-it's tasklists plugin accepts `[x]` followed by a tab but then drops the marker without drawing "
        "the checkbox; cmark-gfm draws the checkbox",
        "<li class=\"task-list-item\">\n'\\tc'", 'type="checkbox"'),
    "invalid percent escape": (
        "markdown-it encodes a `%` that is not followed by two hex digits as `%25`, cmark leaves it; browsers "
        "read a stray `%` literally either way",
        "%41%25zz", "%41%zz"),
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
    assert actual_problems == expected_problems


def test_a_generated_corpus_renders_the_same() -> None:
    for page in corpus_pages(200):
        (expected, expected_problems), (actual, actual_problems) = both(page.body)
        assert actual == expected, page.slug
        assert actual_problems == expected_problems


def test_inline_fields_render_the_same() -> None:
    for text in ["Gift page *safety* is a launch dependency", f"Tracked in {REPO}#6 and `{REPO}#6`",
                 "[x](javascript:alert(3)) <script>x</script>", "1. not a list", "# not a heading", "a\nb"]:
        expected = ReferenceMarkdown(SNAPSHOT).render_inline(text)
        assert normalise(Markdown(plugins=[refs_plugin(SNAPSHOT)]).render_inline(text)) == normalise(expected)


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

    from builder.markup import cmark_html

    body = corpus_pages(1).__next__().body
    for _ in range(300):
        cmark_html(body)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3000):
        cmark_html(body)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 20_000, f"{grown_kb} kB more after 3,000 renders"
