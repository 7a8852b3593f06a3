"""The new pages (a gate with criteria and status history, board changes) in Chromium: axe in light and dark, and
valid HTML (vnu)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.board_fixtures import CONTENT, replace_in, run_cli
from tests.git_repos import TestRepository
from tests.support.browser import StaticServer, axe_violations, describe_violations, new_page, open_page
from tests.support.html_checks import validate_html5

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CRITERIA = """criteria:
  - label: Queue latency p95 within 100 ms
    metric: queue_latency_p95_ms <= 100
  - metric: cold_build_s < 2
  - metric: error_budget_used_ratio <= 0.5
  - issue: acme/board#4
---"""


@pytest.fixture
def built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    repo = TestRepository(tmp_path / "board")
    shutil.copytree(CONTENT, repo.root / "content")
    site_yaml = repo.root / "content" / "site.yaml"
    site_yaml.write_text(site_yaml.read_text().replace("# repository: owner/repo", "repository: acme/board"))
    gate = repo.root / "content/gates/observability.md"
    repo.commit("Add the board", date="2026-01-05T10:00:00+00:00")
    replace_in(gate, "status: planned", "status: in-progress")
    repo.commit("Start observability (#12)", date="2026-02-03T09:00:00+00:00")
    replace_in(gate, "status: in-progress", "status: complete")
    text = gate.read_text(encoding="utf-8")
    gate.write_text(text.replace("\n---\n", "\n" + CRITERIA + "\n", 1), encoding="utf-8")
    repo.commit("Observability done (#15)", date="2026-03-01T08:00:00+00:00")
    results = tmp_path / "results"
    results.mkdir()
    (results / "metrics.json").write_text(json.dumps({"queue_latency_p95_ms": 50.1, "cold_build_s": 2.4}))
    out = tmp_path / "site"
    result = run_cli(capsys, "build", "--content", str(repo.root / "content"), "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache"), "--benchmarks", str(results))
    assert result.code == 0, result.err
    assert "gate status contradicts its criteria" in result.err  # met, not met and no data all on one page
    return out


NEW_PAGES = ["gates/observability/", "archive/changes/", ""]


def test_new_pages_validate_as_html5(built: Path) -> None:
    pages = [built / path / "index.html" for path in NEW_PAGES]
    text = pages[0].read_text(encoding="utf-8")
    assert "Status history" in text and "criteria__list" in text and "✗" in text and "?" in text
    assert validate_html5(pages) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_new_pages_pass_axe(built: Path, serve_static: Callable[..., StaticServer], chromium: Browser,
                            scheme: str) -> None:
    server = serve_static(built, "/board/")
    with new_page(chromium, viewport={"width": 1280, "height": 900}, color_scheme=scheme) as page:
        for path in NEW_PAGES:
            report = open_page(page, server.url_for(path))
            assert report.problems == [], (path, report.problems)
            violations = axe_violations(page)
            assert violations == [], f"{path} ({scheme}): {describe_violations(violations)}"
    with new_page(chromium, viewport={"width": 390, "height": 844}, color_scheme=scheme) as page:
        open_page(page, server.url_for("gates/observability/"))
        violations = axe_violations(page)
        assert violations == [], f"390 px ({scheme}): {describe_violations(violations)}"
