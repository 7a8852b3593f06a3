"""GIFT_QUEUE=github: runs are workers, dispatched by queue depth (builder/jobs/pool.py) against a fake GitHub
on 127.0.0.1 answering 200-with-details, 204, 307, 401, 403, 404, 422, 429 with Retry-After, a secondary
limit, 5xx; each classified, each visible in `ops summary --json` where it needs attention, none dispatched
twice for the same need, the dispatcher's state durable in the ledger (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from builder.cli import main
from builder.errors import ConfigError
from builder.jobs.dispatch import GitHubDispatcher
from builder.jobs.envelope import Envelope
from builder.jobs.folder_ledger import FolderLedger
from builder.jobs.intake import create_app
from builder.jobs.ledger import Ledger, open_ledger
from builder.jobs.pool import BLOCKED_BASE_S, GitHubRuns, dispatch_cycle
from builder.jobs.reconcile import reconcile
from builder.jobs.settings import JobSettings, load_settings
from builder.jobs.signature import HEADER, sign
from builder.jobs.worker import Worker
from tests.fakes.github_actions import FakeActions
from tests.fakes.intake_server import running
from tests.fakes.job_processor import publish_page
from tests.support.jobs import accept, fake_parse, order

ENV = {"GIFT_QUEUE": "github", "GIFT_DISPATCH_TOKEN": "ghs_dispatch_only", "GITHUB_TOKEN": "ghp_board_readonly",
       "GITHUB_REPOSITORY": "acme/giftboard", "GIFT_WEBHOOK_SECRET": "whsec", "GIFT_LEASE_S": "0.2",
       "GIFT_RETRY_BASE_S": "0", "GIFT_RETRY_CAP_S": "0", "GIFT_MAX_RUNNERS": "20", "GIFT_WORKERS_PER_RUN": "10",
       "GIFT_DISPATCH_INTERVAL_S": "0"}


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def github() -> Iterator[FakeActions]:
    fake = FakeActions().start()
    yield fake
    fake.stop()


@pytest.fixture
def env(github: FakeActions) -> dict[str, str]:
    return {**ENV, "GITHUB_API_URL": github.url}


@pytest.fixture
def settings(env: dict[str, str]) -> JobSettings:
    return load_settings(env)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> FolderLedger:
    """Classification is backend-independent: the folder ledger (the durability test runs both backends)."""
    return FolderLedger(tmp_path / "ledger", clock)


def queue(ledger: Ledger, envelope: Envelope, n: int) -> list[str]:
    return [accept(ledger, envelope, f"pay_{i}") for i in range(n)]


def ops_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
             location: str | Path) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["ops", "summary", "--json", "--ledger", str(location)]) == 0
    return json.loads(capsys.readouterr().out)


def dispatcher_attention(summary: dict) -> list[dict]:
    return [item for item in summary["attention"] if item["ref"].startswith("dispatcher:")]


def test_runs_wanted_follow_the_queue_depth_and_none_is_dispatched_twice_for_the_same_need(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
) -> None:
    queue(ledger, envelope, 25)  # 25 orders, 10 per run: 3 runs
    report = dispatch_cycle(ledger, GitHubRuns(settings), settings)
    assert (report.wanted, report.active, report.dispatched, report.status) == (3, 0, 3, "ok")
    posts = github.dispatches()
    assert [p["path"] for p in posts] == ["/repos/acme/giftboard/actions/workflows/generate.yml/dispatches"] * 3
    assert {p["auth"] for p in posts} == {"Bearer ghs_dispatch_only"}
    assert posts[0]["body"] == {"ref": "main", "inputs": {"purpose": "queue depth 25"}, "return_run_details": True}
    again = dispatch_cycle(ledger, GitHubRuns(settings), settings)  # the runs API lists the 3 queued runs
    assert (again.active, again.dispatched) == (3, 0) and len(github.dispatches()) == 3
    queue_more = [accept(ledger, envelope, f"more_{i}") for i in range(10)]
    assert len(queue_more) == 10
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 1  # 35 orders: a 4th run
    assert dispatcher_attention(ops_json(capsys, monkeypatch, env, ledger.root)) == []


def test_runs_are_capped_by_gift_max_runners(
    github: FakeActions, env: dict[str, str], ledger: FolderLedger, envelope: Envelope
) -> None:
    settings = load_settings({**env, "GIFT_MAX_RUNNERS": "2", "GIFT_WORKERS_PER_RUN": "1"})
    queue(ledger, envelope, 7)
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 2
    github.runs = {run: ("in_progress", "") for run in github.runs}
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 0


def test_204_is_a_dispatch_without_an_id_and_counts_until_the_run_shows_up(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope, clock: Clock
) -> None:
    queue(ledger, envelope, 5)
    github.hide_new_runs = True  # the runs API does not list it yet
    github.answers.append((204, {}, None))
    report = dispatch_cycle(ledger, GitHubRuns(settings), settings)
    assert (report.dispatched, report.status) == (1, "ok") and "id unknown" in report.lines[0]
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 0  # pending: not twice
    clock.now += 200  # the run never appeared (cancelled before it started): the need is back
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 1


PERMANENT = [
    (307, {"Location": "https://api.github.com/repositories/1/actions"}, None, "redirected"),
    (401, {}, {"message": "Bad credentials"}, "bad_token"),
    (403, {}, {"message": "Workflow is disabled"}, "disabled_workflow"),
    (403, {}, {"message": "Resource not accessible by integration"}, "forbidden"),
    (404, {}, {"message": "Not Found"}, "missing_workflow"),
    (422, {}, {"message": "Unexpected inputs provided"}, "bad_input"),
]


@pytest.mark.parametrize(("status", "headers", "body", "reason"), PERMANENT,
                         ids=[f"{p[0]}-{p[3]}" for p in PERMANENT])
def test_permanent_answers_block_the_dispatcher_with_the_reason_and_back_off(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope, clock: Clock,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
    status: int, headers: dict[str, str], body: object, reason: str,
) -> None:
    queue(ledger, envelope, 3)
    github.answers.extend([(status, headers, body)] * 2)
    report = dispatch_cycle(ledger, GitHubRuns(settings), settings)
    assert (report.status, report.dispatched) == ("blocked", 0) and report.reason.startswith(reason)
    assert github.runs == {}  # a 3xx is no dispatch (the old code took a 307 for run id 0)
    (item,) = dispatcher_attention(ops_json(capsys, monkeypatch, env, ledger.root))
    assert (item["ref"], item["state"]) == ("dispatcher:generate.yml", "blocked")
    assert item["reason"].startswith(reason)
    for _ in range(3):  # every reconcile cycle meanwhile: nothing sent
        assert dispatch_cycle(ledger, GitHubRuns(settings), settings).status == "blocked"
    assert len(github.dispatches()) == 1
    clock.now += BLOCKED_BASE_S + 1  # the backoff ran out: one probe, still refused, twice as long now
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).status == "blocked"
    assert len(github.dispatches()) == 2
    clock.now += BLOCKED_BASE_S + 1
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).status == "blocked"
    assert len(github.dispatches()) == 2
    clock.now += BLOCKED_BASE_S
    fixed = dispatch_cycle(ledger, GitHubRuns(settings), settings)  # someone fixed it: the next probe works
    assert (fixed.status, fixed.dispatched) == ("ok", 1)
    assert dispatcher_attention(ops_json(capsys, monkeypatch, env, ledger.root)) == []


@pytest.mark.parametrize(("status", "headers"), [
    (429, {"Retry-After": "30"}),
    (403, {"Retry-After": "30"}),  # a secondary rate limit
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "{reset}"}),  # the primary limit ran out
], ids=["429", "403-secondary", "403-primary"])
def test_rate_limits_honour_retry_after(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope, clock: Clock,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
    status: int, headers: dict[str, str],
) -> None:
    import time

    headers = {k: v.replace("{reset}", str(int(time.time()) + 30)) for k, v in headers.items()}
    queue(ledger, envelope, 3)
    github.answers.append((status, headers, {"message": "You have exceeded a secondary rate limit"}))
    report = dispatch_cycle(ledger, GitHubRuns(settings), settings)
    assert (report.status, report.dispatched) == ("rate_limited", 0)
    (item,) = dispatcher_attention(ops_json(capsys, monkeypatch, env, ledger.root))
    assert item["state"] == "rate_limited"
    clock.now += 20
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).status == "rate_limited"
    assert len(github.dispatches()) == 1  # not before Retry-After
    clock.now += 15
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 1


def test_a_5xx_may_have_dispatched_so_it_counts_as_pending_not_as_a_reason_to_send_again(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope
) -> None:
    queue(ledger, envelope, 5)
    github.fail_next = 1
    report = dispatch_cycle(ledger, GitHubRuns(settings), settings)
    assert (report.dispatched, report.status) == (0, "ok")
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 0
    assert len(github.dispatches()) == 1


def test_a_200_without_a_run_id_is_a_dispatch_never_sent_twice(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope
) -> None:
    queue(ledger, envelope, 5)
    github.hide_new_runs = True
    github.answers.append((200, {}, {"html_url": "x"}))
    report = dispatch_cycle(ledger, GitHubRuns(settings), settings)
    assert report.dispatched == 1 and "without a workflow_run_id" in report.lines[0]
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).dispatched == 0


def test_the_dispatcher_state_is_durable_in_either_ledger(
    github: FakeActions, settings: JobSettings, ledger_location: str, envelope: Envelope,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
) -> None:
    first = open_ledger(ledger_location)
    try:
        queue(first, envelope, 3)
        github.answers.append((403, {}, {"message": "Workflow is disabled"}))
        assert dispatch_cycle(first, GitHubRuns(settings), settings).status == "blocked"
        with first.dispatcher("generate.yml") as slot:  # held: a second dispatcher backs off at once
            assert slot is not None
            assert dispatch_cycle(first, GitHubRuns(settings), settings).status == "busy"
    finally:
        first.close()
    second = open_ledger(ledger_location)  # another process, later
    try:
        assert dispatch_cycle(second, GitHubRuns(settings), settings).status == "blocked"
        assert second.dispatcher_states()["generate.yml"]["reason"].startswith("disabled_workflow")
    finally:
        second.close()
    assert len(github.dispatches()) == 1
    (item,) = dispatcher_attention(ops_json(capsys, monkeypatch, env, ledger_location))
    assert item["reason"].startswith("disabled_workflow")


def test_gift_dispatch_cli_prints_the_cycle_and_fails_while_blocked(
    github: FakeActions, ledger: FolderLedger, envelope: Envelope,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
) -> None:
    queue(ledger, envelope, 12)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["gift", "dispatch", "--json", "--ledger", str(ledger.root)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["wanted"], out["dispatched"], out["status"]) == (2, 2, "ok")
    github.answers.append((404, {}, {"message": "Not Found"}))
    for i in range(15):  # 27 orders: a third run wanted
        accept(ledger, envelope, f"late_{i}")
    assert main(["gift", "dispatch", "--ledger", str(ledger.root)]) == 1
    text = capsys.readouterr().out
    assert "missing_workflow" in text and "ghs_dispatch_only" not in text


def test_without_a_dispatch_token_nothing_falls_back_to_github_token() -> None:
    bare = load_settings({"GIFT_QUEUE": "github", "GITHUB_TOKEN": "ghp_board", "GITHUB_REPOSITORY": "acme/giftboard"})
    with pytest.raises(ConfigError, match="GIFT_DISPATCH_TOKEN"):
        GitHubRuns(bare)
    with pytest.raises(ConfigError, match="GIFT_DISPATCH_TOKEN"):
        GitHubDispatcher(bare)
    assert "ghs_dispatch_only" not in repr(GitHubRuns(load_settings({**ENV, "GITHUB_API_URL": "http://x"})))


def test_the_intake_runs_a_dispatcher_cycle_after_the_commit(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope
) -> None:
    github.fail_next = 1  # the dispatch answers 502: the payment is still acknowledged
    app = create_app(ledger, envelope, settings, parse=fake_parse, runs=GitHubRuns(settings))
    raw = order("pay_502")
    with running(app) as url:
        response = httpx.post(f"{url}/v1/orders", content=raw,
                              headers={HEADER: sign("whsec", raw), "Idempotency-Key": "pay_502"}, timeout=10)
        assert response.status_code == 202
        ref = response.json()["ref"]
        for _ in range(100):
            if github.dispatches():
                break
            import time

            time.sleep(0.05)
    assert ledger.get(ref).state == "queued" and len(github.dispatches()) == 1


def test_a_run_that_ended_while_holding_an_order_gives_it_back_at_once(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope, tmp_path: Path
) -> None:
    ref = accept(ledger, envelope)
    Worker(ledger, envelope, lambda c: publish_page(c.out_dir, c.token, ""), JobSettings(lease_s=600), tmp_path,
           owner="run-1000:host", run_id=1000).claim()
    github.runs[1000] = ("completed", "cancelled")
    report = reconcile(ledger, settings, dispatcher=GitHubDispatcher(settings))
    assert any("ended (cancelled)" in line for line in report.actions)
    record = ledger.get(ref)
    assert (record.state, record.attempts, record.run_id, record.last_error) == ("queued", 1, 1000, "run_cancelled")


def test_gift_finish_without_a_ref_gives_back_everything_this_run_still_holds(
    ledger: FolderLedger, envelope: Envelope, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine, theirs, idle = accept(ledger, envelope, "a"), accept(ledger, envelope, "b"), accept(ledger, envelope, "c")
    long_lease = JobSettings(lease_s=600)
    noop = lambda c: publish_page(c.out_dir, c.token, "")  # noqa: E731
    Worker(ledger, envelope, noop, long_lease, tmp_path, owner="run-77:host:1", only_ref=mine).claim()
    Worker(ledger, envelope, noop, long_lease, tmp_path, owner="run-78:host:1", only_ref=theirs).claim()
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GIFT_RETRY_BASE_S", "0")
    monkeypatch.setenv("GIFT_RETRY_CAP_S", "0")
    capsys.readouterr()
    assert main(["gift", "finish", "--ledger", str(ledger.root)]) == 0
    out = capsys.readouterr().out
    assert f"{mine}: released" in out and theirs not in out and idle not in out
    assert ledger.get(mine).state in ("queued", "retry_wait") and ledger.get(mine).last_error == "run_ended"
    assert ledger.get(theirs).state == "running"


def test_a_blocked_dispatcher_is_on_the_ops_page_under_needs_attention(
    github: FakeActions, settings: JobSettings, ledger: FolderLedger, envelope: Envelope, tmp_path: Path
) -> None:
    from builder.app.board import board_site
    from builder.site.build import BuildOptions
    from tests.board_fixtures import copy_content

    queue(ledger, envelope, 2)
    github.answers.append((422, {}, {"message": "Unexpected inputs provided"}))
    assert dispatch_cycle(ledger, GitHubRuns(settings), settings).status == "blocked"
    out = tmp_path / "board-site"
    board_site(BuildOptions(content=copy_content(tmp_path / "board"), out=out, cache_dir=tmp_path / "cache",
                            ledger=ledger.root)).build()
    page = (out / "ops" / "index.html").read_text()
    attention = page[page.index('id="ops-attention"'):]
    assert "dispatcher:generate.yml" in attention and "bad_input" in attention and "blocked" in attention
