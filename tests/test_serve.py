"""`serve`: builds, serves on 127.0.0.1, and re-renders only what a change can affect."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from builder.site.build import BuildOptions, Site
from builder.site.live import LiveSite
from tests.board_fixtures import copy_content, replace_in

LESSON = "archive/lessons/keep-completed-work-visible.md"


def live_site(tmp_path: Path) -> tuple[LiveSite, Path, Path]:
    content = copy_content(tmp_path)
    out = tmp_path / "site"
    site = Site(BuildOptions(content=content, out=out, cache_dir=tmp_path / "cache"))
    site.build()
    return LiveSite(site), content, out


def test_body_change_rewrites_that_page_and_the_indexes_only(tmp_path: Path) -> None:
    live, content, out = live_site(tmp_path)
    untouched = out / "gates/observability/index.html"
    before = untouched.stat().st_mtime_ns
    replace_in(content / LESSON, "Reviews of Phase 1", "Reviews of the Phase 1 proof")
    result = live.apply({content / LESSON})
    assert not result.full_rebuild and not result.problems
    assert "archive/lessons/keep-completed-work-visible/index.html" in result.written
    assert "gates/observability/index.html" not in result.written
    assert untouched.stat().st_mtime_ns == before
    page = out / "archive/lessons/keep-completed-work-visible/index.html"
    assert "Reviews of the Phase 1 proof" in page.read_text()


def test_a_body_edit_that_links_a_gate_rebuilds_so_the_gate_lists_it(tmp_path: Path) -> None:
    live, content, out = live_site(tmp_path)
    replace_in(content / LESSON, "Reviews of Phase 1",
               "Reviews of [Observability](../../gates/observability.md) and Phase 1")
    result = live.apply({content / LESSON})
    assert result.full_rebuild and not result.problems
    gate = (out / "gates/observability/index.html").read_text(encoding="utf-8")
    assert "../../archive/lessons/keep-completed-work-visible/" in gate


def test_title_or_template_change_rebuilds_everything(tmp_path: Path) -> None:
    live, content, out = live_site(tmp_path)
    replace_in(content / LESSON, "title: Keep completed work visible", "title: Keep finished work visible")
    result = live.apply({content / LESSON})
    assert result.full_rebuild and not result.problems
    assert "Keep finished work visible" in (out / "archive/index.html").read_text()
    gate = content / "gates/observability.md"
    replace_in(gate, "Add generation status", "Add durable generation status")
    assert live.apply({gate}).full_rebuild


def test_a_broken_edit_reports_file_line_and_keeps_serving_the_last_build(tmp_path: Path) -> None:
    live, content, out = live_site(tmp_path)
    page = out / "archive/lessons/keep-completed-work-visible/index.html"
    before = page.read_bytes()
    (content / LESSON).write_text((content / LESSON).read_text() + "\n[gone](../../gates/nope.md)\n")
    result = live.apply({content / LESSON})
    assert result.problems and str(result.problems[0]).startswith(f"{content / LESSON}:")
    assert page.read_bytes() == before
    assert "still serving the last good build" in result.describe()


def test_serve_command_serves_and_picks_up_a_change(tmp_path: Path) -> None:
    content = copy_content(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "builder", "serve", "--content", str(content), "--out", str(tmp_path / "site"),
         "--cache-dir", str(tmp_path / "cache"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:\d+/", line)
            url = match.group(0) if match else ""
        assert url, "serve did not print its URL"
        with urllib.request.urlopen(url) as response:
            assert "MVP to Production" in response.read().decode()
        try:
            urllib.request.urlopen(url + "no/such/page/")
        except urllib.error.HTTPError as error:
            assert error.code == 404 and "Page not found" in error.read().decode()
        time.sleep(0.5)  # let the watcher settle before the edit
        replace_in(content / LESSON, "Reviews of Phase 1", "Reviews of the live Phase 1")
        target = url + "archive/lessons/keep-completed-work-visible/"
        deadline = time.monotonic() + 30
        saved_again = time.monotonic() + 5
        while time.monotonic() < deadline:
            with urllib.request.urlopen(target) as response:
                if "Reviews of the live Phase 1" in response.read().decode():
                    break
            if time.monotonic() > saved_again:  # a busy machine may start the watcher after the first save:
                (content / LESSON).write_text((content / LESSON).read_text())  # save again, as an editor would
                saved_again = time.monotonic() + 5
            time.sleep(0.1)
        else:
            raise AssertionError("the edit never reached the served page")
        line = process.stdout.readline()
        assert line.startswith(f"{content / LESSON} changed: "
                               "rebuilt archive/lessons/keep-completed-work-visible/index.html")
        assert re.search(r"in \d+ ms", line)
    finally:
        process.terminate()
        process.wait(timeout=10)
