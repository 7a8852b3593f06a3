"""What the content links on GitHub: issue/PR references, workflow files, check names and milestones."""

from __future__ import annotations

from dataclasses import dataclass

from builder.content.models import BoardMeta, Evidence
from builder.content.structure import Content
from builder.github.refs import iter_refs, refs_in_markdown


@dataclass(frozen=True)
class Wanted:
    """Everything `sync` must read for this content; sorted and unique, so requests are deterministic."""

    refs: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    milestones: tuple[int, ...] = ()


def evidence_of(content: Content) -> list[Evidence]:
    """Every evidence block in the content: gates, archive entries that carry links, board dependencies."""
    blocks = [page.meta for page in content.pages() if isinstance(page.meta, Evidence)]
    board = content.board.meta
    if isinstance(board, BoardMeta):
        blocks.extend(board.dependencies)
    return blocks


def wanted_from_content(content: Content) -> Wanted:
    refs: set[str] = set()
    workflows: set[str] = set()
    checks: set[str] = set()
    milestones: set[int] = set()
    for evidence in evidence_of(content):
        refs.update(evidence.links)
        workflows.update([evidence.workflow] if evidence.workflow else [])
        checks.update(evidence.checks)
        milestones.update([evidence.milestone] if evidence.milestone else [])
    for gate in content.gates:  # what the gates' criteria check
        for criterion in getattr(gate.meta, "criteria", []):
            refs.update([criterion.issue] if criterion.issue and "#" in criterion.issue else [])
            workflows.update([criterion.workflow] if criterion.workflow else [])
            checks.update([criterion.check] if criterion.check else [])
    for page in content.pages():
        refs.update(refs_in_markdown(page.body))
    board = content.board.meta
    if isinstance(board, BoardMeta):
        for text in [board.summary, *board.invariants, *(dep.text for dep in board.dependencies)]:
            refs.update(match.group(0) for match in iter_refs(text))
    return Wanted(
        refs=tuple(sorted(refs, key=ref_sort_key)),
        workflows=tuple(sorted(workflows)),
        checks=tuple(sorted(checks)),
        milestones=tuple(sorted(milestones)),
    )


def ref_sort_key(ref: str) -> tuple[str, int]:
    repo, _, number = ref.partition("#")
    return (repo.lower(), int(number))
