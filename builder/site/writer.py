"""Write a whole site into a staging folder beside the output, then swap it in.

A failed build removes its staging folder and leaves the previous output untouched; two outputs for one
path are refused (Pelican's rule), so one page can never silently overwrite another.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from builder.errors import BuildError


class StagedSite:
    """A staging folder next to `out`; use as a context manager, call `commit()` to swap it in."""

    def __init__(self, out: Path) -> None:
        self.out = out.resolve()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.staging-", dir=self.out.parent))
        self.written: set[str] = set()
        self._committed = False

    def __enter__(self) -> StagedSite:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:
            shutil.rmtree(self.root, ignore_errors=True)

    def claim(self, relative: str) -> Path:
        if relative in self.written:
            raise BuildError(f"two outputs want the same file {relative}: rename one of their sources")
        self.written.add(relative)
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, relative: str, data: bytes) -> None:
        self.claim(relative).write_bytes(data)

    def link_or_copy(self, relative: str, source: Path) -> None:
        """Reuse an unchanged file from the previous output without reading it."""
        target = self.claim(relative)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    def commit(self, keep: tuple[str, ...] = ()) -> None:
        """Swap the staging folder in place of `out`; the old output is removed only after the swap.

        Folders named in `keep` belong to other writers (gift pages): they move across unchanged, move back
        if the swap fails, and anything another writer put into the old output meanwhile is carried over.
        """
        moved: list[str] = []
        old: Path | None = None
        try:
            for name in keep:
                if (self.out / name).is_dir() and name not in self.written:
                    os.replace(self.out / name, self.root / name)
                    moved.append(name)
            if self.out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
                os.rmdir(old)
                os.replace(self.out, old)
            os.replace(self.root, self.out)
        except BaseException:
            self._restore(old, moved)
            raise
        self._committed = True
        if old is not None:
            for name in keep:
                self._carry_over(old / name, self.out / name)
            shutil.rmtree(old, ignore_errors=True)

    def _restore(self, old: Path | None, moved: list[str]) -> None:
        """Undo a failed swap: the previous output back in place, other writers' folders back inside it."""
        if old is not None and not self.out.exists():
            os.replace(old, self.out)
        for name in moved:
            if (self.root / name).is_dir() and not (self.out / name).exists():
                os.replace(self.root / name, self.out / name)

    @staticmethod
    def _carry_over(source: Path, target: Path) -> None:
        """Entries another writer created in the old output during the swap (a gift published meanwhile)."""
        if not source.is_dir():
            return
        target.mkdir(exist_ok=True)
        for child in source.iterdir():
            if not (target / child.name).exists():
                os.replace(child, target / child.name)
