"""Progress for long commands: a rich bar in a terminal, nothing at all in logs, pipes and CI.

Commands keep printing their usual one-line results either way; the bar is transient and goes to stderr.
Bars are off until the CLI calls `allow(settings)` (so library use and tests never draw one).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from builder.settings import Settings

Advance = Callable[[int], None]
_allowed = False


def allow(settings: Settings) -> None:
    """Let bars show for this process unless it runs in CI or on a dumb terminal (the CLI calls this once)."""
    global _allowed  # one switch for the whole process, set at start-up
    _allowed = not (settings.ci or settings.dumb_terminal)


def interactive() -> bool:
    """A person is watching: stderr is a terminal and this is not CI or Actions."""
    return _allowed and sys.stderr.isatty()


@contextmanager
def progress(description: str, total: int | None = None, *, minimum: int = 0) -> Iterator[Advance]:
    """Yield `advance(n)`; shows a bar (or a spinner when `total` is None) only when interactive and
    `total` reaches `minimum`."""
    if not interactive() or (total is not None and total < minimum):
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
