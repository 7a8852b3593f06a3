"""The lock files match pyproject.toml: every dependency is pinned, within its range, with hashes, and the
runtime lock agrees with the test lock (the check `make test` runs before pytest, tests/support/lock.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import lock


def test_the_lock_files_cover_pyproject() -> None:
    assert lock.problems() == []


def test_a_dependency_added_without_make_lock_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("pyproject.toml", lock.TEST_LOCK, lock.RUNTIME_LOCK, lock.UV_LOCK):
        shutil.copy(lock.ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('dependencies = [\n', 'dependencies = [\n    "left-pad-nowhere>=1",\n', 1),
                         encoding="utf-8")
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    assert lock.main() == 1
    err = capsys.readouterr().err
    assert "left-pad-nowhere is not in requirements-test.lock" in err
    assert "left-pad-nowhere is not in requirements.lock" in err
    assert "run `make lock`" in err
