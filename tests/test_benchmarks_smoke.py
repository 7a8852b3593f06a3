"""Smoke test of `make bench`'s table code: a tiny corpus, Giftboard only (no peers venv, nothing installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import corpus
from benchmarks.__main__ import main
from benchmarks.common import percentile
from builder.site.gate_metrics import benchmark_metrics


def test_corpus_is_deterministic_and_realistic() -> None:
    first, again = corpus.make_page(7), corpus.make_page(7)
    assert first == again
    assert 550 <= first.words <= 1300
    for marker in ("## ", "| --- |", "```", "- ", "1. ", "](https://"):
        assert marker in first.body
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0


def test_build_bench_prints_tables_for_a_tiny_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.setenv("BENCH_NO_PEERS", "1")
    monkeypatch.setenv("BENCH_NO_INSTALL", "1")
    monkeypatch.setenv("BENCH_PAGES", "12")
    monkeypatch.delenv("CI", raising=False)

    assert main(["build", "--results", str(tmp_path)]) == 0

    printed = " ".join(capsys.readouterr().out.split())
    assert "| Giftboard | this checkout |" in printed
    assert "cold build of 12 generated Markdown pages" in printed
    assert "no-change rebuild" in printed
    assert "output stale after a change | 0 of 1 | 0 | met |" in printed
    assert "peers skipped" in printed
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "## Board build" in latest and "- machine:" in latest
    # named numbers for the board's gate criteria (`metric: no_change_rebuild_ms < 300`), read as the build reads them
    named = benchmark_metrics(tmp_path)
    assert named["no_change_rebuild_ms"].value > 0
    assert named["no_change_rebuild_ms"].source == (tmp_path / "build.metrics.json").as_posix()


def test_sanitizer_bench_sanitizes_what_the_project_engine_renders() -> None:
    from benchmarks.sanitizer import rendered_pages

    pages = rendered_pages(3)
    assert len(pages) == 3
    assert all('<h2 id="' in page and "<table>" in page and "<pre" in page for page in pages), pages[0][:300]


def test_a_broken_bench_keeps_the_others_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import benchmarks.sanitizer

    def broken(progress: object) -> list[object]:
        raise RuntimeError("the bench itself is broken")

    monkeypatch.setattr(benchmarks.sanitizer, "run", broken)
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.setenv("BENCH_NO_PEERS", "1")
    monkeypatch.setenv("BENCH_NO_INSTALL", "1")
    monkeypatch.setenv("BENCH_PAGES", "12")
    monkeypatch.delenv("CI", raising=False)

    assert main(["sanitizer", "build", "--results", str(tmp_path)]) == 1

    captured = capsys.readouterr()
    printed = " ".join(captured.out.split())
    assert "FAILED: RuntimeError: the bench itself is broken" in printed
    assert "| Giftboard | this checkout |" in printed  # the build bench after it still ran
    assert "FAILED: sanitizer" in captured.err
    assert "## Board build" in (tmp_path / "latest.md").read_text(encoding="utf-8")
