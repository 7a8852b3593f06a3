"""Long commands show a progress bar to a person at a terminal, and stay line-oriented everywhere else."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.board_fixtures import copy_content


def big_content(tmp_path: Path, pages: int = 600) -> Path:
    content = copy_content(tmp_path)
    lessons = content / "archive" / "lessons"
    for number in range(pages):
        (lessons / f"bulk-{number:04d}.md").write_text(
            f"---\ntitle: Lesson {number}\ndate: 2026-09-{number % 28 + 1:02d}\n---\nBody of lesson {number}.\n"
        )
    return content


def run_build(tmp_path: Path, content: Path, *, tty: bool, env: dict[str, str]) -> str:
    argv = [sys.executable, "-m", "builder", "build", "--content", str(content), "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), "--no-cache", "--jobs", "1"]
    if not tty:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=True)
        return done.stdout + done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture
def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env["TERM"] = "xterm-256color"
    return env


def test_terminal_build_of_large_content_shows_a_progress_bar(tmp_path: Path, clean_env) -> None:
    output = run_build(tmp_path, big_content(tmp_path), tty=True, env=clean_env)
    assert "Rendering pages" in output
    assert "built " in output


def test_piped_or_ci_build_prints_one_plain_line(tmp_path: Path, clean_env) -> None:
    content = big_content(tmp_path)
    piped = run_build(tmp_path, content, tty=False, env=clean_env)
    assert "Rendering pages" not in piped and "\x1b[" not in piped
    in_ci = run_build(tmp_path, content, tty=True, env={**clean_env, "CI": "true"})
    assert "Rendering pages" not in in_ci and "built " in in_ci
