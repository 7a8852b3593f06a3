"""Pydantic models of what contributors write: site.yaml, the board, workstreams, gates, archive entries."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

TASK_ID_PATTERN = r"^[A-Z][A-Z0-9]{2,15}[0-9]{3}[A-Z]?$"
GITHUB_REF_PATTERN = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>[0-9]+)$")
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
GateStatus = Literal["complete", "in-progress", "blocked", "planned"]


class ContentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Evidence(ContentModel):
    """GitHub work an item points at; with a snapshot the page shows its live state."""

    links: list[str] = Field(default_factory=list, description="issues or pull requests as owner/repo#N")
    workflow: str | None = Field(default=None, description="a workflow file name, e.g. generate.yml")
    checks: list[Text] = Field(default_factory=list, description="check run names on the default branch")
    milestone: int | None = Field(default=None, ge=1)

    @field_validator("links")
    @classmethod
    def _links_are_github_refs(cls, links: list[str]) -> list[str]:
        for link in links:
            if not GITHUB_REF_PATTERN.match(link):
                raise ValueError(f"'{link}' is not a GitHub reference: write it as owner/repo#123")
        return links

    @field_validator("workflow")
    @classmethod
    def _workflow_is_a_file_name(cls, workflow: str | None) -> str | None:
        if workflow is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+\.ya?ml", workflow):
            raise ValueError("workflow must be a file name under .github/workflows/, e.g. generate.yml")
        return workflow

    @property
    def is_empty(self) -> bool:
        return not (self.links or self.workflow or self.checks or self.milestone)


class Labels(ContentModel):
    """The board's own words (site.yaml `labels:`): neutral defaults any team can keep or replace."""

    board: Text = Field(default="Board", description="the board in the site navigation and breadcrumbs")
    board_eyebrow: Text = Field(default="Launch-gate board", description="the line above the board's title")
    workstreams: Text = Field(default="Workstreams", description="heading of the workstream cards")
    gates: Text = Field(default="Launch gates", description="heading of the gates on the board")
    gate: Text = Field(default="Launch gate", description="the line above a gate page's title")
    dependencies: Text = Field(default="Launch dependencies", description="heading of the board's dependencies")
    dependencies_note: Text = "Work launch waits for beyond the gates, kept apart from the archive."
    invariants: Text = Field(default="Invariants", description="heading of the board's invariants")
    invariants_note: Text = "Rules every launch gate must keep true."
    archive: Text = Field(default="Archive", description="the archive in the navigation and as its page title")
    archive_eyebrow: Text = Field(default="Completed work", description="the line above the archive's title")
    archive_intro: Text = "Completed build history, decisions, lessons, source summaries and the task archive."
    archive_on_board: Text = Field(default="Archive", description="heading of the archive strip on the board")
    archive_note: Text = "Completed history stays visible here, apart from the gates above."


class Sections(ContentModel):
    """Names of the archive's sections (site.yaml `sections:`), one per folder under archive/."""

    history: Text = "Build history"
    decisions: Text = "Decisions"
    lessons: Text = "Lessons"
    summaries: Text = "Source summaries"
    tasks: Text = "Task archive"


class SiteConfig(ContentModel):
    """content/site.yaml."""

    title: Text
    description: Text = "Launch-gate board"
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = Field(
        default=None, description="absolute URL the site is published at (for the feed and sitemap)"
    )
    repository: Annotated[str, StringConstraints(pattern=REPOSITORY_PATTERN)] | None = Field(
        default=None, description="owner/repo on GitHub: what `sync` reads, and where edit-this-page links point"
    )
    branch: Text = Field(default="main", description="the repository's default branch, for edit-this-page links")
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)*$")] = "en"
    author: Text | None = Field(default=None, description="the feed's author (default: the site title)")
    labels: Labels = Field(default_factory=Labels)
    sections: Sections = Field(default_factory=Sections)

    @property
    def feed_author(self) -> str:
        return self.author or self.title


class Dependency(Evidence):
    """One launch dependency: text, optionally naming an archived task by its ID."""

    text: Text
    task: Annotated[str, StringConstraints(pattern=TASK_ID_PATTERN)] | None = None


class BoardMeta(ContentModel):
    """content/board.md front matter; the body is the intro prose."""

    title: Text
    summary: Text
    dependencies: list[Dependency] = Field(default_factory=list)
    invariants: list[Text] = Field(default_factory=list)


class WorkstreamMeta(ContentModel):
    """content/workstreams/<slug>.md; the body is the description."""

    area: Text
    title: Text
    order: int = 0


METRIC_PATTERN = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>-?[0-9]+(\.[0-9]+)?)$")


