"""Property tests draw new examples locally and the same examples under CI=true (see tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import tests.conftest\n"
    "from hypothesis import given, settings, strategies as st\n"
    "seen = []\n"
    "@settings(max_examples=5)\n"
    "@given(st.integers(0, 2**32 - 1))\n"
    "def probe(n): seen.append(n)\n"
    "probe()\n"
    "print(settings.default.derandomize, settings.default.database, sorted(seen))\n"
)


def _draws(ci: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


def test_property_tests_draw_the_same_examples_under_ci() -> None:
    first, second = _draws("true"), _draws("true")
    assert first.startswith("True None ")
    assert first == second


def test_property_tests_draw_new_examples_locally() -> None:
    first, second = _draws(None), _draws(None)
    assert first.startswith("False ")
    assert first != second
