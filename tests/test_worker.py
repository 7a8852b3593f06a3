"""Workers: atomic claims, leases renewed and reclaimed, fenced writes, audited retries, holds and permanent
failures, on both ledger backends (the `ledger` fixture)."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from builder.errors import EnvelopeError, GuardViolation, JobError, ProviderError
from builder.gifts.contracts import PublishedGift
from builder.gifts.providers.base import PriorJob
from builder.jobs.accept import accept_order
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Ledger
from builder.jobs.reconcile import reconcile
from builder.jobs.settings import JobSettings
from builder.jobs.states import State
from builder.jobs.worker import JobContext, Worker
from tests.fakes.flaky_provider import FlakyProvider
from tests.fakes.job_processor import HttpProcessor, publish_page
from tests.support.jobs import fake_parse, order
from tests.support.ledgers import has_envelope, stored_bytes

# zero backoff: retries are due at once, so --until-idle (which never waits for later retries) runs them
FAST = JobSettings(lease_s=1.0, retry_base_s=0.0, retry_cap_s=0.0, max_attempts=4)


def submit(ledger: Ledger, envelope: Envelope, n: int = 1) -> list[str]:
    return [accept_order(order(f"pay_{i}"), ledger=ledger, envelope=envelope, parse=fake_parse)[0]
            for i in range(n)]


def publishing(context: JobContext) -> PublishedGift:
    return publish_page(context.out_dir, context.token, "<p>gift</p>")


def worker(ledger: Ledger, envelope: Envelope, processor, tmp_path: Path, settings: JobSettings = FAST,
           **kwargs) -> Worker:
    return Worker(ledger, envelope, processor, settings, tmp_path / "site", rng=random.Random(1), **kwargs)


def reclaim(ledger: Ledger, ref: str) -> None:
    """What reconcile does to an expired lease, and another worker after it: attempt N+1 now runs."""
    with ledger.owned(ref) as held:
        held.transition(State.RETRY_WAIT, reason="lease_expired")
        held.transition(State.QUEUED, reason="retry_due")
        held.transition(State.RUNNING, attempts=held.record.attempts + 1, lease_owner="another-worker",
                        lease_expires_at=ledger.clock() + 60)


def transitions(ledger: Ledger, ref: str) -> list[tuple[str, str]]:
    return [(e["from"], e["to"]) for e in ledger.audit(ref) if "to" in e]


def test_worker_publishes_each_order_once_and_deletes_the_envelope(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    refs = submit(ledger, envelope, 5)
    summary = worker(ledger, envelope, publishing, tmp_path).run(until_idle=True, workers=3, poll_s=0.01)
    assert summary.outcomes == {"published": 5}
    for ref in refs:
        record = ledger.get(ref)
        assert (record.state, record.attempts, record.url) == ("published", 1, f"gifts/{record.token}/")
        assert (tmp_path / "site" / record.url / "index.html").exists()
        assert not has_envelope(ledger, ref)
        assert "queue_wait_s" in record.timings and "end_to_end_s" in record.timings


def test_processor_receives_the_private_order_and_a_stable_token(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    (ref,) = submit(ledger, envelope)
    seen: list[JobContext] = []

    def flaky_then_ok(context: JobContext) -> PublishedGift:
        seen.append(context)
        if len(seen) < 3:
            raise ProviderError("busy", retryable=True, category="provider_5xx")
        return publishing(context)

    worker(ledger, envelope, flaky_then_ok, tmp_path).run(until_idle=True, poll_s=0.01)
    assert [c.attempt for c in seen] == [1, 2, 3]
    assert {c.token for c in seen} == {ledger.get(ref).token}
    assert json.loads(seen[0].order_bytes)["story"].startswith("Maya")
    assert "Maya" not in repr(seen[0])
    assert transitions(ledger, ref) == [
        ("", "received"), ("received", "queued"),
        ("queued", "running"), ("running", "retry_wait"), ("retry_wait", "queued"),
        ("queued", "running"), ("running", "retry_wait"), ("retry_wait", "queued"),
        ("queued", "running"), ("running", "published"),
    ]
    reasons = [e["reason"] for e in ledger.audit(ref) if e.get("to") == "retry_wait"]
    assert reasons == ["provider_5xx", "provider_5xx"]


def test_retryable_errors_exhaust_attempts_then_fail(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    (ref,) = submit(ledger, envelope)

    def always_busy(context: JobContext) -> PublishedGift:
        raise ProviderError("busy", retryable=True, category="provider_429")

    worker(ledger, envelope, always_busy, tmp_path).run(until_idle=True, poll_s=0.01)
    record = ledger.get(ref)
    assert (record.state, record.attempts, record.reason, record.last_error) == (
        "failed", 4, "attempts_exhausted", "provider_429")


def test_permanent_error_fails_at_once_and_guard_violation_holds(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    bad, leaky = submit(ledger, envelope, 2)

    def processor(context: JobContext) -> PublishedGift:
        if context.ref == bad:
            raise ProviderError("401", retryable=False, category="provider_auth")
        raise GuardViolation("private_value")

    worker(ledger, envelope, processor, tmp_path).run(until_idle=True, poll_s=0.01)
    assert (ledger.get(bad).state, ledger.get(bad).attempts, ledger.get(bad).reason) == (
        "failed", 1, "provider_auth")
    assert (ledger.get(leaky).state, ledger.get(leaky).reason) == ("held", "private_value")
    assert not (tmp_path / "site" / "gifts").exists()


def test_retry_after_is_respected(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    (ref,) = submit(ledger, envelope)

    def slow_down(context: JobContext) -> PublishedGift:
        raise ProviderError("429", retryable=True, category="provider_429", retry_after=120.0)

    w = worker(ledger, envelope, slow_down, tmp_path)
    assert w.step()
    record = ledger.get(ref)
    assert record.state == "retry_wait" and record.next_attempt_at - record.updated_at >= 119.9
    # until-idle does not wait for a later retry
    started = time.monotonic()
    w.run(until_idle=True, poll_s=0.01)
    assert time.monotonic() - started < 60  # far less than the 120 s retry: it did not wait for it


def test_unexpected_exception_is_a_categorised_retry_without_its_text(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    (ref,) = submit(ledger, envelope)

    def buggy(context: JobContext) -> PublishedGift:
        raise ValueError("Maya Example lives at 12 Secret Lane")

    w = worker(ledger, envelope, buggy, tmp_path)
    w.step()
    assert ledger.get(ref).reason == "internal_ValueError"
    assert b"Secret Lane" not in stored_bytes(ledger)


def test_two_workers_never_run_one_order(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    submit(ledger, envelope, 12)
    running: set[str] = set()
    overlap: list[str] = []
    guard = threading.Lock()

    def careful(context: JobContext) -> PublishedGift:
        with guard:
            if context.ref in running:
                overlap.append(context.ref)
            running.add(context.ref)
        time.sleep(0.01)
        with guard:
            running.discard(context.ref)
        return publishing(context)

    workers = [worker(ledger, envelope, careful, tmp_path) for _ in range(3)]
    threads = [threading.Thread(target=w.run, kwargs={"until_idle": True, "workers": 2, "poll_s": 0.01})
               for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert overlap == []
    assert sum(w.summary.attempts for w in workers) == 12
    assert {r.state for r in ledger.records()} == {"published"}


def test_lease_is_renewed_while_working(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    (ref,) = submit(ledger, envelope)
    # renewed every third of a second-long lease: expiring would take three missed renewals in a row, more
    # than a busy machine's fsync stalls (a 0.3 s lease expired under load)
    settings = JobSettings(lease_s=1.0, retry_base_s=0.01, retry_cap_s=0.01, max_attempts=3)

    def slow(context: JobContext) -> PublishedGift:
        time.sleep(3.0)  # three lease lengths
        return publishing(context)

    w = worker(ledger, envelope, slow, tmp_path, settings)
    done = threading.Thread(target=w.step)
    done.start()
    time.sleep(2.2)
    assert reconcile(ledger, settings).actions == []  # renewed: not expired
    done.join()
    assert (ledger.get(ref).state, ledger.get(ref).attempts) == ("published", 1)


def test_expired_lease_is_a_timed_out_attempt_and_is_reclaimed(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    (ref,) = submit(ledger, envelope)
    settings = JobSettings(lease_s=0.2, retry_base_s=0.0, retry_cap_s=0.0, max_attempts=3)
    dead = worker(ledger, envelope, publishing, tmp_path, settings, owner="dead-worker")
    dead.claim()  # claimed, then the process "died": no renewal, no outcome
    time.sleep(0.3)
    report = reconcile(ledger, settings)
    assert any("lease expired" in line for line in report.actions)
    assert ledger.get(ref).state == "queued"
    worker(ledger, envelope, publishing, tmp_path, settings).run(until_idle=True, poll_s=0.01)
    record = ledger.get(ref)
    assert (record.state, record.attempts) == ("published", 2)
    lease_lines = [e for e in ledger.audit(ref) if e.get("reason") == "lease_expired"]
    assert [(e["from"], e["to"], e["attempt"]) for e in lease_lines] == [("running", "retry_wait", 1)]


def test_a_worker_that_lost_its_lease_records_nothing(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    (ref,) = submit(ledger, envelope)
    settings = JobSettings(lease_s=0.2, retry_base_s=0.0, retry_cap_s=0.0, max_attempts=3)
    slow = worker(ledger, envelope, publishing, tmp_path, settings, owner="paused")
    claimed = slow.claim()
    assert claimed is not None
    time.sleep(0.3)
    worker(ledger, envelope, publishing, tmp_path, settings).run(until_idle=True, poll_s=0.01)
    from builder.jobs.worker import Outcome
    assert slow._finish(claimed, Outcome(State.FAILED, reason="x"), 0.1) == "lease_lost"
    assert ledger.get(ref).state == "published"
    assert len(list((tmp_path / "site" / "gifts").iterdir())) == 1


def test_support_retry_requeues_held_orders(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    (ref,) = submit(ledger, envelope)

    def hold(context: JobContext) -> PublishedGift:
        raise GuardViolation("verbatim_story")

    worker(ledger, envelope, hold, tmp_path).run(until_idle=True, poll_s=0.01)
    with ledger.owned(ref) as held:
        held.transition(State.QUEUED, reason="support_retry")
    worker(ledger, envelope, publishing, tmp_path).run(until_idle=True, poll_s=0.01)
    assert ledger.get(ref).state == "published"


def test_prediction_id_is_recorded_and_offered_to_the_next_attempt(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    (ref,) = submit(ledger, envelope)
    offered: list[PriorJob | None] = []
    assert ledger.get(ref).prediction_id == ""

    def predicting(context: JobContext) -> PublishedGift:
        offered.append(context.journal.prior)
        if context.journal.prior is None:
            context.journal.intend("intent_1", "lyrics-hash")
            assert ledger.get(ref).prediction_intent == "intent_1"  # committed before any create is sent
            context.journal.created("pred_42")
            raise ProviderError("timeout after send", retryable=True, category="provider_timeout")
        return publishing(context)

    worker(ledger, envelope, predicting, tmp_path).run(until_idle=True, poll_s=0.01)
    assert offered == [None, PriorJob("intent_1", "lyrics-hash", "pred_42")]
    record = ledger.get(ref)
    assert (record.prediction_id, record.prediction_intent, record.prediction_lyrics) == (
        "pred_42", "intent_1", "lyrics-hash")


def test_real_http_provider_fake_with_failures(ledger: Ledger, envelope: Envelope, tmp_path: Path) -> None:
    provider = FlakyProvider(failure_rate=0.3, max_latency_s=0.02, seed=3).start()
    try:
        refs = submit(ledger, envelope, 6)
        settings = JobSettings(lease_s=2.0, retry_base_s=0.0, retry_cap_s=0.01, max_attempts=20)
        worker(ledger, envelope, HttpProcessor(provider.url), tmp_path, settings).run(
            until_idle=True, workers=2, poll_s=0.01)
    finally:
        provider.shutdown()
    assert {ledger.get(r).state for r in refs} == {"published"}
    assert provider.failures > 0


def test_real_pipeline_with_a_leaky_provider_holds_the_order_and_leaks_nothing(
    ledger: Ledger, envelope: Envelope, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    pytest.importorskip("builder.gifts.pipeline")
    import logging

    from builder.gifts.order import parse_order
    from builder.jobs.generation import pipeline_processor
    from builder.jobs.support import status_view
    from builder.settings import load_settings
    from tests.fakes.chat_api import ChatCompletionsFake, ChatConfig
    from tests.test_gift_cli import PRIVATE, valid_order

    caplog.set_level(logging.DEBUG)
    raw = json.dumps(valid_order()).encode()
    ref, _ = accept_order(raw, ledger=ledger, envelope=envelope, parse=parse_order)
    with ChatCompletionsFake(ChatConfig(mode="echo", echo_values=PRIVATE[:4])) as chat:
        settings = load_settings({"GIFT_LYRICS_BASE_URL": chat.url, "GIFT_LYRICS_API_KEY": "sk-test"})
        processor = pipeline_processor(settings)
        worker(ledger, envelope, processor, tmp_path).run(until_idle=True, poll_s=0.01)
    record = ledger.get(ref)
    assert record.state == "held" and record.reason
    assert not (tmp_path / "site" / "gifts").exists() or not any((tmp_path / "site" / "gifts").iterdir())
    assert has_envelope(ledger, ref)  # kept for support's review and `gift retry`
    seen = (caplog.text + json.dumps(status_view(ledger, ref)) + "".join(capsys.readouterr())).casefold()
    stored = stored_bytes(ledger)
    for secret in PRIVATE:
        assert secret.casefold() not in seen
        assert secret.encode() not in stored


def test_a_ledger_error_is_retried_but_an_unreadable_envelope_fails(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    """A JobError from the ledger (a lock busy, the database restarting) is transient; only an envelope that
    cannot be opened is final."""
    sync_ref, envelope_ref = submit(ledger, envelope, 2)
    calls: dict[str, int] = {}

    def processor(context: JobContext) -> PublishedGift:
        calls[context.ref] = calls.get(context.ref, 0) + 1
        if context.ref == sync_ref and calls[context.ref] == 1:
            raise JobError("ledger lock busy")
        if context.ref == envelope_ref:
            raise EnvelopeError("envelope cannot be opened with this GIFT_ENVELOPE_KEY")
        return publishing(context)

    worker(ledger, envelope, processor, tmp_path).run(until_idle=True)
    assert ledger.get(sync_ref).state == State.PUBLISHED
    assert ("running", "retry_wait") in transitions(ledger, sync_ref)
    assert any(e.get("reason") == "ledger_unavailable" for e in ledger.audit(sync_ref))
    failed = ledger.get(envelope_ref)
    assert failed.state == State.FAILED and failed.reason == "envelope_unreadable" and failed.attempts == 1


def test_an_attempt_that_lost_its_lease_does_not_swap_its_page_in(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    """Reconcile reclaimed the lease while this attempt was still working: its page must not go live (another
    worker may have published, or support taken the gift down, since)."""
    from builder.gifts.publisher import LocalPublisher

    (ref,) = submit(ledger, envelope)
    out = tmp_path / "site"

    def slow_processor(context: JobContext) -> PublishedGift:
        reclaim(ledger, context.ref)
        return LocalPublisher(out).publish(context.token, {"index.html": b"<p>stale</p>"}, go_live=context.go_live)

    worker(ledger, envelope, slow_processor, tmp_path).step()
    gifts = out / "gifts"
    # no page, no staging folder left behind: only the gifts folder's own (token-free) page
    assert not gifts.exists() or [p.name for p in gifts.iterdir()] == ["index.html"]
    assert any(e.get("event") == "lease_lost" for e in ledger.audit(ref))


def test_a_reclaimed_attempt_can_neither_publish_nor_change_the_order_and_stops(
    ledger: Ledger, envelope: Envelope, tmp_path: Path
) -> None:
    """Attempt 1's lease ran out and attempt 2 took the order: every write attempt 1 still makes is fenced by
    its attempt number and changes nothing (renewal, provider id, going live, its outcome); it stops."""
    from builder.errors import LeaseLost
    from builder.gifts.publisher import LocalPublisher

    (ref,) = submit(ledger, envelope)
    out = tmp_path / "site"
    settings = JobSettings(lease_s=0.3, retry_base_s=0.0, retry_cap_s=0.0, max_attempts=5)
    stale = worker(ledger, envelope, publishing, tmp_path, settings, owner="stale")
    claimed = stale.claim()
    assert claimed is not None and claimed.attempts == 1
    time.sleep(0.35)  # the lease runs out without a renewal
    assert any("lease expired" in line for line in reconcile(ledger, settings).actions)
    taken = worker(ledger, envelope, publishing, tmp_path, settings, owner="other").claim()
    assert taken is not None and taken.attempts == 2
    before = ledger.get(ref)
    audit_before = ledger.audit(ref)

    attempts: list[str] = []
    for write in ("renew", "prediction", "go_live", "finish"):
        try:
            with ledger.owned(ref, claimed.attempts) as held:
                if write == "renew":
                    held.update(lease_expires_at=ledger.clock() + 100)
                elif write == "prediction":
                    held.update(prediction_id="pred_stale")
                elif write == "go_live":
                    LocalPublisher(out).publish(claimed.token, {"index.html": b"<p>stale</p>"})
                else:
                    held.transition(State.PUBLISHED, url="gifts/x/")
        except LeaseLost:
            attempts.append(write)
    assert attempts == ["renew", "prediction", "go_live", "finish"]
    assert ledger.get(ref) == before and ledger.audit(ref) == audit_before
    assert not (out / "gifts" / claimed.token).exists()

    # the worker's own path: its processor gets to the page's go-live step and is refused; it records nothing
    def late(context: JobContext) -> PublishedGift:
        return LocalPublisher(out).publish(context.token, {"index.html": b"<p>stale</p>"}, go_live=context.go_live)

    stale.processor = late
    assert stale.process(claimed) == "lease_lost"
    after = ledger.get(ref)
    assert (after.state, after.attempts, after.lease_owner, after.prediction_id) == ("running", 2, "other", "")
    assert not (out / "gifts" / claimed.token).exists()
    assert [e for e in ledger.audit(ref) if e not in audit_before] == [
        {k: v for k, v in e.items()} for e in ledger.audit(ref) if e.get("event") == "lease_lost"
    ]
