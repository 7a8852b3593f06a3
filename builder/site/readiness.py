"""Readiness at a glance: what still blocks launch, most urgent first (pure functions, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from markupsafe import Markup, escape

from builder.content.models import GateMeta
from builder.site.views import GateView, Readiness, WorkstreamView

NO_SPACE_BEFORE = re.compile(r"^[.,;:!?)\]]")
NO_SPACE_AFTER = re.compile(r"[(\[]$")


def is_overdue(meta: GateMeta, today: date) -> bool:
    return meta.status != "complete" and meta.due is not None and meta.due < today


def readiness(gates: list[GateView]) -> Readiness:
    """Count complete gates and list the others: blocked, then overdue, then by due date, then board order."""
    open_gates = [gate for gate in gates if not gate.complete]
    ranked = sorted(
        enumerate(open_gates),
        key=lambda item: (item[1].status.value != "blocked", not item[1].overdue,
                          item[1].due or date.max, item[0]),
    )
    return Readiness(complete=len(gates) - len(open_gates), total=len(gates), blocking=[g for _i, g in ranked])


def gate_groups(workstreams: Iterable[WorkstreamView]) -> list[WorkstreamView]:
    """Workstreams that hold gates, in the order their first gate appears on the board."""
    with_gates = [stream for stream in workstreams if stream.gates]
    return sorted(with_gates, key=lambda stream: min(gate.page.meta.order for gate in stream.gates))  # type: ignore[union-attr]


def task_in_text(text: str, task_id: str) -> tuple[str, str] | None:
    """The text before and after the first whole-word mention of `task_id` (None when it is not mentioned)."""
    match = re.search(rf"(?<![A-Za-z0-9]){re.escape(task_id)}(?![A-Za-z0-9])", text)
    if match is None:
        return None
    return text[: match.start()], text[match.end():]


def join_around(before: Markup, link: Markup, after: Markup) -> Markup:
    """`before link after` with one space where words meet and none before punctuation or after a bracket."""
    parts = [before] if str(before).strip() else []
    if parts and not NO_SPACE_AFTER.search(str(before).rstrip()):
        parts.append(Markup(" "))
    parts.append(link)
    if str(after).strip():
        if not NO_SPACE_BEFORE.match(str(after).lstrip()):
            parts.append(Markup(" "))
        parts.append(after)
    return Markup("").join(parts)


def task_link(href: str, task_id: str, title: str) -> Markup:
    return Markup('<a href="{}" title="{}">{}</a>').format(escape(href), escape(title), escape(task_id))
