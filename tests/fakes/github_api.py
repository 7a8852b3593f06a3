"""A fake GitHub REST API: a real threaded HTTP server on 127.0.0.1 with GitHub-shaped JSON.

Tests point `GITHUB_API_URL` at `FakeGitHub.url`. It serves any owner/repo (unknown ones get a default
repository), paginates lists with `Link` headers, logs every request (method, path), sends a configurable
`X-OAuth-Scopes` header, and injects faults (a 502 before a 200, 403/429 rate limits).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.loopback import QuietHandler

T0 = "2026-11-20T10:00:00Z"


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: str
    peer: int = 0  # the client's port: one value per TCP connection


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    times: int


@dataclass
class FakeRepo:
    """What one fake repository holds; tests fill it in with the add_* helpers."""

    full_name: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    milestones: dict[int, dict[str, Any]] = field(default_factory=dict)
    workflow_runs: list[dict[str, Any]] = field(default_factory=list)
    check_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    languages: dict[str, int] = field(default_factory=lambda: {"Python": 120_000, "HTML": 8_000, "CSS": 4_000})
    contents: list[tuple[str, str]] = field(
        default_factory=lambda: [("builder", "dir"), ("content", "dir"), ("tests", "dir"), ("README.md", "file")]
    )
    readme: str = "# Giftboard\n\nGiftboard builds a launch-gate board from content.\n\nMore text.\n"
    size: int = 1234
    private: bool = False
    default_branch: str = "main"


class FakeGitHub:
    """The server and its state; use as a context manager or call start()/stop()."""

    def __init__(self, *, token: str = "", scopes: str | None = None, per_page_max: int = 100) -> None:
        self.token = token
        self.scopes = scopes
        self.per_page_max = per_page_max
        self.repos: dict[str, FakeRepo] = {}
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self.rate_remaining = 4999
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- state helpers ------------------------------------------------------------------------------------------
    def repo(self, full_name: str) -> FakeRepo:
        with self._lock:
            return self.repos.setdefault(full_name, FakeRepo(full_name))

    def add_issue(
        self,
        full_name: str,
        number: int,
        *,
        title: str = "",
        state: str = "open",
        pull: bool = False,
        merged: bool = False,
        draft: bool = False,
        closed_at: str | None = None,
        merge_commit_sha: str | None = None,
    ) -> dict[str, Any]:
        issue = issue_json(self.url, full_name, number, title or f"Item {number}", state, pull=pull,
                           merged=merged, draft=draft, closed_at=closed_at, merge_commit_sha=merge_commit_sha)
        self.repo(full_name).issues[number] = issue
        return issue

    def add_milestone(self, full_name: str, number: int, *, title: str, open_issues: int, closed_issues: int,
                      state: str = "open", due_on: str | None = None) -> None:
        self.repo(full_name).milestones[number] = milestone_json(
            self.url, full_name, number, title, open_issues, closed_issues, state, due_on)

    def add_workflow_run(self, full_name: str, *, run_id: int, path: str, conclusion: str | None,
                         status: str = "completed", created_at: str = T0, started_at: str = T0,
                         updated_at: str = T0, head_sha: str = "0" * 40, event: str = "push",
                         head_branch: str = "main", head_repository: str | None = None) -> None:
        """A run; `head_repository` is where its commit lives (a fork, for a contributor's pull request)."""
        self.repo(full_name).workflow_runs.append(workflow_run_json(
            self.url, full_name, run_id, path, conclusion, status, created_at, started_at, updated_at, head_sha,
            event, head_branch, head_repository or full_name))

    def add_check_run(self, full_name: str, ref: str, *, name: str, conclusion: str | None,
                      status: str = "completed", completed_at: str = T0) -> None:
        runs = self.repo(full_name).check_runs.setdefault(ref, [])
        runs.append(check_run_json(self.url, full_name, 9000 + len(runs), name, conclusion, status, completed_at))

    def add_commit(self, full_name: str, *, sha: str, message: str, date: str, login: str = "octocat") -> None:
        self.repo(full_name).commits.append(commit_json(self.url, full_name, sha, message, date, login))

    def add_release(self, full_name: str, *, release_id: int, tag: str, name: str, published_at: str,
                    draft: bool = False, prerelease: bool = False) -> None:
        self.repo(full_name).releases.append(release_json(
            self.url, full_name, release_id, tag, name, published_at, draft, prerelease))

    # -- faults and log -----------------------------------------------------------------------------------------
    def fail(self, path: str, status: int, *, times: int = 1, method: str = "GET",
             headers: dict[str, str] | None = None, message: str = "Server Error") -> None:
        """The next `times` requests whose path matches the regex `path` answer `status`."""
        self.faults.append(Fault(method, re.compile(path), status, headers or {}, {"message": message}, times))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    return fault
        return None

    def record(self, method: str, path: str, query: str, peer: int = 0) -> None:
        with self._lock:
            self.log.append(Logged(method, path, query, peer))

    def requests(self, method: str | None = None) -> list[tuple[str, str]]:
        return [(entry.method, entry.path) for entry in self.log if method is None or entry.method == method]


# -- JSON shaped like GitHub's documented REST responses ------------------------------------------------------------

def user_json(base: str, login: str = "octocat") -> dict[str, Any]:
    return {"login": login, "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": False,
            "url": f"{base}/users/{login}", "html_url": f"https://github.com/{login}",
            "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4"}


def repo_json(base: str, repo: FakeRepo) -> dict[str, Any]:
    owner, name = repo.full_name.split("/")
    api = f"{base}/repos/{repo.full_name}"
    return {
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": repo.full_name,
        "owner": user_json(base, owner), "private": repo.private, "html_url": f"https://github.com/{repo.full_name}",
        "description": "Launch-gate board and gift pipeline", "fork": False, "url": api,
        "issues_url": f"{api}/issues{{/number}}", "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}", "releases_url": f"{api}/releases{{/id}}",
        "languages_url": f"{api}/languages", "contents_url": f"{api}/contents/{{+path}}",
        "commits_url": f"{api}/commits{{/sha}}", "homepage": None, "size": repo.size,
        "stargazers_count": 3, "watchers_count": 3, "language": "Python", "forks_count": 0, "open_issues_count": 2,
        "default_branch": repo.default_branch, "topics": ["board"],
        "visibility": "private" if repo.private else "public",
        "archived": False, "disabled": False, "pushed_at": "2026-11-24T18:00:00Z", "created_at": "2026-01-05T09:00:00Z",
        "updated_at": "2026-11-24T18:00:00Z", "permissions": {"admin": False, "push": False, "pull": True},
    }


def issue_json(base: str, full_name: str, number: int, title: str, state: str, *, pull: bool, merged: bool,
               draft: bool, closed_at: str | None, merge_commit_sha: str | None) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    kind = "pull" if pull else "issues"
    issue: dict[str, Any] = {
        "id": 100000 + number, "node_id": "I_kwDO", "number": number, "title": title, "state": state,
        "state_reason": "completed" if state == "closed" and not pull else None, "locked": False,
        "url": f"{api}/issues/{number}", "repository_url": api, "html_url": f"https://github.com/{full_name}/{kind}/{number}",
        "labels_url": f"{api}/issues/{number}/labels{{/name}}", "comments_url": f"{api}/issues/{number}/comments",
        "user": user_json(base), "labels": [], "assignee": None, "assignees": [], "milestone": None, "comments": 0,
        "created_at": "2026-11-01T09:00:00Z", "updated_at": closed_at or "2026-11-02T09:00:00Z",
        "closed_at": closed_at if state == "closed" else None, "author_association": "MEMBER", "body": "Body text.",
    }
    if pull:
        issue["draft"] = draft
        issue["pull_request"] = {
            "url": f"{api}/pulls/{number}", "html_url": f"https://github.com/{full_name}/pull/{number}",
            "diff_url": f"https://github.com/{full_name}/pull/{number}.diff",
            "patch_url": f"https://github.com/{full_name}/pull/{number}.patch",
            "merged_at": (closed_at or T0) if merged else None,
        }
        issue["merge_commit_sha"] = merge_commit_sha  # kept for the pulls endpoint below
    return issue


def pull_json(base: str, full_name: str, issue: dict[str, Any]) -> dict[str, Any]:
    """GET /repos/{owner}/{repo}/pulls list item for an issue that is a pull request."""
    number = issue["number"]
    api = f"{base}/repos/{full_name}"
    return {
        "id": 200000 + number, "node_id": "PR_kwDO", "number": number, "state": issue["state"], "title": issue["title"],
        "url": f"{api}/pulls/{number}", "html_url": f"https://github.com/{full_name}/pull/{number}",
        "issue_url": f"{api}/issues/{number}", "user": user_json(base), "body": issue["body"],
        "created_at": issue["created_at"], "updated_at": issue["updated_at"], "closed_at": issue["closed_at"],
        "merged_at": issue["pull_request"]["merged_at"], "merge_commit_sha": issue.get("merge_commit_sha"),
        "draft": issue.get("draft", False), "labels": [], "milestone": None,
        "head": {"label": "octocat:feature", "ref": f"feature-{number}", "sha": f"{number:040x}"},
        "base": {"label": "octocat:main", "ref": "main", "sha": "f" * 40},
        "author_association": "MEMBER",
    }


def milestone_json(base: str, full_name: str, number: int, title: str, open_issues: int, closed_issues: int,
                   state: str, due_on: str | None) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    return {
        "url": f"{api}/milestones/{number}", "html_url": f"https://github.com/{full_name}/milestone/{number}",
        "labels_url": f"{api}/milestones/{number}/labels", "id": 300000 + number, "node_id": "MDk6TWlsZXN0b25l",
        "number": number, "state": state, "title": title, "description": "", "creator": user_json(base),
        "open_issues": open_issues, "closed_issues": closed_issues, "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-11-20T09:00:00Z", "closed_at": None, "due_on": due_on,
    }


def workflow_run_json(base: str, full_name: str, run_id: int, path: str, conclusion: str | None, status: str,
                      created_at: str, started_at: str, updated_at: str, head_sha: str, event: str,
                      head_branch: str, head_repository: str) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    name = path.rsplit("/", 1)[-1].removesuffix(".yml").removesuffix(".yaml")
    return {
        "id": run_id, "name": name, "node_id": "WFR_kwLO", "head_branch": head_branch, "head_sha": head_sha,
        "path": f".github/workflows/{path}", "display_title": f"Run {run_id}", "run_number": run_id % 1000,
        "event": event, "status": status, "conclusion": conclusion, "workflow_id": 161335, "check_suite_id": 42,
        "url": f"{api}/actions/runs/{run_id}", "html_url": f"https://github.com/{full_name}/actions/runs/{run_id}",
        "pull_requests": [], "created_at": created_at, "updated_at": updated_at, "run_attempt": 1,
        "run_started_at": started_at, "jobs_url": f"{api}/actions/runs/{run_id}/jobs",
        "workflow_url": f"{api}/actions/workflows/161335", "actor": user_json(base),
        "head_commit": {"id": head_sha, "message": "commit", "timestamp": created_at},
        "repository": {"id": 1296269, "full_name": full_name},
        "head_repository": {"id": 1296269 if head_repository == full_name else 7, "full_name": head_repository},
    }


def check_run_json(base: str, full_name: str, run_id: int, name: str, conclusion: str | None, status: str,
                   completed_at: str) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    return {
        "id": run_id, "head_sha": "0" * 40, "node_id": "CR_kwDO", "external_id": "", "name": name,
        "url": f"{api}/check-runs/{run_id}", "html_url": f"https://github.com/{full_name}/runs/{run_id}",
        "details_url": f"https://github.com/{full_name}/runs/{run_id}", "status": status, "conclusion": conclusion,
        "started_at": T0, "completed_at": completed_at if status == "completed" else None,
        "output": {"title": None, "summary": None, "text": None, "annotations_count": 0, "annotations_url": ""},
        "check_suite": {"id": 5}, "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
        "pull_requests": [],
    }


def commit_json(base: str, full_name: str, sha: str, message: str, date: str, login: str) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    person = {"name": "Mona Octocat", "email": "mona@example.com", "date": date}
    return {
        "url": f"{api}/commits/{sha}", "sha": sha, "node_id": "C_kwDO", "html_url": f"https://github.com/{full_name}/commit/{sha}",
        "commit": {"url": f"{api}/git/commits/{sha}", "author": person, "committer": person, "message": message,
                   "tree": {"url": f"{api}/git/trees/{sha}", "sha": sha}, "comment_count": 0},
        "author": user_json(base, login), "committer": user_json(base, login), "parents": [],
    }


def release_json(base: str, full_name: str, release_id: int, tag: str, name: str, published_at: str, draft: bool,
                 prerelease: bool) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    return {
        "url": f"{api}/releases/{release_id}", "html_url": f"https://github.com/{full_name}/releases/tag/{tag}",
        "id": release_id, "node_id": "RE_kwDO", "tag_name": tag, "target_commitish": "main", "name": name,
        "body": "Release notes.", "draft": draft, "prerelease": prerelease, "created_at": published_at,
        "published_at": published_at, "author": user_json(base), "assets": [],
        "tarball_url": f"{api}/tarball/{tag}", "zipball_url": f"{api}/zipball/{tag}",
    }


def content_json(base: str, full_name: str, path: str, kind: str) -> dict[str, Any]:
    api = f"{base}/repos/{full_name}"
    return {
        "type": kind, "size": 0 if kind == "dir" else 2048, "name": path.rsplit("/", 1)[-1], "path": path,
        "sha": "3" * 40, "url": f"{api}/contents/{path}?ref=main", "git_url": f"{api}/git/trees/{'3' * 40}",
        "html_url": f"https://github.com/{full_name}/tree/main/{path}", "download_url": None,
        "_links": {"self": f"{api}/contents/{path}?ref=main"},
    }


def rate_limit_json(remaining: int) -> dict[str, Any]:
    core = {"limit": 5000, "remaining": remaining, "reset": 1795000000, "used": 5000 - remaining, "resource": "core"}
    search = {"limit": 30, "remaining": 30, "reset": 1795000000, "used": 0, "resource": "search"}
    graphql = {"limit": 5000, "remaining": 5000, "reset": 1795000000, "used": 0, "resource": "graphql"}
    return {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}


# -- HTTP -----------------------------------------------------------------------------------------------------------

REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


class _Handler(QuietHandler):  # quiet: tests read FakeGitHub.log
    api: FakeGitHub
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        self.read_body()
        self.api.record(method, path, parts.query, self.client_address[1])
        if self.api.token and self.headers.get("Authorization", "") not in (
            f"token {self.api.token}", f"Bearer {self.api.token}"
        ):
            self._send(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
            return
        fault = self.api.take_fault(method, path)
        if fault is not None:
            self._send(fault.status, fault.body, fault.headers)
            return
        if method not in ("GET", "HEAD"):
            # a fake that accepts writes, so a test can see one get through if the guard ever failed
            self._send(201, {"message": "created", "number": 999, "id": 999, "title": "written", "state": "open",
                             "url": f"{self.api.url}{path}/999"})
            return
        status, body, headers = self._route(path, query)
        self._send(status, body, headers, head=method == "HEAD")

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        base = self.api.url
        if path == "/rate_limit":
            return 200, rate_limit_json(self.api.rate_remaining), {}
        match = re.fullmatch(REPO + r"(?P<rest>/.*)?", path)
        if not match:
            return _not_found()
        repo = self.api.repo(f"{match['owner']}/{match['name']}")
        rest = match["rest"] or ""
        if rest in ("", "/"):
            return 200, repo_json(base, repo), {}
        if found := re.fullmatch(r"/issues/(\d+)", rest):
            issue = repo.issues.get(int(found[1]))
            if issue is None:
                return _not_found()
            return 200, {k: v for k, v in issue.items() if k != "merge_commit_sha"}, {}
        if found := re.fullmatch(r"/pulls/(\d+)", rest):
            issue = repo.issues.get(int(found[1]))
            if issue is None or "pull_request" not in issue:
                return _not_found()
            return 200, pull_json(base, repo.full_name, issue), {}
        if rest == "/pulls":
            state = query.get("state", ["open"])[0]
            issues = [issue for issue in repo.issues.values() if "pull_request" in issue]
            pulls = [pull_json(base, repo.full_name, issue) for issue in issues]
            pulls = [pull for pull in pulls if state == "all" or pull["state"] == state]
            pulls.sort(key=lambda pull: pull["updated_at"], reverse=True)
            return self._page(path, query, pulls)
        if found := re.fullmatch(r"/milestones/(\d+)", rest):
            milestone = repo.milestones.get(int(found[1]))
            return (200, milestone, {}) if milestone else _not_found()
        if found := re.fullmatch(r"/actions/workflows/([^/]+)/runs", rest):
            runs = [run for run in _filter_runs(repo.workflow_runs, query) if run["path"].endswith("/" + found[1])]
            return self._page(path, query, _newest(runs), wrap="workflow_runs")
        if rest == "/actions/runs":
            return self._page(path, query, _newest(_filter_runs(repo.workflow_runs, query)), wrap="workflow_runs")
        if found := re.fullmatch(r"/commits/([^/]+)/check-runs", rest):
            runs = repo.check_runs.get(found[1], [])
            return self._page(path, query, runs, wrap="check_runs")
        if rest == "/commits":
            commits = sorted(repo.commits, key=lambda c: c["commit"]["committer"]["date"], reverse=True)
            return self._page(path, query, commits)
        if rest == "/releases":
            releases = sorted(repo.releases, key=lambda r: r["published_at"], reverse=True)
            return self._page(path, query, releases)
        if rest == "/languages":
            return 200, dict(repo.languages), {}
        if rest in ("/contents", "/contents/"):
            return 200, [content_json(base, repo.full_name, name, kind) for name, kind in repo.contents], {}
        if rest == "/readme":
            body = content_json(base, repo.full_name, "README.md", "file")
            encoded = base64.b64encode(repo.readme.encode()).decode()
            body.update(encoding="base64", content="\n".join(_chunks(encoded, 60)) + "\n", size=len(repo.readme))
            return 200, body, {}
        return _not_found()

    def _page(self, path: str, query: dict[str, list[str]], items: list[dict[str, Any]],
              wrap: str | None = None) -> tuple[int, Any, dict[str, str]]:
        per_page = min(int(query.get("per_page", ["30"])[0]), self.api.per_page_max)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        flat = {key: values[0] for key, values in query.items()}

        def link(number: int, rel: str) -> str:
            return f'<{self.api.url}{path}?{urlencode({**flat, "per_page": per_page, "page": number})}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        body: Any = {"total_count": len(items), wrap: chunk} if wrap else chunk
        return 200, body, headers

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, *, head: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        given = {key.lower() for key in headers or {}}
        defaults = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self.api.rate_remaining),
                    "X-RateLimit-Reset": "1795000000"}
        for key, value in defaults.items():
            if key.lower() not in given:
                self.send_header(key, value)
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        if self.api.scopes is not None:
            self.send_header("X-OAuth-Scopes", self.api.scopes)
            self.send_header("X-Accepted-OAuth-Scopes", "repo")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)


