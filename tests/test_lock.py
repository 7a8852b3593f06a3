"""The lock files match pyproject.toml: every dependency is pinned, within its range, with hashes.

A dependency added to pyproject.toml without `make lock` would never be installed (the lock is installed with
--no-deps): this fails first, and says what to run.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)", re.M)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def hashed(lock: str) -> bool:
    """Every pinned requirement carries at least one --hash."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text(encoding="utf-8"))
    return all("--hash=sha256:" in block for block in blocks if PIN.match(block))


RUNTIME = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
TEST = [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"]["test"]]
BUILD = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]


@pytest.mark.parametrize(("lock", "requirements"), [
    ("requirements-test.lock", RUNTIME + TEST + BUILD),
    ("requirements.lock", RUNTIME + BUILD),
])
def test_every_dependency_is_pinned_within_its_range_with_hashes(lock: str, requirements: list[Requirement]) -> None:
    pinned = pins(lock)
    problems = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate({"python_version": "3.11"}):
            continue
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in {lock}")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} in {lock} is outside {requirement.specifier}")
    assert not problems, "; ".join(problems) + ": run `make lock` and commit the lock files"
    assert hashed(lock), f"{lock} has a requirement without --hash: run `make lock`"


def test_the_runtime_lock_agrees_with_the_test_lock() -> None:
    test_pins = pins("requirements-test.lock")
    differ = {name: (version, test_pins.get(name)) for name, version in pins("requirements.lock").items()
              if test_pins.get(name) != version}
    assert not differ, f"requirements.lock and requirements-test.lock disagree on {differ}: run `make lock`"
