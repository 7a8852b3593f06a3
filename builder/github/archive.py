"""Generated archive entries from a snapshot, as plain data: build history by month and a source summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser

from builder.github.snapshot import Commit, MergedPull, Release, Snapshot, parse_time
from builder.markup import engine_html

FAILING = frozenset({"failure", "timed_out", "startup_failure", "action_required"})
# runs of someone's proposed change, never evidence about the default branch
PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target", "pull_request_review",
                                 "pull_request_review_comment", "merge_group"})
CI_WORDS = {"success": "CI green", "failure": "CI failed", "timed_out": "CI timed out", "cancelled": "CI cancelled",
            "skipped": "CI skipped", "neutral": "CI neutral", "action_required": "CI needs approval",
            "startup_failure": "CI failed to start", None: "no CI run found"}


@dataclass(frozen=True)
class HistoryItem:
    kind: str  # "pull" or "release"
    label: str  # "#42" or "v1.2.0"
    title: str
    url: str
    when: str  # ISO 8601
    ci: str | None


@dataclass(frozen=True)
class HistoryMonth:
    month: str  # "2026-11"
    items: tuple[HistoryItem, ...]

    @property
    def last_day(self) -> date:
        newest = max(parse_time(item.when) for item in self.items)
        return newest.date()


@dataclass(frozen=True)
class SourceSummary:
    repository: str
    url: str
    description: str
    default_branch: str
    size_kb: int
    languages: tuple[tuple[str, float], ...]  # (language, percent), largest first
    layout: tuple[tuple[str, str], ...]
    readme_intro: str
    recent_commits: tuple[Commit, ...]
    commits_last_30_days: int
    pushed_at: str | None


def ci_word(conclusion: str | None) -> str:
    return CI_WORDS.get(conclusion, f"CI {conclusion}")


def build_history(snapshot: Snapshot) -> list[HistoryMonth]:
    """Merged pull requests and releases grouped by month, newest month first, newest item first."""
    items = [_pull_item(pull) for pull in snapshot.pulls] + [_release_item(release) for release in snapshot.releases]
    months: dict[str, list[HistoryItem]] = {}
    for item in items:
        months.setdefault(item.when[:7], []).append(item)
    return [
        HistoryMonth(month, tuple(sorted(entries, key=lambda i: (i.when, i.kind, i.label), reverse=True)))
        for month, entries in sorted(months.items(), reverse=True)
    ]


def _pull_item(pull: MergedPull) -> HistoryItem:
    return HistoryItem("pull", f"#{pull.number}", pull.title, pull.url, pull.merged_at, pull.ci)


def _release_item(release: Release) -> HistoryItem:
    return HistoryItem("release", release.tag, release.name or release.tag, release.url, release.published_at,
                       release.ci)


def source_summary(snapshot: Snapshot) -> SourceSummary | None:
    source = snapshot.source
    if source is None:
        return None
    total = sum(source.languages.values()) or 1
    languages = tuple(
        (name, round(100 * size / total, 1))
        for name, size in sorted(source.languages.items(), key=lambda pair: (-pair[1], pair[0]))
    )
    fetched = snapshot.fetched
    recent = sum(1 for commit in source.recent_commits if (fetched - parse_time(commit.date)).days < 30)
    return SourceSummary(
        repository=source.full_name, url=source.url, description=source.description,
        default_branch=source.default_branch, size_kb=source.size_kb, languages=languages,
        layout=tuple(sorted(source.layout, key=lambda entry: (entry[1] != "dir", entry[0].lower()))),
        readme_intro=source.readme_intro, recent_commits=tuple(source.recent_commits),
        commits_last_30_days=recent, pushed_at=source.pushed_at,
    )


class _Paragraphs(HTMLParser):
    """The text of each <p> in rendered Markdown, with "" for one that opens with an image (a badge)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.current: list[str] | None = None
        self.badge = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self.current, self.badge = [], False
        elif tag == "img" and self.current is not None and not "".join(self.current).strip():
            self.badge = True
        elif tag == "br" and self.current is not None:
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self.current is not None:
            text = "" if self.badge else " ".join("".join(self.current).split())
            self.paragraphs.append("" if text.startswith("<") else text)  # raw HTML shown as text
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.current.append(data)


def first_paragraph(markdown: str) -> str:
    """The README's first prose paragraph as plain text (skips headings, badges and HTML)."""
    parser = _Paragraphs()
    parser.feed(engine_html(markdown))
    parser.close()
    return next((text for text in parser.paragraphs if text), "")
