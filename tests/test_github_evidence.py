"""Evidence summaries, contradictions, owner/repo#N links and generated archive entries: pure functions."""

from __future__ import annotations

from builder.content.models import Evidence
from builder.github.archive import build_history, first_paragraph, source_summary
from builder.github.evidence import format_duration, summarise
from builder.github.pages import escape_markdown, generated_pages
from builder.github.refs import refs_in_markdown, refs_plugin
from builder.github.snapshot import (
    Check,
    Commit,
    LinkedIssue,
    MergedPull,
    Milestone,
    Release,
    Run,
    Snapshot,
    SourceInfo,
)
from builder.markup import Markdown

REPO = "acme/giftboard"


def issue(number: int, state: str, kind: str = "issue", title: str = "") -> LinkedIssue:
    return LinkedIssue(ref=f"{REPO}#{number}", kind=kind, state=state,  # type: ignore[arg-type]
                       title=title or f"Item {number}", url=f"https://github.com/{REPO}/issues/{number}")


def run(run_id: int, conclusion: str | None, status: str = "completed") -> Run:
    return Run(id=run_id, name="CI", path=".github/workflows/ci.yml", event="push", status=status,
               conclusion=conclusion, created_at="2026-11-20T10:00:00Z", started_at="2026-11-20T10:00:40Z",
               updated_at="2026-11-20T10:03:52Z", head_sha="a" * 40, head_branch="main",
               url=f"https://github.com/{REPO}/actions/runs/{run_id}")


SNAPSHOT = Snapshot(
    repository=REPO,
    fetched_at="2026-11-25T12:00:00Z",
    issues={i.ref: i for i in [issue(1, "closed"), issue(2, "closed"), issue(3, "closed"), issue(4, "open"),
                               issue(5, "merged", "pull"), issue(6, "draft", "pull", "Draft <b>work</b>")]},
    workflows={"ci.yml": [run(2, "success"), run(1, "failure")], "generate.yml": [run(3, "failure")]},
    checks={"build": Check(name="build", status="completed", conclusion="success", completed_at=None, url=""),
            "lint": Check(name="lint", status="completed", conclusion="failure", completed_at=None, url="")},
    milestones={"1": Milestone(number=1, title="Launch", state="open", open_issues=2, closed_issues=6,
                               due_on=None, url="")},
)


def test_summary_reads_like_the_board_needs_it() -> None:
    evidence = Evidence(links=[f"{REPO}#{n}" for n in (1, 2, 3, 4)], workflow="ci.yml")
    view = summarise(evidence, SNAPSHOT, status="in-progress")
    assert view is not None
    assert view.summary == "3 of 4 linked issues closed, last CI run green"
    assert view.contradiction is None
    assert view.runs[0].duration == "3m 12s" and view.runs[0].queued == "40s"


def test_gate_marked_complete_with_an_open_issue_or_failing_evidence_is_a_contradiction() -> None:
    evidence = Evidence(links=[f"{REPO}#1", f"{REPO}#4", f"{REPO}#6"], workflow="generate.yml",
                        checks=["build", "lint"], milestone=1)
    view = summarise(evidence, SNAPSHOT, status="complete")
    assert view is not None
    assert view.contradiction == (
        "declared complete, but acme/giftboard#4 is open; acme/giftboard#6 is draft; the last CI run failed; "
        "check 'lint' failed; milestone Launch has 2 open issues"
    )
    assert "1 of 2 linked checks green" in view.summary and "milestone Launch: 6 of 8 issues closed" in view.summary
    assert summarise(evidence, SNAPSHOT, status="in-progress").contradiction is None  # type: ignore[union-attr]


def test_complete_gate_whose_evidence_is_done_has_no_contradiction() -> None:
    view = summarise(Evidence(links=[f"{REPO}#1", f"{REPO}#5"], workflow="ci.yml"), SNAPSHOT, status="complete")
    assert view is not None and view.contradiction is None
    assert view.summary == "2 of 2 linked issues and pull requests done, last CI run green"


def test_without_a_snapshot_links_show_without_state_and_nothing_is_claimed() -> None:
    view = summarise(Evidence(links=[f"{REPO}#4"]), None, status="complete")
    assert view is not None and not view.live and view.contradiction is None
    assert view.links[0].url == f"https://github.com/{REPO}/issues/4"
    assert summarise(Evidence(), SNAPSHOT) is None


def test_unknown_references_are_reported_as_not_found() -> None:
    view = summarise(Evidence(links=[f"{REPO}#99"]), SNAPSHOT, status="planned")
    assert view is not None and view.summary == "1 linked item not found"


def test_durations() -> None:
    assert [format_duration(s) for s in (0, 59.6, 192, 7260)] == ["0s", "1m 0s", "3m 12s", "2h 1m"]


# -- owner/repo#N in Markdown ----------------------------------------------------------------------------------

