"""Any team: `init` scaffolds a board that builds first time; another team's words, templates and assets win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.content.schemas import CONTENT_KINDS
from tests.board_fixtures import replace_in, run_cli
from tests.support.html_checks import validate_html5


def site_text(out: Path) -> dict[str, str]:
    return {path.relative_to(out).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(out.rglob("*")) if path.suffix in {".html", ".xml", ".css", ".svg"}}


def build(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> Path:
    out = project / "site"
    result = run_cli(capsys, "build", "--content", str(project / "content"), "--out", str(out),
                     "--cache-dir", str(project / ".cache"), "--strict", *extra)
    assert result.code == 0, result.err
    return out


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    project = tmp_path / "team"
    result = run_cli(capsys, "init", str(project))
    assert result.code == 0, result.err
    assert "one workstream, two gates, a decision, a lesson, a task" in result.out
    return project


def test_init_scaffolds_a_small_board_that_builds_first_time(capsys, project) -> None:
    content = project / "content"
    assert sorted(p.relative_to(content).as_posix() for p in content.rglob("*.md")) == [
        "archive/decisions/0001-record-decisions.md", "archive/lessons/small-steps.md",
        "archive/tasks/setup001.md", "board.md", "gates/ci-pipeline.md", "gates/monitoring.md",
        "workstreams/platform.md",
    ]
    assert run_cli(capsys, "check", "--content", str(content), "--cache-dir", str(project / ".cache"),
                   "--strict").code == 0
    pages = site_text(build(capsys, project))
    board = pages["index.html"]
    assert "<strong>1 of 2 gates complete</strong> · blocking launch:" in board and ">Monitoring</a>" in board
    assert "gates/ci-pipeline/index.html" in pages and "archive/tasks/setup001/index.html" in pages
    assert "✓</span> Done" in board  # the dependency on the done task SETUP001
    assert validate_html5(sorted((project / "site").rglob("*.html"))) == []


def test_init_refuses_a_folder_that_already_holds_content(capsys, project) -> None:
    result = run_cli(capsys, "init", str(project))
    assert result.code == 1
    assert result.err.strip() == f"error: {project / 'content'}: already exists and is not empty; choose a new folder"
    assert "Traceback" not in result.err


def test_a_second_team_board_uses_its_labels_templates_and_assets_and_no_gift_words(capsys, project) -> None:
    replace_in(project / "content" / "site.yaml", "language: en", "\n".join([
        "language: en",
        "labels:",
        "  gates: Release gates",
        "  board_eyebrow: Payments platform",
        "  archive_on_board: Earlier work",
        "sections:",
        "  tasks: Finished tickets",
    ]))
    (project / "templates" / "partials").mkdir(parents=True)
    (project / "templates" / "workstream.html").write_text(
        '{% extends "base.html" %}{% block main %}<h1>{{ workstream.page.title }}</h1>'
        '<p class="team-override">Payments team view: {{ workstream.progress }}</p>{% endblock %}', encoding="utf-8")
    (project / "static").mkdir()
    (project / "static" / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><title>team</title></svg>',
                                                   encoding="utf-8")
    (project / "static" / "team.css").write_text(".team-override { font-weight: 700; }\n", encoding="utf-8")
    out = build(capsys, project)
    pages = site_text(out)

    board = pages["index.html"]
    assert ">Release gates</h2>" in board and "Payments platform" in board and ">Earlier work</h2>" in board
    assert "Finished tickets" in board and "Finished tickets" in pages["archive/tasks/index.html"]
    stream = pages["workstreams/platform/index.html"]
    assert '<p class="team-override">Payments team view: 1 of 2 gates complete</p>' in stream
    assert "Gates in this workstream" not in stream  # the built-in template was replaced, file by file
    assert '<p class="eyebrow">Launch gate' in pages["gates/monitoring/index.html"]  # other templates: built-in
    assert "<title>team</title>" in pages["assets/favicon.svg"]
    assert pages["assets/team.css"].startswith(".team-override")
    assert ".readiness" in pages["assets/site.css"]  # built-in assets that were not replaced stay

    for name, text in pages.items():
        assert "Phase 1" not in text and "PHASE 1" not in text, name
        assert "Operations" not in text and 'href="ops/' not in text and "/ops/" not in text, name
        assert "gift" not in text.lower().replace("giftboard", ""), name  # the tool's name, never the product
    assert not (out / "ops").exists()


def test_the_ops_page_and_its_link_appear_only_when_a_ledger_is_configured(capsys, project) -> None:
    ledger = project / ".data" / "ledger"
    ledger.mkdir(parents=True)
    out = build(capsys, project, "--ledger", str(ledger))
    assert (out / "ops" / "index.html").is_file()
    assert 'href="ops/"' in (out / "index.html").read_text(encoding="utf-8")
    assert ">Operations</a>" in (out / "index.html").read_text(encoding="utf-8")
    out = build(capsys, project)
    assert not (out / "ops").exists() and "Operations" not in (out / "index.html").read_text(encoding="utf-8")


def test_schema_writes_a_json_schema_for_every_content_kind(capsys, tmp_path) -> None:
    result = run_cli(capsys, "schema", "--out", str(tmp_path / "schemas"))
    assert result.code == 0, result.err
    names = sorted(path.name for path in (tmp_path / "schemas").glob("*.json"))
    assert names == sorted(CONTENT_KINDS) and len(names) == 9
    gate = json.loads((tmp_path / "schemas" / "gate.schema.json").read_text(encoding="utf-8"))
    assert gate["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert gate["additionalProperties"] is False and set(gate["required"]) == {"title", "status", "workstream"}
    assert gate["properties"]["status"]["enum"] == ["complete", "in-progress", "blocked", "planned"]
    assert gate["properties"]["due"]["anyOf"][0] == {"format": "date", "type": "string"}
    site = json.loads((tmp_path / "schemas" / "site.schema.json").read_text(encoding="utf-8"))
    assert "labels" in site["properties"] and "Labels" in site["$defs"]
    task = json.loads((tmp_path / "schemas" / "tasks.schema.json").read_text(encoding="utf-8"))
    assert task["properties"]["id"]["pattern"].startswith("^[A-Z]")