def _not_found() -> tuple[int, Any, dict[str, str]]:
    return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}


def _filter_runs(runs: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """GitHub's `branch` and `event` filters: `branch` matches the head branch by name only, so a fork's pull
    request from its own `main` passes it, as on github.com."""
    branch, event = query.get("branch", [None])[0], query.get("event", [None])[0]
    return [run for run in runs if (branch is None or run["head_branch"] == branch)
            and (event is None or run["event"] == event)]


def _newest(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(runs, key=lambda run: (run["created_at"], run["id"]), reverse=True)


def _chunks(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def seed_board_world(fake: FakeGitHub, repository: str) -> None:
    """A repository with merged pull requests, a release, CI and workflow runs, and recent commits."""
    merged = [(11, "Board core", "2026-11-18", "a"), (12, "Read-only GitHub source", "2026-11-21", "b"),
              (9, "Phase 1 proof", "2026-10-02", "c")]
    for number, title, day, sha in merged:
        fake.add_issue(repository, number, title=title, state="closed", pull=True, merged=True,
                       closed_at=f"{day}T12:00:00Z", merge_commit_sha=sha * 40)
        fake.add_workflow_run(repository, run_id=500 + number, path="ci.yml",
                              conclusion="failure" if number == 9 else "success", head_sha=sha * 40,
                              created_at=f"{day}T12:01:00Z", started_at=f"{day}T12:01:20Z",
                              updated_at=f"{day}T12:04:00Z")
    fake.add_issue(repository, 13, title="Closed without merging", state="closed", pull=True,
                   closed_at="2026-11-19T09:00:00Z")
    fake.add_release(repository, release_id=1, tag="v0.1.0", name="Phase 1", published_at="2026-10-03T09:00:00Z")
    fake.add_workflow_run(repository, run_id=700, path="generate.yml", conclusion="success",
                          created_at="2026-11-24T08:00:00Z", started_at="2026-11-24T08:00:45Z",
                          updated_at="2026-11-24T08:03:57Z")
    fake.add_workflow_run(repository, run_id=699, path="generate.yml", conclusion="failure",
                          created_at="2026-11-23T08:00:00Z", started_at="2026-11-23T08:00:05Z",
                          updated_at="2026-11-23T08:01:00Z")
    for index, day in enumerate(["2026-11-24", "2026-11-22", "2026-10-01"]):
        fake.add_commit(repository, sha=f"{index + 1}" * 40, message=f"Commit {index}\n\nDetails",
                        date=f"{day}T10:00:00Z")
