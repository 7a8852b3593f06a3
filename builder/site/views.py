"""View data for templates: plain frozen objects built from the content graph (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from markupsafe import Markup

from builder.content.gate_history import StatusChange
from builder.content.models import STATUS_LABELS
from builder.content.structure import Page

STATUS_SYMBOLS = {"complete": "✓", "in-progress": "◐", "blocked": "⊘", "planned": "○"}


@dataclass(frozen=True)
class Status:
    value: str

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.value]

    @property
    def symbol(self) -> str:
        return STATUS_SYMBOLS[self.value]


@dataclass(frozen=True)
class GateView:
    page: Page
    status: Status
    description: Markup
    workstream: Page | None
    evidence: object | None = None  # filled by the GitHub source when a snapshot is present
    history: list[StatusChange] = field(default_factory=list)  # oldest first, from git; empty outside git
    owner: str | None = None
    due: date | None = None
    overdue: bool = False  # not complete and its due date has passed
    blocked_reason: str | None = None

    @property
    def complete(self) -> bool:
        return self.status.value == "complete"

    @property
    def facts(self) -> str:
        """Owner and target date in a few words: "Dana, due 2026-12-15, overdue" ("" when neither is set)."""
        parts = [self.owner] if self.owner else []
        if self.due:
            parts.append(f"due {self.due.isoformat()}")
        if self.overdue:
            parts.append("overdue")
        return ", ".join(parts)
    criteria: object | None = None  # a CriteriaView when the gate declares criteria


@dataclass(frozen=True)
class WorkstreamView:
    page: Page
    description: Markup
    gates: list[GateView] = field(default_factory=list)

    @property
    def complete(self) -> int:
        return sum(1 for gate in self.gates if gate.complete)

    @property
    def progress(self) -> str:
        """"1 of 2 gates complete", "No gates yet"."""
        if not self.gates:
            return "No gates yet"
        return f"{self.complete} of {len(self.gates)} gate{'s' if len(self.gates) != 1 else ''} complete"


@dataclass(frozen=True)
class Readiness:
    """The board's first answer: how many gates are complete and which ones still block launch."""

    complete: int
    total: int
    blocking: list[GateView]  # blocked first, then overdue, then by due date, then in board order

    @property
    def ready(self) -> bool:
        return self.total > 0 and not self.blocking


@dataclass(frozen=True)
class DependencyView:
    text: Markup  # the text with the named task's id linked in place
    task: Page | None
    done: bool  # the named archived task is done, or every linked issue is closed

    @property
    def state(self) -> str:
        return "done" if self.done else "open"

    @property
    def symbol(self) -> str:
        return "✓" if self.done else "○"

    @property
    def label(self) -> str:
        return "Done" if self.done else "Open"


@dataclass(frozen=True)
class ArchiveKindView:
    key: str
    label: str
    url: str
    entries: list[Page]
