"""The read-only GitHub client: settings from `builder.settings`, PyGithub set up with the guard, bounded reads.

Every read is one request (lists read their first page only, 100 items), so the number of requests a
sync makes follows from what the content links, not from how big the repository is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException
from github.GithubException import BadCredentialsException, RateLimitExceededExceedsMaxWait, UnknownObjectException
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from builder.errors import ConfigError, SourceError, TokenPolicyError
from builder.github.token_policy import check_scopes, install_guard, scrub
from builder.settings import GitHubEnv

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
READ_TIMEOUT = 30


@dataclass(frozen=True)
class GitHubSettings:
    """Where to read from and with which token; `repr` never shows the token."""

    api_url: str
    repository: str
    token: str = ""
    max_wait: float = 60.0  # longest rate-limit wait (seconds) before giving up with a clear message
    retries: int = 3
    backoff: float = 0.5

    def __repr__(self) -> str:
        return f"GitHubSettings(api_url={self.api_url!r}, repository={self.repository!r}, token=***)"

    @classmethod
    def for_site(cls, site_repository: str | None, github: GitHubEnv) -> GitHubSettings:
        """site.yaml's `repository:` (else GITHUB_REPOSITORY), read with the token and limits of `github`."""
        repository = site_repository or github.repository
        if not repository:
            raise ConfigError(
                "no GitHub repository: set `repository: owner/name` in content/site.yaml or GITHUB_REPOSITORY"
            )
        return cls(api_url=github.api_url, repository=repository, token=github.token, max_wait=github.max_wait_s)


@dataclass(frozen=True)
class RateBudget:
    """The core REST quota left, and when it resets (Unix time)."""

    remaining: int
    reset: int

    def require(self, needed: int) -> None:
        if self.remaining >= needed:
            return
        at = datetime.fromtimestamp(self.reset, UTC).strftime("%H:%M UTC") if self.reset else "later"
        raise SourceError(
            f"GitHub rate limit: {self.remaining} requests left until {at}, and this sync needs {needed}; "
            "sync again after the reset, or build --offline from the last snapshot"
        )


class BoundedRetry(GithubRetry):
    """PyGithub's retry (5xx, secondary rate limits) that also retries 429, and never waits longer than allowed."""

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        if response is not None and response.status in (403, 429):
            wait = rate_limit_wait(response)
            if wait is not None and self.max_rate_limit_wait is not None and wait > self.max_rate_limit_wait:
                raise RateLimitExceededExceedsMaxWait(response.status, {"message": "rate limited"},
                                                      dict(response.headers), wait=wait)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def rate_limit_wait(response: BaseHTTPResponse) -> float | None:
    """Seconds GitHub asks us to wait (Retry-After, or X-RateLimit-Reset when none remain), if it says."""
    retry_after = response.headers.get("Retry-After")
    if retry_after and retry_after.isdigit():
        return float(retry_after)
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset", "")
        if reset.isdigit():
            return max(0.0, int(reset) - datetime.now(UTC).timestamp())
    return None


def make_retry(settings: GitHubSettings) -> BoundedRetry:
    return BoundedRetry(
        total=settings.retries,
        backoff_factor=settings.backoff,
        status_forcelist=[*range(500, 600), 429],
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,  # the last answer reaches PyGithub, which raises with its status and message
        secondary_rate_wait=min(60.0, settings.max_wait),
        max_rate_limit_wait=settings.max_wait,
        retry_after_max=int(settings.max_wait) or 1,
    )


