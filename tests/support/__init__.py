"""Shared test tooling: a headless browser, a static file server, HTML checks.

External tools (Chromium, Java, the npm packages under ``node_modules``) are installed by ``.ci/run``.
A test that needs a missing one fails under ``CI=true`` and is skipped elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"


def running_in_ci() -> bool:
    """True when ``CI`` says so (``.ci/run`` and GitHub Actions set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing_tool(message: str) -> NoReturn:
    """Fail the test under CI, where every tool must be installed; skip it on a developer machine."""
    if running_in_ci():
        pytest.fail(f"{message} (CI=true: .ci/run must install it)", pytrace=False)
    pytest.skip(message)
