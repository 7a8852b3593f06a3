"""Read-only by construction: write-scoped classic tokens are refused, and no request but GET/HEAD leaves."""

from __future__ import annotations

from collections.abc import Iterator

import github
import pytest

from builder.errors import TokenPolicyError
from builder.github.client import GitHubReader, GitHubSettings
from builder.github.token_policy import ReadOnlyHTTPConnection, check_scopes, scrub
from tests.fakes.github_api import FakeGitHub

TOKEN = "ghp_secretTOKENvalue1234567890"
REPO = "acme/giftboard"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as server:
        server.add_issue(REPO, 1, title="First", state="open")
        yield server


@pytest.fixture(autouse=True)
def no_real_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens: a leak would fail loudly
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)


def reader_for(fake: FakeGitHub) -> GitHubReader:
    return GitHubReader(GitHubSettings(api_url=fake.url, repository=REPO, token=TOKEN, max_wait=2))


@pytest.mark.parametrize("scopes", ["repo", "public_repo", "workflow", "write:packages", "admin:org", "delete_repo",
                                    "read:org, repo", "gist", "user"])
def test_write_scoped_classic_token_is_refused_and_nothing_else_is_fetched(fake: FakeGitHub, scopes: str) -> None:
    fake.scopes = scopes
    reader = reader_for(fake)
    with pytest.raises(TokenPolicyError) as refused:
        reader.verify_token()
    message = str(refused.value)
    assert "fine-grained" in message and "GITHUB_TOKEN" in message
    assert any(f"'{scope.strip()}'" in message for scope in scopes.split(","))
    assert TOKEN not in message
    assert fake.requests() == [("GET", "/rate_limit")]
    with pytest.raises(TokenPolicyError):
        reader.read("/issues/1", "acme/giftboard#1")
    assert fake.requests() == [("GET", "/rate_limit")]


@pytest.mark.parametrize("scopes", [None, "", "read:org", "read:org, read:user, user:email"])
def test_read_only_tokens_work(fake: FakeGitHub, scopes: str | None) -> None:
    fake.scopes = scopes
    reader = reader_for(fake)
    reader.verify_token()
    assert reader.read("/issues/1", "acme/giftboard#1")["title"] == "First"
    assert fake.requests() == [("GET", "/rate_limit"), ("GET", f"/repos/{REPO}/issues/1")]


def test_guard_blocks_a_post_when_code_calls_a_mutating_pygithub_method(fake: FakeGitHub) -> None:
    reader = reader_for(fake)
    reader.verify_token()
    repo = reader.github.get_repo(REPO)  # lazy: no request
    with pytest.raises(TokenPolicyError, match="refused a POST"):
        repo.create_issue(title="should never be created")
    with pytest.raises(TokenPolicyError, match="refused a PATCH"):
        repo.get_issue(1).edit(state="closed")
    with pytest.raises(TokenPolicyError, match="refused a DELETE"):
        reader.github.requester.requestJsonAndCheck("DELETE", f"/repos/{REPO}")
    assert fake.requests("POST") == fake.requests("PATCH") == fake.requests("DELETE") == []


def test_guard_covers_pygithub_clients_the_builder_did_not_configure(fake: FakeGitHub) -> None:
    reader_for(fake)  # installs the guard process-wide
    other = github.Github(auth=github.Auth.Token(TOKEN), base_url=fake.url, retry=None, lazy=True)
    with pytest.raises(TokenPolicyError):
        other.get_repo(REPO).create_label("x", "ffffff")
    assert fake.requests("POST") == []


@pytest.mark.parametrize(("header", "refused"), [
    (None, None), ("", None), ("read:org, read:packages", None), ("repo", "repo"),
    ("admin:repo_hook", "admin:repo_hook"),
    ("read:org, write:discussion", "write:discussion"), ("project", "project"), ("security_events", "security_events"),
])
def test_scope_policy(header: str | None, refused: str | None) -> None:
    if refused is None:
        check_scopes(header)
        return
    with pytest.raises(TokenPolicyError, match=f"'{refused}'"):
        check_scopes(header)


def test_scrub_removes_every_occurrence_of_a_secret() -> None:
    assert scrub(f"token {TOKEN} and {TOKEN}", TOKEN) == "token *** and ***"
    assert repr(GitHubSettings(api_url="x", repository=REPO, token=TOKEN)).count(TOKEN) == 0


def test_every_connection_has_connect_and_read_timeouts(fake: FakeGitHub) -> None:
    assert ReadOnlyHTTPConnection("127.0.0.1", 1).timeout == (5.0, 30.0)  # PyGithub passes none for other hosts
    assert ReadOnlyHTTPConnection("127.0.0.1", 1, timeout=12).timeout == (5.0, 12)
