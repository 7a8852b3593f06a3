"""`owner/repo#N` in Markdown text becomes a link to the issue or pull request, with its live state and title.

A markdown-it-py core rule after inline parsing: it splits text tokens (never code, never text already
inside a link) so that the output is plain `<a>` and `<span>` with `class`/`title`, which the project's
nh3 policy keeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from builder.github.snapshot import LinkedIssue, Snapshot

# not preceded by a word character, slash, dot or dash, so URLs and paths are left alone
REF = re.compile(r"(?<![\w/.@-])(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>[0-9]+)\b")
STATE_LABELS = {"open": "open", "closed": "closed", "merged": "merged", "draft": "draft", "missing": "not found"}
WEB_URL = "https://github.com"


def issue_url(ref: str, issue: LinkedIssue | None = None) -> str:
    if issue is not None and issue.url:
        return issue.url
    repo, _, number = ref.partition("#")
    return f"{WEB_URL}/{repo}/issues/{number}"  # GitHub redirects issues/N to pull/N for pull requests


def iter_refs(text: str) -> Iterator[re.Match[str]]:
    return REF.finditer(text)


def _ref_tokens(ref: str, issue: LinkedIssue | None) -> list[Token]:
    link = Token("link_open", "a", 1)
    classes = "gh-ref" + (f" gh-ref-{issue.state}" if issue else "")
    link.attrs = {"href": issue_url(ref, issue), "class": classes}
    if issue is not None and issue.title:
        link.attrs["title"] = issue.title
    label = Token("text", "", 0, content=ref)
    tokens = [link, label]
    if issue is not None:
        state_open = Token("html_inline", "", 0)
        state_open.content = f'<span class="gh-state gh-state-{issue.state}">'
        state_text = Token("text", "", 0, content=STATE_LABELS[issue.state])
        state_close = Token("html_inline", "", 0, content="</span>")
        tokens += [Token("text", "", 0, content=" "), state_open, state_text, state_close]
    tokens.append(Token("link_close", "a", -1))
    return tokens


def _split(token: Token, snapshot: Snapshot | None) -> list[Token]:
    pieces: list[Token] = []
    position = 0
    for match in iter_refs(token.content):
        if match.start() > position:
            pieces.append(Token("text", "", 0, content=token.content[position : match.start()]))
        ref = match.group(0)
        pieces.extend(_ref_tokens(ref, snapshot.issue(ref) if snapshot else None))
        position = match.end()
    if not pieces:
        return [token]
    if position < len(token.content):
        pieces.append(Token("text", "", 0, content=token.content[position:]))
    return pieces


def refs_plugin(snapshot: Snapshot | None) -> Callable[[MarkdownIt], None]:
    """A markdown-it plugin linking `owner/repo#N`; decorated from `snapshot` when it has the item."""

    def link_refs(state: StateCore) -> None:
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            children: list[Token] = []
            depth = 0
            for child in block.children:
                if child.type == "link_open":
                    depth += 1
                elif child.type == "link_close":
                    depth -= 1
                if child.type == "text" and depth == 0 and "#" in child.content:
                    children.extend(_split(child, snapshot))
                else:
                    children.append(child)
            block.children = children

    def plugin(md: MarkdownIt) -> None:
        # our html_inline tokens are written here, not parsed from the source, so "html": False still holds
        md.core.ruler.after("inline", "github_refs", link_refs)

    return plugin


def refs_in_markdown(text: str) -> list[str]:
    """Every `owner/repo#N` the plugin would link in `text` (outside code and existing links), in order."""
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    found: list[str] = []
    for block in md.parse(text):
        depth = 0
        for child in block.children or []:
            depth += {"link_open": 1, "link_close": -1}.get(child.type, 0)
            if child.type == "text" and depth == 0:
                found.extend(match.group(0) for match in iter_refs(child.content))
    return found
