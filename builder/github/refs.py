"""`owner/repo#N` in Markdown text becomes a link to the issue or pull request, with its live state and title.

A post-processor of the Markdown engine's HTML (see `builder.markup.Plugin`): it links references in text, never
in code, preformatted blocks or text already inside a link, so that the output is plain `<a>` and `<span>` with
`class`/`title`, which the project's nh3 policy keeps. The engine escapes every `&`, `<`, `>` and `"` of the text,
so what is not a tag is text, and an escape (`&lt;`) ends in `;`, which the pattern never takes as part of a
reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from builder.github.snapshot import LinkedIssue, Snapshot
from builder.markup import engine_html

# not preceded by a word character, slash, dot or dash, so URLs and paths are left alone
REF = re.compile(r"(?<![\w/.@-])(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>[0-9]+)\b")
STATE_LABELS = {"open": "open", "closed": "closed", "merged": "merged", "draft": "draft", "missing": "not found"}
WEB_URL = "https://github.com"
QUICK = re.compile(r"/[A-Za-z0-9_.-]+#[0-9]")  # a cheap test for pages with no reference at all
TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*>")
SKIP = frozenset({"a", "code", "pre"})  # text inside these is never linked


def issue_url(ref: str, issue: LinkedIssue | None = None) -> str:
    if issue is not None and issue.url:
        return issue.url
    repo, _, number = ref.partition("#")
    return f"{WEB_URL}/{repo}/issues/{number}"  # GitHub redirects issues/N to pull/N for pull requests


def iter_refs(text: str) -> Iterator[re.Match[str]]:
    return REF.finditer(text)


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def ref_html(ref: str, issue: LinkedIssue | None) -> str:
    """The link for one reference: `<a href class [title]>ref [<span class>state</span>]</a>`."""
    classes = "gh-ref" + (f" gh-ref-{issue.state}" if issue else "")
    title = f' title="{_escape(issue.title)}"' if issue is not None and issue.title else ""
    state = (f' <span class="gh-state gh-state-{issue.state}">{STATE_LABELS[issue.state]}</span>'
             if issue is not None else "")
    return f'<a href="{_escape(issue_url(ref, issue))}" class="{classes}"{title}>{ref}{state}</a>'


def _outside_links(html: str) -> Iterator[tuple[str, bool]]:
    """The pieces of `html` in order, each with whether it is text a reference may be linked in (not a tag, not
    inside a link, code or preformatted block)."""
    position = 0
    skipping = 0
    for tag in TAG.finditer(html):
        text = html[position : tag.start()]
        if text:
            yield text, not skipping and "#" in text
        yield tag.group(0), False
        position = tag.end()
        if tag.group(2).lower() in SKIP:
            skipping = max(0, skipping + (-1 if tag.group(1) else 1))
    text = html[position:]
    if text:
        yield text, not skipping and "#" in text


def link_refs(html: str, snapshot: Snapshot | None) -> str:
    """`html` (the engine's output) with every `owner/repo#N` in text outside links and code linked."""
    if "#" not in html or QUICK.search(html) is None or REF.search(html) is None:
        return html

    def link(match: re.Match[str]) -> str:
        ref = match.group(0)
        return ref_html(ref, snapshot.issue(ref) if snapshot else None)

    return "".join(REF.sub(link, piece) if linkable else piece for piece, linkable in _outside_links(html))


def refs_plugin(snapshot: Snapshot | None) -> Callable[[str], str]:
    """A Markdown plugin linking `owner/repo#N`; decorated from `snapshot` when it has the item."""

    def plugin(html: str) -> str:
        return link_refs(html, snapshot)

    return plugin


def refs_in_markdown(text: str) -> list[str]:
    """Every `owner/repo#N` the plugin would link in `text` (outside code and existing links), in order."""
    if QUICK.search(text) is None:
        return []
    return [match.group(0) for piece, linkable in _outside_links(engine_html(text)) if linkable
            for match in iter_refs(piece)]