class GitHubReader:
    """A guarded PyGithub client for one repository; `verify_token()` runs before any other read."""

    def __init__(self, settings: GitHubSettings) -> None:
        install_guard()
        self.settings = settings
        auth = Auth.Token(settings.token) if settings.token else None
        self.github = Github(
            auth=auth,
            base_url=settings.api_url,
            timeout=READ_TIMEOUT,  # the guarded connection adds a connect timeout
            per_page=PER_PAGE,
            retry=make_retry(settings),
            seconds_between_requests=None,  # reads only; GitHub asks for pacing between writes, which we never send
            seconds_between_writes=None,  # (and PyGithub's write pacing would only delay the guard's refusal)
            lazy=True,
        )
        self.verified = False
        self.requests_made = 0  # calls, not HTTP attempts: retries happen below, in the transport

    @contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """Map PyGithub and requests errors to SourceError, with the token scrubbed from every message."""
        token = self.settings.token
        try:
            yield
        except (TokenPolicyError, SourceError):
            raise
        except RateLimitExceededExceedsMaxWait as error:
            raise SourceError(
                f"GitHub rate limit while reading {what}: it asks to wait {error.wait:.0f}s, longer than the "
                f"{self.settings.max_wait:.0f}s allowed (GIFTBOARD_GITHUB_MAX_WAIT); sync again later, or build "
                "--offline from the last snapshot"
            ) from None
        except RateLimitExceededException as error:
            raise SourceError(
                f"GitHub rate limit while reading {what} (HTTP {error.status}); sync again later, or build "
                "--offline from the last snapshot"
            ) from None
        except BadCredentialsException:
            raise SourceError("GitHub rejected GITHUB_TOKEN (HTTP 401): check that it is set and not expired") from None
        except UnknownObjectException:
            raise SourceError(
                f"{what}: not found on GitHub (HTTP 404): check the name, and that the token can read it"
            ) from None
        except GithubException as error:
            message = error.message or (error.data.get("message") if isinstance(error.data, dict) else "") or ""
            raise SourceError(scrub(f"{what}: GitHub answered HTTP {error.status}: {message}", token)) from None
        except requests.RequestException as error:
            raise SourceError(
                scrub(f"{what}: cannot reach {self.settings.api_url} ({type(error).__name__})", token)
            ) from None

    def get(self, url: str, parameters: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
        """One GET through PyGithub's Requester: (lower-cased headers, JSON)."""
        self.requests_made += 1
        return self.github.requester.requestJsonAndCheck("GET", url, parameters=parameters)

    def verify_token(self) -> RateBudget:
        """The first request: refuse a classic token with write scopes before anything else is read.

        `/rate_limit` costs no quota and answers any token, so it also tells us what a sync may spend.
        """
        with self.reading("the rate limit"):
            headers, data = self.get("/rate_limit")
        check_scopes(headers.get("x-oauth-scopes"))
        self.verified = True
        core = (data.get("resources") or {}).get("core") or data.get("rate") or {}
        return RateBudget(remaining=int(core.get("remaining", 1 << 30)), reset=int(core.get("reset", 0)))

    def _repo_url(self, repository: str | None = None) -> str:
        if not self.verified:
            raise TokenPolicyError("internal: verify_token() must run before any repository is read")
        return f"/repos/{repository or self.settings.repository}"

    def read(self, path: str, what: str, *, repository: str | None = None,
             parameters: dict[str, Any] | None = None) -> Any:
        """GET `path` under the repository (`""` for the repository itself); one request."""
        with self.reading(what):
            _, data = self.get(self._repo_url(repository) + path, parameters)
        return data

    def read_optional(self, path: str, what: str, *, repository: str | None = None,
                      parameters: dict[str, Any] | None = None) -> Any | None:
        """Like `read`, but None on 404 (a linked issue deleted, a repository without README or releases)."""
        with self.reading(what):
            try:
                _, data = self.get(self._repo_url(repository) + path, parameters)
            except UnknownObjectException:
                return None
        return data

    def first_page(self, path: str, what: str, *, parameters: dict[str, Any] | None = None) -> Any:
        """The first page (up to 100 items) of a list: recent activity is all the board shows."""
        return self.read(path, what, parameters={"per_page": PER_PAGE, **(parameters or {})})
