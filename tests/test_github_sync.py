"""`python -m builder sync` against a fake GitHub on 127.0.0.1: bounded requests, retries, rate limits, no secrets."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builder.cli import main
from builder.content.loader import load_content
from builder.errors import SourceError
from builder.github.collect import expected_requests
from builder.github.links import wanted_from_content
from builder.github.snapshot import Snapshot, format_time, load_snapshot, read_snapshot, write_snapshot
from builder.github.source import resolve_snapshot
from builder.settings import GitHubEnv, load_settings
from tests.fakes.github_api import FakeGitHub, seed_board_world

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ghp_syncSECRETtoken0987654321"
REPO = "acme/giftboard"
LINKED_GATE = """---
title: Security Audit
status: complete
workstream: product
order: 1
links: [acme/giftboard#1, acme/giftboard#2]
checks: [build]
milestone: 1
---
Confirm PII boundaries, disclosure posture, and generated-content redaction. Follow-up in acme/giftboard#3;
`acme/giftboard#4` in code is not a link.
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, scopes="") as server:
        seed_board_world(server, REPO)
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GIFTBOARD_GITHUB_MAX_WAIT", "5")
        yield server


@pytest.fixture
def seed_content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    return content


@pytest.fixture
def linked_content(seed_content: Path, fake: FakeGitHub) -> Path:
    (seed_content / "gates" / "security-audit.md").write_text(LINKED_GATE, encoding="utf-8")
    fake.add_issue(REPO, 1, title="Audit PII boundaries", state="closed", closed_at="2026-11-10T10:00:00Z")
    fake.add_issue(REPO, 2, title="Redact generated content", state="open", pull=True, draft=True)
    fake.add_issue(REPO, 3, title="Follow-up", state="open")
    fake.add_check_run(REPO, "main", name="build", conclusion="success")
    fake.add_check_run(REPO, "main", name="lint", conclusion="failure")
    fake.add_milestone(REPO, 1, title="Launch", open_issues=1, closed_issues=3)
    return seed_content


def sync(content: Path, snapshot: Path) -> int:
    return main(["sync", "--content", str(content), "--snapshot", str(snapshot)])


def test_sync_of_the_seed_board_makes_exactly_ten_requests(fake: FakeGitHub, seed_content: Path,
                                                            tmp_path: Path) -> None:
    assert sync(seed_content, tmp_path / "snap.json") == 0
    # token check, repository, generate.yml runs, then 7 for the archive: no request per item, no lazy fetches
    assert len(fake.requests()) == 10
    assert fake.requests()[0] == ("GET", "/rate_limit")
    assert {method for method, _ in fake.requests()} == {"GET"}
    assert len(fake.requests()) == expected_requests(wanted_from_content(load_content(seed_content)))
    snapshot = read_snapshot(tmp_path / "snap.json")
    assert snapshot.repository == REPO
    assert [run.id for run in snapshot.workflows["generate.yml"]] == [700, 699]
    assert [pull.number for pull in snapshot.pulls] == [12, 11, 9]  # #13 was closed without merging
    assert [pull.ci for pull in snapshot.pulls] == ["success", "success", "failure"]


def test_sync_reads_linked_issues_checks_and_milestones_once_each(fake: FakeGitHub, linked_content: Path,
                                                                  tmp_path: Path) -> None:
    assert sync(linked_content, tmp_path / "snap.json") == 0
    assert len(fake.requests()) == 15  # 10 + three refs (two in links:, one in the text) + checks + milestone
    issue_paths = [path for _, path in fake.requests() if "/issues/" in path]
    assert issue_paths == [f"/repos/{REPO}/issues/{n}" for n in (1, 2, 3)]  # code spans are not links
    snapshot = read_snapshot(tmp_path / "snap.json")
    assert {ref: issue.state for ref, issue in snapshot.issues.items()} == {
        "acme/giftboard#1": "closed", "acme/giftboard#2": "draft", "acme/giftboard#3": "open"}
    assert set(snapshot.checks) == {"build"}
    assert snapshot.milestones["1"].open_issues == 1


