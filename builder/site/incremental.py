"""Fingerprints that let a rebuild skip work without ever serving a stale page.

Two levels: a quick key from file names, sizes and modification times (a no-change rebuild stops there),
and content hashes (a page is reused only when its own source and everything global are unchanged).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic_files import atomic_write

MANIFEST_VERSION = 1


def tree_stat_key(*roots: Path, extra: str = "") -> str:
    digest = hashlib.blake2b(extra.encode(), digest_size=16)
    for root in roots:
        for path in sorted(walk_files(root)):
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def walk_files(root: Path) -> list[Path]:
    found: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file():
                found.append(Path(entry.path))
    return found


def text_hash(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class Manifest:
    """What the previous build of one output folder was made from."""

    out: str
    quick_key: str = ""
    global_key: str = ""
    pages: dict[str, str] = field(default_factory=dict)  # output path → source hash
    outputs: dict[str, tuple[int, int]] = field(default_factory=dict)  # output path → (size, mtime_ns)
    timing: dict[str, float] = field(default_factory=dict)  # the last build's phases, for the ops page

    @classmethod
    def load(cls, path: Path, out: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(out=str(out))
        if data.get("version") != MANIFEST_VERSION or data.get("out") != str(out):
            return cls(out=str(out))
        return cls(
            out=data["out"],
            quick_key=data.get("quick_key", ""),
            global_key=data.get("global_key", ""),
            pages=dict(data.get("pages", {})),
            outputs={k: (int(v[0]), int(v[1])) for k, v in data.get("outputs", {}).items()},
            timing={k: float(v) for k, v in data.get("timing", {}).items()},
        )

    def save(self, path: Path) -> None:
        data = {
            "version": MANIFEST_VERSION,
            "out": self.out,
            "quick_key": self.quick_key,
            "global_key": self.global_key,
            "pages": self.pages,
            "outputs": self.outputs,
            "timing": self.timing,
        }
        atomic_write(path, json.dumps(data, sort_keys=True).encode(), durable=False)  # a cache

    def outputs_intact(self, out: Path) -> bool:
        """True when every file the last build wrote is still there, unmodified."""
        if not self.outputs:
            return False
        for relative, (size, mtime_ns) in self.outputs.items():
            try:
                stat = (out / relative).stat()
            except OSError:
                return False
            if stat.st_size != size or stat.st_mtime_ns != mtime_ns:
                return False
        return True


def record_outputs(out: Path, relatives: set[str]) -> dict[str, tuple[int, int]]:
    outputs = {}
    for relative in relatives:
        stat = (out / relative).stat()
        outputs[relative] = (stat.st_size, stat.st_mtime_ns)
    return outputs
