"""Evaluate a gate's `criteria:` from what the build already has: the GitHub snapshot and named metrics.

Each criterion is met, not met, or has no data, and says its value. A gate declared `complete` with a criterion
that is not met, or that has no data although its source was read (a check that never ran on the default
branch, a metric nobody measured), is a contradiction: a warning on the page and a `--strict` failure at the
gate's `status:` line. Without a GitHub snapshot the GitHub criteria are unknown, and claim nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from builder.content.models import LINKED_ISSUES, METRIC_PATTERN, Criterion, GateMeta
from builder.content.structure import Page
from builder.errors import Diagnostic
from builder.github.evidence import RUN_WORDS, default_branch_runs
from builder.github.refs import STATE_LABELS, issue_url
from builder.github.snapshot import Snapshot
from builder.site.gate_metrics import Metric

State = Literal["met", "unmet", "no-data"]
WORDS: dict[str, str] = {"met": "met", "unmet": "not met", "no-data": "no data"}
SYMBOLS: dict[str, str] = {"met": "✓", "unmet": "✗", "no-data": "?"}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class CriterionResult:
    text: str  # the team's label, or what the criterion checks
    state: State
    value: str  # what was found: "closed", "failed", "50.1", "never ran on the default branch" …
    source: str = ""  # "GitHub", "ops summary", "benchmarks/results/intake.json"
    url: str = ""
    known_source: bool = True  # False when the source itself is absent (no snapshot): unknown, not missing

    @property
    def word(self) -> str:
        return WORDS[self.state]

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.state]

    @property
    def contradicts_complete(self) -> bool:
        return self.state == "unmet" or (self.state == "no-data" and self.known_source)


@dataclass(frozen=True)
class CriteriaView:
    results: tuple[CriterionResult, ...]
    contradiction: str | None

    @property
    def summary(self) -> str:
        met = sum(1 for result in self.results if result.state == "met")
        missing = sum(1 for result in self.results if result.state == "no-data")
        text = f"{met} of {len(self.results)} criteri{'on' if len(self.results) == 1 else 'a'} met"
        return text + (f", {missing} with no data" if missing else "")


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.1f}"


class CriteriaEvaluator:
    """Evaluates every gate's criteria against one snapshot and one set of metrics."""

    def __init__(self, snapshot: Snapshot | None, metrics: dict[str, Metric]) -> None:
        self.snapshot = snapshot
        self.metrics = metrics
        self._views: dict[str, CriteriaView | None] = {}

    def view(self, gate: Page) -> CriteriaView | None:
        meta = gate.meta
        if not isinstance(meta, GateMeta) or not meta.criteria:
            return None
        if gate.content_path not in self._views:
            results = tuple(self.evaluate(criterion, meta.links) for criterion in meta.criteria)
            self._views[gate.content_path] = CriteriaView(results, contradiction(meta.status, results))
        return self._views[gate.content_path]

    def contradictions(self, gates: list[Page]) -> list[Diagnostic]:
        problems = []
        for gate in gates:
            view = self.view(gate)
            if view is not None and view.contradiction:
                problems.append(Diagnostic(gate.display_path, gate.line_of("status"),
                                           f"gate status contradicts its criteria: {view.contradiction}"))
        return problems

    def evaluate(self, criterion: Criterion, links: list[str] | None = None) -> CriterionResult:
        kind = criterion.kind
        if kind == "metric":
            return self.metric(criterion)
        if self.snapshot is None:
            return CriterionResult(self.text(criterion), "no-data", "no GitHub snapshot", known_source=False)
        if kind == "issue" and criterion.issue == LINKED_ISSUES:
            return self.linked(criterion, self.snapshot, links or [])
        if kind == "issue":
            return self.issue(criterion, self.snapshot)
        if kind == "workflow":
            return self.workflow(criterion, self.snapshot)
        return self.check(criterion, self.snapshot)

    @staticmethod
    def text(criterion: Criterion) -> str:
        if criterion.label:
            return criterion.label
        if criterion.issue == LINKED_ISSUES:
            return "linked issues closed"
        if criterion.issue:
            return f"{criterion.issue} closed"
        if criterion.workflow:
            return f"{criterion.workflow} green on the default branch"
        if criterion.check:
            return f"check '{criterion.check}' green on the default branch"
        return str(criterion.metric)

    def issue(self, criterion: Criterion, snapshot: Snapshot) -> CriterionResult:
        ref = str(criterion.issue)
        found = snapshot.issues.get(ref)
        if found is None or found.state == "missing":
            return CriterionResult(self.text(criterion), "no-data", "not found on GitHub", "GitHub", issue_url(ref))
        state: State = "met" if found.state in ("closed", "merged") else "unmet"
        return CriterionResult(self.text(criterion), state, STATE_LABELS[found.state], "GitHub",
                               issue_url(ref, found))

    def linked(self, criterion: Criterion, snapshot: Snapshot, links: list[str]) -> CriterionResult:
        found = [snapshot.issues.get(ref) for ref in links]
        known = [issue for issue in found if issue is not None and issue.state != "missing"]
        if not links or len(known) != len(links):
            value = "the gate links no issue" if not links else f"{len(links) - len(known)} linked item(s) not found"
            return CriterionResult(self.text(criterion), "no-data", value, "GitHub")
        done = sum(1 for issue in known if issue.state in ("closed", "merged"))
        state: State = "met" if done == len(known) else "unmet"
        return CriterionResult(self.text(criterion), state, f"{done} of {len(known)} closed", "GitHub")

    def workflow(self, criterion: Criterion, snapshot: Snapshot) -> CriterionResult:
        name = str(criterion.workflow)
        finished = [run for run in default_branch_runs(snapshot, name) if run.status == "completed"]
        if not finished:
            return CriterionResult(self.text(criterion), "no-data", "never ran on the default branch", "GitHub")
        run = finished[0]
        state: State = "met" if run.conclusion == "success" else "unmet"
        word = RUN_WORDS.get(run.conclusion or "", run.conclusion or "unknown")
        return CriterionResult(self.text(criterion), state, f"last run {word}", "GitHub", run.url)

    def check(self, criterion: Criterion, snapshot: Snapshot) -> CriterionResult:
        name = str(criterion.check)
        found = snapshot.checks.get(name)
        if found is None:
            return CriterionResult(self.text(criterion), "no-data", "never ran on the default branch", "GitHub")
        if found.status != "completed":
            return CriterionResult(self.text(criterion), "no-data", found.status.replace("_", " "), "GitHub",
                                   found.url)
        state: State = "met" if found.conclusion == "success" else "unmet"
        word = RUN_WORDS.get(found.conclusion or "", found.conclusion or "unknown")
        return CriterionResult(self.text(criterion), state, word, "GitHub", found.url)

    def metric(self, criterion: Criterion) -> CriterionResult:
        match = METRIC_PATTERN.match(str(criterion.metric))
        assert match is not None  # the model validated it
        name, op, target = match["name"], match["op"], float(match["value"])
        found = self.metrics.get(name)
        if found is None:
            return CriterionResult(self.text(criterion), "no-data", f"no value for {name}")
        state: State = "met" if COMPARE[op](found.value, target) else "unmet"
        return CriterionResult(self.text(criterion), state, f"{name} = {format_number(found.value)}", found.source)


def contradiction(status: str, results: tuple[CriterionResult, ...]) -> str | None:
    if status != "complete":
        return None
    reasons = [f"“{result.text}” {'has no data' if result.state == 'no-data' else 'is not met'} ({result.value})"
               for result in results if result.contradicts_complete]
    return "declared complete, but " + "; ".join(reasons) if reasons else None
