"""Cross-reference checks between pages: workstreams, supersedes, task IDs, lessons' gates.

A file that exists but failed to load (its own errors are reported) still counts as a target, so one mistake is
reported once, not again at every page that names it.
"""

from __future__ import annotations

from builder.content.models import BoardMeta, DecisionMeta, GateMeta, LessonMeta, TaskMeta
from builder.content.structure import Content, Page
from builder.errors import Diagnostic, did_you_mean


def suggestion(word: str, known: set[str]) -> str:
    hint = did_you_mean(word, sorted(known))
    return f" {hint}" if hint else ""


def check_references(content: Content) -> list[Diagnostic]:
    problems: list[Diagnostic] = []

    def error(page: Page, line: int, message: str) -> None:
        problems.append(Diagnostic(page.display_path, line, message))

    workstreams = set(content.workstream_by_slug())
    known_workstreams = workstreams | set(content.unloaded_in("workstreams"))
    for gate in content.gates:
        assert isinstance(gate.meta, GateMeta)
        if gate.meta.workstream not in known_workstreams:
            known = ", ".join(sorted(workstreams)) or "none yet"
            error(gate, gate.line_of("workstream"),
                  f"unknown workstream '{gate.meta.workstream}':{suggestion(gate.meta.workstream, workstreams)} "
                  f"use one of {known} (files in workstreams/)")
        if gate.meta.status == "blocked" and not gate.meta.blocked_reason:
            error(gate, gate.line_of("status"), "status is blocked: add blocked_reason: what blocks the gate")
        elif gate.meta.blocked_reason and gate.meta.status != "blocked":
            error(gate, gate.line_of("blocked_reason"),
                  f"blocked_reason is set but status is {gate.meta.status}: remove it or set status: blocked")

    tasks: dict[str, Page] = {}
    for task in content.archive.get("tasks", []):
        assert isinstance(task.meta, TaskMeta)
        if task.meta.id in tasks:
            error(task, task.line_of("id"),
                  f"task ID '{task.meta.id}' is already used by {tasks[task.meta.id].display_path}")
        tasks.setdefault(task.meta.id, task)
    unloaded_tasks = content.unloaded_in("archive/tasks").values()
    unloaded_ids = {str(entry.data["id"]) for entry in unloaded_tasks if isinstance(entry.data.get("id"), str)}
    # an unreadable task file without a readable id might be the one a dependency names
    check_tasks = len(unloaded_ids) == len(unloaded_tasks)

    board = content.board
    assert isinstance(board.meta, BoardMeta)
    for index, dependency in enumerate(board.meta.dependencies):
        if check_tasks and dependency.task and dependency.task not in tasks and dependency.task not in unloaded_ids:
            error(board, board.line_of("dependencies", index, "task"),
                  f"unknown task '{dependency.task}':{suggestion(dependency.task, set(tasks))} "
                  f"add content/archive/tasks/<file>.md with id: {dependency.task}")

    decisions = content.decisions()
    unloaded_decisions = content.unloaded_in("archive/decisions")
    for decision in decisions.values():
        assert isinstance(decision.meta, DecisionMeta)
        for field in ("supersedes", "superseded_by"):
            target = getattr(decision.meta, field)
            if target is None or target in unloaded_decisions:
                continue
            if target not in decisions:
                error(decision, decision.line_of(field),
                      f"unknown decision '{target}' in {field}:{suggestion(target, set(decisions))} "
                      "name a file in archive/decisions/ without .md")
            elif field == "supersedes":
                older = decisions[target]
                assert isinstance(older.meta, DecisionMeta)
                if older.meta.status != "superseded":
                    error(older, older.line_of("status"),
                          f"decision is superseded by '{decision.slug}': set status: superseded")
        if decision.meta.status == "superseded" and not decision.meta.superseded_by and not any(
            isinstance(other.meta, DecisionMeta) and other.meta.supersedes == decision.slug
            for other in decisions.values()
        ) and not any(entry.data.get("supersedes") == decision.slug for entry in unloaded_decisions.values()):
            error(decision, decision.line_of("status"),
                  "status is superseded but no decision supersedes it: add superseded_by or supersedes")

    gates = {gate.slug for gate in content.gates}
    known_gates = gates | set(content.unloaded_in("gates"))
    for lesson in content.archive.get("lessons", []):
        if isinstance(lesson.meta, LessonMeta) and lesson.meta.gate and lesson.meta.gate not in known_gates:
            error(lesson, lesson.line_of("gate"),
                  f"unknown gate '{lesson.meta.gate}':{suggestion(lesson.meta.gate, gates)} "
                  f"use one of {', '.join(sorted(gates))}")
    for decision in decisions.values():
        assert isinstance(decision.meta, DecisionMeta)
        for index, slug in enumerate(decision.meta.gates):
            if slug not in known_gates:
                error(decision, decision.line_of("gates", index),
                      f"unknown gate '{slug}':{suggestion(slug, gates)} use one of {', '.join(sorted(gates))}")
    return problems