def render(text: str, snapshot: Snapshot | None = SNAPSHOT) -> str:
    return str(Markdown(plugins=[refs_plugin(snapshot)]).render(text))


def test_refs_become_links_decorated_with_state_and_title() -> None:
    html = render(f"See {REPO}#6 and {REPO}#5.")
    assert (f'<a href="https://github.com/{REPO}/issues/6" class="gh-ref gh-ref-draft" '
            f'title="Draft &lt;b&gt;work&lt;/b&gt;">{REPO}#6 <span class="gh-state gh-state-draft">draft</span></a>'
            ) in html
    assert "gh-ref-merged" in html and ">merged</span>" in html


def test_refs_without_a_snapshot_are_plain_links() -> None:
    html = render(f"{REPO}#4", None)
    assert html.strip() == f'<p><a href="https://github.com/{REPO}/issues/4" class="gh-ref">{REPO}#4</a></p>'


def test_refs_leave_code_urls_and_existing_links_alone() -> None:
    text = f"`{REPO}#4` https://github.com/{REPO}#4 [{REPO}#4](https://example.com/) docs/{REPO}#4"
    html = render(text)
    assert "gh-ref" not in html
    assert refs_in_markdown(text) == []
    assert refs_in_markdown(f"Tracked in {REPO}#3, see `{REPO}#4`.") == [f"{REPO}#3"]


def test_hostile_titles_stay_text() -> None:
    hostile = Snapshot(repository=REPO, fetched_at="2026-11-25T12:00:00Z",
                       issues={f"{REPO}#7": issue(7, "open", title='"><script>alert(1)</script>')})
    html = render(f"{REPO}#7", hostile)
    assert "<script" not in html and "&lt;script&gt;" in html


# -- generated archive ---------------------------------------------------------------------------------------

ARCHIVE = Snapshot(
    repository=REPO,
    fetched_at="2026-11-25T12:00:00Z",
    pulls=[MergedPull(number=12, title="Read-only *source*", merged_at="2026-11-21T12:00:00Z",
                      url="https://github.com/a/b/pull/12", ci="success"),
           MergedPull(number=9, title="Proof", merged_at="2026-10-02T12:00:00Z", url="https://github.com/a/b/pull/9",
                      ci="failure")],
    releases=[Release(tag="v0.1.0", name="Phase 1", published_at="2026-10-03T09:00:00Z",
                      url="https://github.com/a/b/releases/tag/v0.1.0", prerelease=False)],
    source=SourceInfo(full_name=REPO, url=f"https://github.com/{REPO}", default_branch="main", size_kb=2048,
                      pushed_at="2026-11-24T18:00:00Z", languages={"Python": 900, "HTML": 100},
                      layout=[("README.md", "file"), ("builder", "dir")], readme_intro="Builds boards.",
                      recent_commits=[Commit(sha="abc1234", message="Add it", date="2026-11-24T10:00:00Z",
                                             author="mona"),
                                      Commit(sha="def5678", message="Old", date="2026-09-01T10:00:00Z",
                                             author="mona")]),
)


def test_build_history_is_grouped_by_month_newest_first() -> None:
    months = build_history(ARCHIVE)
    assert [m.month for m in months] == ["2026-11", "2026-10"]
    assert [item.label for item in months[1].items] == ["v0.1.0", "#9"]
    assert months[1].last_day.isoformat() == "2026-10-03"


def test_source_summary_shares_layout_and_activity() -> None:
    summary = source_summary(ARCHIVE)
    assert summary is not None
    assert summary.languages == (("Python", 90.0), ("HTML", 10.0))
    assert summary.layout == (("builder", "dir"), ("README.md", "file"))
    assert summary.commits_last_30_days == 1


def test_generated_pages_are_archive_entries_with_escaped_text() -> None:
    pages = generated_pages(ARCHIVE)
    assert [(p.archive_kind, p.slug) for p in pages] == [
        ("history", "github-2026-11"), ("history", "github-2026-10"), ("summaries", "github-acme-giftboard")]
    assert all(p.generated for p in pages)
    assert "Read\\-only \\*source\\*" in pages[0].body
    html = str(Markdown().render(pages[0].body))
    assert "Read-only *source*" in html and "CI green" in html
    assert pages[1].meta.summary == "1 pull request merged, 1 release; CI green on 0 of 2."
    assert generated_pages(None) == []


def test_readme_first_paragraph_skips_headings_and_badges() -> None:
    readme = ("# Title\n\n[![CI](https://x/badge.svg)](https://x)\n\n<p align=center>logo</p>\n\n"
              "Giftboard **builds**\nboards.\n")
    assert first_paragraph(readme) == "Giftboard builds boards."
    assert escape_markdown("a_b [c]") == "a\\_b \\[c\\]"
    assert Markdown().html(escape_markdown("1. *x*")).strip() == "<p>1. *x*</p>"
