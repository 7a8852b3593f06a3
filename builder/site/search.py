"""The static search index: Pagefind, installed with the other npm tools, run over the built pages.

Only pages whose <main> carries `data-pagefind-body` are indexed (the board, gates, workstreams, the archive);
the index is built in the staging folder before the swap, so gift pages (carried into the output afterwards,
and never marked) are never in it. Nothing is ever downloaded: without the installed binary the board simply
has no search box.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from builder.errors import BuildError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
PAGEFIND_FOLDER = "pagefind"  # the bundle's folder in the output: pagefind/pagefind.js …
INDEX_TIMEOUT_S = 300.0
MISSING_NOTE = "note: no search index: Pagefind is not installed (run `npm ci` in the repository)"


PLATFORMS = {"linux": "linux", "darwin": "darwin", "win32": "windows", "freebsd": "freebsd"}
MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def find_pagefind(*roots: Path) -> Path | None:
    """The installed Pagefind binary under the working directory's or the project's node_modules.

    The platform package's binary is run directly (the npm wrapper only finds it, at ~130 ms of Node start-up);
    the wrapper is the fallback."""
    package = platform_package()
    for root in (*roots, Path.cwd(), PROJECT_ROOT):
        modules = root / "node_modules"
        for name in ("pagefind", "pagefind_extended", "pagefind.exe", "pagefind_extended.exe"):
            candidate = modules / "@pagefind" / package / "bin" / name
            if candidate.is_file():
                return candidate
        wrapper = modules / ".bin" / "pagefind"
        if wrapper.is_file():
            return wrapper
    return None


def platform_package() -> str:
    """The name of Pagefind's npm package for this machine: linux-x64, darwin-arm64 …"""
    system = PLATFORMS.get(sys.platform.rstrip("0123456789"), sys.platform)
    machine = (platform.machine() or "unknown").lower()
    return f"{system}-{MACHINES.get(machine, machine)}"


def index_site(site_root: Path, binary: Path) -> None:
    """Write the search bundle into `site_root/pagefind/`; BuildError (one line) when Pagefind fails."""
    try:
        # run inside the site folder, so no pagefind.yml of the caller's working directory changes the index
        done = subprocess.run([str(binary.resolve()), "--site", ".", "--output-subdir", PAGEFIND_FOLDER, "--silent"],
                              cwd=site_root, capture_output=True, text=True, timeout=INDEX_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"{binary}: the search index could not be built ({error})") from None
    if done.returncode != 0:
        detail = next((line for line in (done.stderr or done.stdout).splitlines() if line.strip()), "no output")
        raise BuildError(f"{binary}: the search index could not be built: {detail}")
