"""Do the lock files cover pyproject.toml? `python -m tests.support.lock` (make test runs it before pytest).

A dependency added to pyproject.toml without `make lock` is never installed (the lock is installed with
--no-deps), so the suite would stop at an ImportError; this says what to run instead.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent.parent
TEST_LOCK, RUNTIME_LOCK, UV_LOCK = "requirements-test.lock", "requirements.lock", "requirements-uv.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)", re.M)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def unhashed(lock: str) -> list[str]:
    """Pinned requirements without a --hash."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text(encoding="utf-8"))
    return [block.split()[0] for block in blocks if PIN.match(block) and "--hash=sha256:" not in block]


def requirements() -> dict[str, list[Requirement]]:
    """What each lock must cover: the runtime, test and build requirements of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = [Requirement(text) for text in project["project"]["dependencies"]]
    test = [Requirement(text) for text in project["project"]["optional-dependencies"]["test"]]
    build = [Requirement(text) for text in project["build-system"]["requires"]]
    return {TEST_LOCK: runtime + test + build, RUNTIME_LOCK: runtime + build}


def problems() -> list[str]:
    found = []
    for lock, wanted in requirements().items():
        pinned = pins(lock)
        for requirement in wanted:
            if requirement.marker is not None and not requirement.marker.evaluate({"python_version": "3.11"}):
                continue
            version = pinned.get(canonicalize_name(requirement.name))
            if version is None:
                found.append(f"{requirement.name} is not in {lock}")
            elif not requirement.specifier.contains(version, prereleases=True):
                found.append(f"{requirement.name}=={version} in {lock} is outside {requirement.specifier}")
        found += [f"{name} has no --hash in {lock}" for name in unhashed(lock)]
    test_pins = pins(TEST_LOCK)
    for other in (RUNTIME_LOCK, UV_LOCK):
        found += [f"{name} is {version} in {other} but {test_pins.get(name)} in {TEST_LOCK}"
                  for name, version in pins(other).items() if test_pins.get(name) != version]
    found += [f"{name} has no --hash in {UV_LOCK}" for name in unhashed(UV_LOCK)]
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"lock: {problem}", file=sys.stderr)
    if found:
        print("lock: the lock files do not match pyproject.toml: run `make lock` and commit them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
