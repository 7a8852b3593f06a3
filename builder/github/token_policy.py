"""Read-only by construction: one guard every GitHub request passes, a scope check, and secret scrubbing.

The guard is a `requests` transport adapter mounted in PyGithub's connection classes, so it sees the
HTTP method of every request PyGithub sends, whichever method of PyGithub (or code using its Requester)
asked for it. It refuses anything but GET and HEAD before a byte leaves the process.
"""

from __future__ import annotations

from typing import Any

import requests
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester
from requests.adapters import HTTPAdapter

from builder.errors import TokenPolicyError

READ_METHODS = frozenset({"GET", "HEAD"})
# PyGithub takes one timeout, and none for connections it opens to other hosts: bound both phases here
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0

# Classic scopes that grant no write. Anything else (repo, public_repo, workflow, write:*, admin:*,
# delete_repo, gist, user, project, …) is refused: an allow-list also refuses scopes GitHub adds later.
READ_ONLY_SCOPES = frozenset({"read:org", "read:user", "user:email", "read:public_key", "read:repo_hook",
                              "read:gpg_key", "read:ssh_signing_key", "read:packages", "read:discussion",
                              "read:project", "read:enterprise", "read:audit_log"})

HOW_TO_READ_ONLY = (
    "use a fine-grained personal access token with read-only repository permissions (Contents, Issues, "
    "Pull requests, Actions, Checks, Metadata: Read), or the Actions GITHUB_TOKEN with read-only "
    "`permissions:`. A classic token cannot read a private repository without `repo`, which also grants write."
)


def refuse_writes(method: str) -> None:
    """The guard: raise unless `method` only reads."""
    if method.upper() not in READ_METHODS:
        raise TokenPolicyError(
            f"refused a {method.upper()} request: the board reads GitHub and never writes (only GET and HEAD)"
        )


def check_scopes(header: str | None) -> None:
    """Refuse a classic token whose `X-OAuth-Scopes` grant write; no header means a fine-grained/Actions token."""
    if header is None:
        return
    scopes = [scope.strip() for scope in header.split(",") if scope.strip()]
    writing = sorted(scope for scope in scopes if scope not in READ_ONLY_SCOPES)
    if writing:
        names = ", ".join(f"'{scope}'" for scope in writing)
        raise TokenPolicyError(
            f"refused GITHUB_TOKEN: it is a classic token whose scope {names} grants write access. "
            f"The board only reads: {HOW_TO_READ_ONLY}"
        )


def scrub(text: str, *secrets: str) -> str:
    """`text` with every secret replaced, for messages built from foreign exceptions."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class ReadOnlyAdapter(HTTPAdapter):
    """A transport adapter that sends only GET and HEAD."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        refuse_writes(request.method or "")
        return super().send(request, *args, **kwargs)


def _guard(session: requests.Session, adapter: HTTPAdapter) -> HTTPAdapter:
    guarded = ReadOnlyAdapter(max_retries=adapter.max_retries, pool_connections=adapter._pool_connections,
                              pool_maxsize=adapter._pool_maxsize)
    for prefix in ("https://", "http://"):  # both, so no scheme falls back to requests' default adapter
        session.mount(prefix, guarded)
    return guarded


class ReadOnlyHTTPConnection(HTTPRequestsConnectionClass):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adapter = _guard(self.session, self.adapter)
        self.timeout = (CONNECT_TIMEOUT, self.timeout or READ_TIMEOUT)  # type: ignore[assignment]


class ReadOnlyHTTPSConnection(HTTPSRequestsConnectionClass):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adapter = _guard(self.session, self.adapter)
        self.timeout = (CONNECT_TIMEOUT, self.timeout or READ_TIMEOUT)  # type: ignore[assignment]


def install_guard() -> None:
    """Make every PyGithub Requester in this process (including ones PyGithub derives) send through the guard.

    PyGithub's public hook is process-wide; that is what we want: no Requester can be built around it.
    """
    Requester.injectConnectionClasses(ReadOnlyHTTPConnection, ReadOnlyHTTPSConnection)
    # that hook was made for replaying recorded tests and also turns off keep-alive; keep one connection per
    # Requester as PyGithub normally does (a private flag, stable across PyGithub 2.x, checked by a test)
    setattr(Requester, "_Requester__persist", True)  # noqa: B010
