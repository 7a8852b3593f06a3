"""View data for templates: plain frozen objects built from the content graph (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from builder.content.gate_history import StatusChange
from builder.content.models import STATUS_LABELS
from builder.content.structure import Page

STATUS_SYMBOLS = {"complete": "✓", "in-progress": "◐", "planned": "○"}


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


@dataclass(frozen=True)
class WorkstreamView:
    page: Page
    description: Markup
    gates: list[GateView] = field(default_factory=list)


@dataclass(frozen=True)
class DependencyView:
    text: Markup
    task: Page | None


@dataclass(frozen=True)
class ArchiveKindView:
    key: str
    label: str
    url: str
    entries: list[Page]