def test_snapshot_is_sorted_json_and_written_atomically(fake: FakeGitHub, linked_content: Path,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "cache" / "github-snapshot.json"
    assert sync(linked_content, path) == 0
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert [p.name for p in path.parent.iterdir()] == ["github-snapshot.json"]  # no temp file left behind


def test_token_appears_nowhere_in_output_logs_or_snapshot(fake: FakeGitHub, linked_content: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert sync(linked_content, tmp_path / "snap.json") == 0
    fake.fail(r"/milestones/1$", 422, message=f"echoing {TOKEN} back")  # a hostile error body
    assert sync(linked_content, tmp_path / "other.json") == 1
    out, err = capsys.readouterr()
    assert "HTTP 422" in err
    for text in (out, err, caplog.text, (tmp_path / "snap.json").read_text(encoding="utf-8")):
        assert TOKEN not in text


def test_a_502_then_200_is_retried(fake: FakeGitHub, seed_content: Path, tmp_path: Path) -> None:
    fake.fail(f"^/repos/{REPO}$", 502)
    assert sync(seed_content, tmp_path / "snap.json") == 0
    assert fake.requests().count(("GET", f"/repos/{REPO}")) == 2
    assert len(fake.requests()) == 11


def test_a_server_error_that_persists_fails_with_a_clear_message(fake: FakeGitHub, seed_content: Path,
                                                                 tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fake.fail(f"^/repos/{REPO}/releases$", 503, times=99)
    assert sync(seed_content, tmp_path / "snap.json") == 1
    assert "releases: GitHub answered HTTP 503" in capsys.readouterr().err
    assert fake.requests().count(("GET", f"/repos/{REPO}/releases")) == 4  # the first try and three retries
    assert not (tmp_path / "snap.json").exists()


@pytest.mark.parametrize(("status", "message"), [
    (403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
    (429, "Too many requests"),
])
def test_a_rate_limit_with_a_short_retry_after_waits_then_succeeds(fake: FakeGitHub, seed_content: Path,
                                                                   tmp_path: Path, status: int, message: str) -> None:
    fake.fail(f"^/repos/{REPO}/languages$", status, headers={"Retry-After": "1"}, message=message)
    started = time.monotonic()
    assert sync(seed_content, tmp_path / "snap.json") == 0
    assert 1 <= time.monotonic() - started < 30  # waited the second asked for, not a minute (busy machines vary)
    assert fake.requests().count(("GET", f"/repos/{REPO}/languages")) == 2


def test_a_rate_limit_longer_than_allowed_fails_fast_with_a_clear_message(
        fake: FakeGitHub, seed_content: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reset = str(int(time.time()) + 3600)
    fake.fail(f"^/repos/{REPO}$", 403, message="API rate limit exceeded for user ID 1.",
              headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    started = time.monotonic()
    assert sync(seed_content, tmp_path / "snap.json") == 1
    assert time.monotonic() - started < 30  # refused at once, not after the hour the reset asks for
    err = capsys.readouterr().err
    assert "GitHub rate limit" in err and "longer than the 5s allowed" in err and "--offline" in err


def test_missing_linked_issue_is_recorded_not_fatal(fake: FakeGitHub, linked_content: Path, tmp_path: Path) -> None:
    del fake.repo(REPO).issues[3]
    assert sync(linked_content, tmp_path / "snap.json") == 0
    assert read_snapshot(tmp_path / "snap.json").issues["acme/giftboard#3"].state == "missing"


def test_sync_without_a_repository_says_where_to_set_it(monkeypatch: pytest.MonkeyPatch, seed_content: Path,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert sync(seed_content, tmp_path / "snap.json") == 1
    assert "repository: owner/name" in capsys.readouterr().err


# -- snapshot resolution for builds -----------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def github_env(env: dict[str, str]) -> GitHubEnv:
    return load_settings(env).github


def snapshot_at(when: datetime, repository: str = REPO) -> Snapshot:
    return Snapshot(repository=repository, fetched_at=format_time(when))


def test_offline_without_a_snapshot_fails_clearly(seed_content: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    with pytest.raises(SourceError, match=r"--offline: no GitHub snapshot at .*github-snapshot.json. Run "
                                          r"`python -m builder sync` first"):
        resolve_snapshot(seed_content, offline=True, cache_dir=tmp_path / ".cache", github=GitHubEnv(), now=NOW)


def test_offline_uses_a_stale_snapshot_and_says_so(seed_content: Path, tmp_path: Path) -> None:
    write_snapshot(snapshot_at(NOW - timedelta(days=3)), tmp_path / "github-snapshot.json")
    said: list[str] = []
    snapshot = resolve_snapshot(seed_content, offline=True, cache_dir=tmp_path, github=GitHubEnv(), now=NOW,
                                say=said.append)
    assert snapshot is not None
    assert said and "stale" in said[0] and "3.0 days ago" in said[0]


def test_online_build_syncs_when_the_snapshot_is_stale_and_a_token_is_set(
        fake: FakeGitHub, seed_content: Path, tmp_path: Path) -> None:
    write_snapshot(snapshot_at(NOW - timedelta(days=3)), tmp_path / "github-snapshot.json")
    env = {"GITHUB_API_URL": fake.url, "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO}
    snapshot = resolve_snapshot(seed_content, offline=False, cache_dir=tmp_path, github=github_env(env), now=NOW,
                                say=print)
    assert snapshot is not None and snapshot.fetched_at == format_time(NOW)
    assert len(fake.requests()) == 10


def test_online_build_without_a_token_never_touches_the_network(seed_content: Path, tmp_path: Path) -> None:
    said: list[str] = []
    env = {"GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_REPOSITORY": REPO}
    assert resolve_snapshot(seed_content, offline=False, cache_dir=tmp_path, github=github_env(env), now=NOW,
                            say=said.append) is None
    assert "no GitHub snapshot" in said[0]


def test_fresh_snapshot_is_used_and_other_repositories_are_ignored(seed_content: Path, tmp_path: Path) -> None:
    path = tmp_path / "github-snapshot.json"
    write_snapshot(snapshot_at(NOW - timedelta(hours=1)), path)
    env = {"GITHUB_REPOSITORY": REPO}
    assert resolve_snapshot(seed_content, offline=False, cache_dir=tmp_path, github=github_env(env),
                            now=NOW) is not None
    assert load_snapshot(path, now=NOW + timedelta(days=2)) is None
    assert load_snapshot(path, now=NOW + timedelta(days=2), allow_stale=True) is not None
    write_snapshot(snapshot_at(NOW, repository="someone/else"), path)
    with pytest.raises(SourceError, match="no GitHub snapshot"):
        resolve_snapshot(seed_content, offline=True, cache_dir=tmp_path, github=github_env(env), now=NOW,
                         say=lambda _: None)


def test_a_sync_the_remaining_quota_cannot_cover_stops_after_the_first_request(
        fake: FakeGitHub, seed_content: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake.rate_remaining = 3
    assert sync(seed_content, tmp_path / "snap.json") == 1
    err = capsys.readouterr().err
    assert "GitHub rate limit: 3 requests left until 11:06 UTC, and this sync needs 9" in err
    assert fake.requests() == [("GET", "/rate_limit")]


def test_a_sync_reuses_one_connection(fake: FakeGitHub, seed_content: Path, tmp_path: Path) -> None:
    assert sync(seed_content, tmp_path / "snap.json") == 0
    assert len({entry.peer for entry in fake.log}) == 1