class Criterion(ContentModel):
    """One thing a gate needs, that the build checks from data it already has; exactly one of
    `issue` (closed or merged), `workflow` (last default-branch run green), `check` (latest default-branch
    check run green) or `metric` (`name <= number`, from the ops summary or benchmarks/results/*.json)."""

    label: Text | None = Field(default=None, description="what the criterion means, in the team's words")
    issue: str | None = Field(default=None, description="an issue or pull request as owner/repo#N, or `linked`: "
                                                       "every one in the gate's links")
    workflow: str | None = Field(default=None, description="a workflow file name, e.g. ci.yml")
    check: Text | None = Field(default=None, description="a check run name on the default branch")
    metric: str | None = Field(default=None, description="a comparison such as queue_latency_p95_ms <= 100")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Criterion:
        given = [name for name in CRITERION_KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a criterion names exactly one of issue, workflow, check or metric"
                             + (f" (this one has {', '.join(given)})" if given else ""))
        return self

    @field_validator("issue")
    @classmethod
    def _issue_is_a_github_ref(cls, issue: str | None) -> str | None:
        if issue is not None and issue != LINKED_ISSUES and not GITHUB_REF_PATTERN.match(issue):
            raise ValueError(f"'{issue}' is not a GitHub reference: write it as owner/repo#123, or `linked` for "
                             "every issue in the gate's links")
        return issue

    @field_validator("workflow")
    @classmethod
    def _workflow_is_a_file_name(cls, workflow: str | None) -> str | None:
        if workflow is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+\.ya?ml", workflow):
            raise ValueError("workflow must be a file name under .github/workflows/, e.g. ci.yml")
        return workflow

    @field_validator("metric")
    @classmethod
    def _metric_is_a_comparison(cls, metric: str | None) -> str | None:
        if metric is not None and not METRIC_PATTERN.match(metric):
            raise ValueError("write a metric as `name <= number` (or <, >, >=, ==, !=), "
                             "e.g. queue_latency_p95_ms <= 100")
        return metric

    @property
    def kind(self) -> str:
        return next(name for name in CRITERION_KINDS if getattr(self, name) is not None)


CRITERION_KINDS = ("issue", "workflow", "check", "metric")
LINKED_ISSUES = "linked"  # `issue: linked`: every issue and pull request in the gate's `links:` is done


class GateMeta(Evidence):
    """content/gates/<slug>.md; the body is the description."""

    title: Text
    status: GateStatus
    workstream: Slug
    order: int = 0
    owner: Text | None = Field(default=None, description="who answers for the gate (a person or a team)")
    due: date | None = Field(default=None, description="target date, YYYY-MM-DD; past it an open gate is overdue")
    blocked_reason: Text | None = Field(default=None, description="what blocks the gate (with status: blocked)")
    criteria: list[Criterion] = Field(default_factory=list, description="what the build checks for this gate")


class ArchiveMeta(ContentModel):
    title: Text
    date: date
    summary: Text | None = None
    tags: list[Slug] = Field(default_factory=list)

    @field_validator("date", mode="before")
    @classmethod
    def _date_is_written_as_iso(cls, value: object) -> object:
        # YAML hands dates over as text (see content.source); a number would otherwise pass as a Unix time
        if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.fullmatch(value.strip())):
            return value
        raise ValueError("expected a date as YYYY-MM-DD, e.g. 2026-03-14")


class HistoryMeta(ArchiveMeta, Evidence):
    """content/archive/history/: what was built, when."""


class DecisionMeta(ArchiveMeta):
    """content/archive/decisions/: ADR-style records."""

    status: Literal["proposed", "accepted", "superseded"]
    supersedes: Slug | None = None
    superseded_by: Slug | None = None
    gates: list[Slug] = Field(default_factory=list, description="gates this decision bears on (their file names)")


class LessonMeta(ArchiveMeta):
    """content/archive/lessons/: review lessons that guide the next branch."""

    gate: Slug | None = None


class SummaryMeta(ArchiveMeta):
    """content/archive/summaries/: source summaries (hand-written or generated by sync)."""

    source: str | None = None


class TaskMeta(ArchiveMeta, Evidence):
    """content/archive/tasks/: the historical task archive (IDs such as MUSIC001D)."""

    id: Annotated[str, StringConstraints(pattern=TASK_ID_PATTERN)]
    status: Literal["done", "partial", "dropped", "carried-forward"]
    outcome: Text


ARCHIVE_KINDS: dict[str, tuple[type[ArchiveMeta], str]] = {
    "history": (HistoryMeta, "Build history"),
    "decisions": (DecisionMeta, "Decisions"),
    "lessons": (LessonMeta, "Lessons"),
    "summaries": (SummaryMeta, "Source summaries"),
    "tasks": (TaskMeta, "Task archive"),
}

STATUS_LABELS: dict[str, str] = {
    "complete": "Complete", "in-progress": "In Progress", "blocked": "Blocked", "planned": "Planned",
}
