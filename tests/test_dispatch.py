"""GIFT_QUEUE=github: dispatch with the dispatch token only, failures stay queued, reconcile recovers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from builder.errors import ConfigError
from builder.jobs.dispatch import GitHubDispatcher, dispatch_order
from builder.jobs.envelope import Envelope
from builder.jobs.folder_ledger import FolderLedger as Ledger
from builder.jobs.intake import create_app
from builder.jobs.reconcile import reconcile
from builder.jobs.settings import JobSettings, load_settings
from builder.jobs.signature import HEADER, sign
from builder.jobs.worker import Worker
from tests.fakes.github_actions import FakeActions
from tests.fakes.intake_server import running
from tests.fakes.job_processor import publish_page
from tests.support.jobs import accept, fake_parse, order


@pytest.fixture
def github() -> Iterator[FakeActions]:
    fake = FakeActions().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(github: FakeActions) -> JobSettings:
    return load_settings({
        "GIFT_QUEUE": "github", "GIFT_DISPATCH_TOKEN": "ghs_dispatch_only", "GITHUB_TOKEN": "ghp_board_readonly",
        "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/giftboard", "GIFT_WEBHOOK_SECRET": "whsec",
        "GIFT_LEASE_S": "0.2", "GIFT_RETRY_BASE_S": "0", "GIFT_RETRY_CAP_S": "0",
    })


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """Dispatch is backend-independent: the folder ledger alone (conftest's runs every backend)."""
    return Ledger(tmp_path / "ledger")


def test_dispatch_sends_only_the_ref_with_the_dispatch_token(
    github: FakeActions, settings: JobSettings, ledger: Ledger, envelope: Envelope
) -> None:
    ref = accept(ledger, envelope)
    assert dispatch_order(ledger, ref, GitHubDispatcher(settings))
    (request,) = github.requests
    assert request["path"] == "/repos/acme/giftboard/actions/workflows/generate.yml/dispatches"
    assert request["auth"] == "Bearer ghs_dispatch_only"
    assert request["body"] == {"ref": "main", "inputs": {"order_ref": ref}, "return_run_details": True}
    record = ledger.get(ref)
    assert (record.state, record.run_id, record.dispatches) == ("queued", 1000, 1)
    assert [e["event"] for e in ledger.audit(ref) if "event" in e] == ["dispatched"]


def test_without_a_dispatch_token_nothing_falls_back_to_github_token() -> None:
    with pytest.raises(ConfigError, match="GIFT_DISPATCH_TOKEN"):
        GitHubDispatcher(load_settings({"GIFT_QUEUE": "github", "GITHUB_TOKEN": "ghp_board",
                                        "GITHUB_REPOSITORY": "acme/giftboard"}))


def test_paid_order_survives_a_502_dispatch_and_reconcile_dispatches_it_later(
    github: FakeActions, settings: JobSettings, ledger: Ledger, envelope: Envelope
) -> None:
    github.fail_next = 1
    app = create_app(ledger, envelope, settings, parse=fake_parse, dispatcher=GitHubDispatcher(settings))
    raw = order("pay_502")
    with running(app) as url:
        response = httpx.post(f"{url}/v1/orders", content=raw,
                              headers={HEADER: sign("whsec", raw), "Idempotency-Key": "pay_502"}, timeout=10)
    assert response.status_code == 202  # the payment is acknowledged: the order is durable
    ref = response.json()["ref"]
    record = ledger.get(ref)
    assert (record.state, record.run_id) == ("queued", 0)
    assert [(e["event"], e["reason"]) for e in ledger.audit(ref) if "event" in e] == [
        ("dispatch_failed", "http_502")]
    report = reconcile(ledger, settings, dispatcher=GitHubDispatcher(settings))
    assert f"{ref}: dispatched" in report.actions
    assert github.dispatched == [(ref, 1000)]
    assert ledger.get(ref).run_id == 1000
    # a run in progress is left alone
    assert reconcile(ledger, settings, dispatcher=GitHubDispatcher(settings)).actions == []


def test_cancelled_pending_run_is_redispatched_by_reconcile(
    github: FakeActions, settings: JobSettings, ledger: Ledger, envelope: Envelope
) -> None:
    ref = accept(ledger, envelope)
    dispatcher = GitHubDispatcher(settings)
    dispatch_order(ledger, ref, dispatcher)
    github.runs[1000] = ("completed", "cancelled")  # superseded in the concurrency group before it ran
    report = reconcile(ledger, settings, dispatcher=dispatcher)
    assert f"{ref}: dispatched" in report.actions
    assert github.dispatched == [(ref, 1000), (ref, 1001)]
    assert ledger.get(ref).run_id == 1001


def test_run_cancelled_while_running_becomes_a_timed_out_attempt_and_is_redispatched(
    github: FakeActions, settings: JobSettings, ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    ref = accept(ledger, envelope)
    dispatcher = GitHubDispatcher(settings)
    dispatch_order(ledger, ref, dispatcher)
    long_lease = JobSettings(lease_s=600)
    Worker(ledger, envelope, lambda c: publish_page(c.out_dir, c.token, ""), long_lease, tmp_path,
           only_ref=ref, owner="run-1000").claim()
    github.runs[1000] = ("completed", "cancelled")
    report = reconcile(ledger, settings, dispatcher=dispatcher)
    assert any("ended (cancelled)" in line for line in report.actions)
    assert f"{ref}: dispatched" in report.actions
    record = ledger.get(ref)
    assert (record.state, record.attempts, record.run_id, record.last_error) == (
        "queued", 1, 1001, "run_cancelled")


def test_github_queue_worker_runs_the_dispatched_order(
    github: FakeActions, settings: JobSettings, ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    ref = accept(ledger, envelope)
    other = accept(ledger, envelope, "pay_2")
    worker = Worker(ledger, envelope, lambda c: publish_page(c.out_dir, c.token, ""), settings, tmp_path,
                    only_ref=ref)
    worker.run(until_idle=True, poll_s=0.01)
    assert ledger.get(ref).state == "published"
    assert ledger.get(other).state == "queued"  # one order per run


def test_dispatch_errors_are_categorised_without_secrets(
    github: FakeActions, settings: JobSettings, ledger: Ledger, envelope: Envelope
) -> None:
    ref = accept(ledger, envelope)
    github.fail_next = 1
    assert not dispatch_order(ledger, ref, GitHubDispatcher(settings))
    audit = json.dumps(ledger.audit(ref))
    assert "ghs_dispatch_only" not in audit and "http_502" in audit
    assert "ghs_dispatch_only" not in repr(GitHubDispatcher(settings))
