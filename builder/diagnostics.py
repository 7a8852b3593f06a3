"""Report diagnostics to people and to GitHub Actions (annotations and the job summary)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from builder.errors import Diagnostic
from builder.settings import Settings


def escape_annotation_data(text: str) -> str:
    """Escape a message for a workflow command, as the Actions toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_annotation_property(text: str) -> str:
    return escape_annotation_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(diagnostic: Diagnostic) -> str:
    props = f"file={escape_annotation_property(diagnostic.path)},line={diagnostic.line}"
    if diagnostic.column:
        props += f",col={diagnostic.column}"
    return f"::error {props}::{escape_annotation_data(diagnostic.message)}"


def report(diagnostics: Iterable[Diagnostic], *, title: str = "Content errors", stream: TextIO | None = None,
           settings: Settings | None = None) -> None:
    """Print every diagnostic as `path:line: message`; under Actions (`settings.github_actions`) also annotate
    and summarise."""
    out = stream or sys.stderr
    items = sorted(diagnostics)
    for item in items:
        print(item, file=out)
    print(f"{len(items)} error{'s' if len(items) != 1 else ''} found.", file=out)
    if settings is None or not settings.github_actions:
        return
    for item in items:
        print(annotation(item), file=sys.stdout)
    summary_path = settings.step_summary
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as summary:
            summary.write(f"## {title}\n\n| file | line | message |\n| --- | ---: | --- |\n")
            for item in items:
                message = item.message.replace("|", "\\|").replace("\n", " ")
                summary.write(f"| `{item.path}` | {item.line} | {message} |\n")
            summary.write("\n")
