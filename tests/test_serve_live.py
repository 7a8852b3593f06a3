"""`serve` in Chromium: live reload after an edit, an error page while the build is broken, the changed file named
in the log; the reload script comes from the server only, never from the built files."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.board_fixtures import copy_content, replace_in
from tests.support.browser import axe_violations, describe_violations, new_page, open_page
from tests.support.html_checks import validate_html5

if TYPE_CHECKING:
    from playwright.sync_api import Browser

GATE = "gates/observability.md"


@dataclass
class Served:
    url: str
    content: Path
    out: Path
    lines: queue.Queue[str]

    def wait_for_line(self, pattern: str, timeout: float = 90) -> str:  # generous: a loaded CI machine
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in serve's output: {seen}")


@contextmanager
def serve(tmp_path: Path, content: Path) -> Iterator[Served]:
    out = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "builder", "serve", "--content", str(content), "--out", str(out),
         "--cache-dir", str(tmp_path / "cache"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    try:
        served = Served("", content, out, lines)
        served.url = re.search(r"http://127\.0\.0\.1:\d+/", served.wait_for_line(r"Serving the board at")).group(0)
        time.sleep(0.5)  # let the watcher settle before the first edit
        yield served
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, copy_content(tmp_path)) as running:
        yield running


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_an_edit_reloads_the_open_page_and_a_broken_build_shows_an_error_page(
        served: Served, chromium: Browser, tmp_path: Path) -> None:
    with new_page(chromium, viewport={"width": 1280, "height": 800}) as page:
        report = open_page(page, served.url + "gates/observability/")
        assert not report.problems, report.problems
        page.evaluate("window.__notReloaded = true")
        # an edit: the open page reloads by itself and shows it
        replace_in(served.content / GATE, "Add generation status", "Add live generation status")
        page.wait_for_function("() => document.body.innerText.includes('Add live generation status')", timeout=90000)
        assert page.evaluate("window.__notReloaded === undefined")  # a reload, not an in-place patch
        assert served.wait_for_line(r"changed: ").startswith(f"content/{GATE} changed: rebuilt")
        # a broken edit: the page becomes an error page with path:line, and the log names the file
        replace_in(served.content / GATE, "status: planned", "status: finished")
        page.wait_for_function("() => document.title.startsWith('Build failed')", timeout=90000)
        problems = page.locator("main li").all_inner_texts()
        assert any(problem.startswith(f"content/{GATE}:3: invalid value for 'status'")
                   for problem in problems), problems
        assert served.wait_for_line(r"changed: ").startswith(f"content/{GATE} changed: not rebuilt")
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            violations = axe_violations(page)
            assert not violations, f"{scheme}: {describe_violations(violations)}"
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(served.url + "gates/observability/")
        assert answer.value.code == 500
        error_html = tmp_path / "error.html"
        error_html.write_bytes(answer.value.read())
        assert validate_html5([error_html]) == []
        # every page is the error page while the build is broken
        other = open_page(page, served.url + "archive/", expect_status=500)
        assert other.status == 500 and page.title().startswith("Build failed")
        # fixed: the page reloads to the board again
        replace_in(served.content / GATE, "status: finished", "status: in-progress")
        page.wait_for_function("() => !document.title.startsWith('Build failed')", timeout=90000)
        assert "Archive" in page.title()
    built = [path.read_text(encoding="utf-8") for path in served.out.rglob("*.html")]
    assert built and not any("__giftboard" in text or "EventSource" in text for text in built)


def test_build_output_never_carries_the_reload_script(tmp_path: Path) -> None:
    content = copy_content(tmp_path)
    done = subprocess.run([sys.executable, "-m", "builder", "build", "--content", str(content), "--out",
                           str(tmp_path / "site"), "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    for path in (tmp_path / "site").rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".xml"):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert "__giftboard" not in text and "EventSource" not in text, path


def test_serve_starts_on_a_broken_board_with_the_error_page_and_recovers(tmp_path: Path) -> None:
    content = copy_content(tmp_path)
    replace_in(content / GATE, "status: planned", "status: someday")
    with serve(tmp_path, content) as served:
        status, page = fetch(served.url)
        assert status == 500 and "The board build is broken" in page
        assert f"content/{GATE}:3: invalid value for &#x27;status&#x27;" in page
        assert 'src="/__giftboard/live.js"' in page
        replace_in(content / GATE, "status: someday", "status: planned")
        served.wait_for_line(r"changed: rebuilt everything")
        status, page = fetch(served.url + "gates/observability/")
        assert status == 200 and "<h1>Observability</h1>" in page
        assert 'src="/__giftboard/live.js"' in page  # served with the script …
    assert "__giftboard" not in (served.out / "gates/observability/index.html").read_text()  # … built without it
