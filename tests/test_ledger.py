"""Ledger records, audit, envelopes, idempotent accept and the retry policy, on both backends (the `ledger`
fixture is parametrised: a folder and a fresh PostgreSQL database); folder internals on the folder alone."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.errors import ConfigError, JobError, OrderError
from builder.jobs.accept import IdempotencyConflict, accept_order
from builder.jobs.envelope import Envelope, load_envelope
from builder.jobs.folder_ledger import FolderLedger
from builder.jobs.ledger import JobRecord, Ledger
from builder.jobs.retry import backoff_delay, retry_delay
from builder.jobs.settings import JobSettings, load_settings
from builder.jobs.states import State
from tests.support.jobs import fake_parse, order
from tests.support.ledgers import nothing_recorded, refs, stored_bytes


@pytest.fixture
def folder(tmp_path: Path) -> FolderLedger:
    return FolderLedger(tmp_path / "ledger")


def all_ledger_bytes(ledger: Ledger) -> bytes:
    return stored_bytes(ledger)


def test_accept_records_a_queued_pii_free_order(ledger: Ledger, envelope: Envelope) -> None:
    ref, created = accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    assert created
    record = ledger.get(ref)
    assert record.state == State.QUEUED
    assert len(record.token) >= 22
    assert [(e["from"], e["to"]) for e in ledger.audit(ref)] == [("", "received"), ("received", "queued")]
    assert b"Secret Lane" not in all_ledger_bytes(ledger)
    assert b"pay_1" not in all_ledger_bytes(ledger)
    assert envelope.open(ledger.read_envelope(ref)) == order()


def test_same_key_same_body_returns_the_same_ref(ledger: Ledger, envelope: Envelope) -> None:
    first = accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    reformatted = json.dumps(json.loads(order()), indent=2).encode()
    second = accept_order(reformatted, ledger=ledger, envelope=envelope, parse=fake_parse)
    assert second == (first[0], False)
    assert refs(ledger) == [first[0]]


def test_same_key_different_body_conflicts_and_records_nothing(ledger: Ledger, envelope: Envelope) -> None:
    accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    with pytest.raises(IdempotencyConflict):
        accept_order(order(story="another"), ledger=ledger, envelope=envelope, parse=fake_parse)
    assert len(refs(ledger)) == 1


def test_invalid_order_records_nothing(ledger: Ledger, envelope: Envelope) -> None:
    with pytest.raises(OrderError):
        accept_order(b'{"story": "x"}', ledger=ledger, envelope=envelope, parse=fake_parse)
    assert nothing_recorded(ledger)


def test_replay_repairs_an_accept_interrupted_after_the_index(folder: FolderLedger, envelope: Envelope) -> None:
    ref, _ = accept_order(order(), ledger=folder, envelope=envelope, parse=fake_parse)
    folder.record_path(ref).unlink()  # as if killed right after the index entry
    assert accept_order(order(), ledger=folder, envelope=envelope, parse=fake_parse) == (ref, False)
    assert folder.get(ref).state == State.QUEUED


def test_illegal_transition_through_the_ledger_raises_and_changes_nothing(
    ledger: Ledger, envelope: Envelope
) -> None:
    ref, _ = accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    record = ledger.get(ref)
    with pytest.raises(JobError, match="illegal transition queued → published"), ledger.owned(ref) as owned:
        owned.transition(State.PUBLISHED)
    assert ledger.get(ref) == record
    assert len(ledger.audit(ref)) == 2
    with pytest.raises(JobError), ledger.owned(ref) as owned:
        owned.update(state="published")
    assert ledger.get(ref) == record


def test_records_round_trip_and_reject_corruption(folder: FolderLedger, envelope: Envelope) -> None:
    ref, _ = accept_order(order(), ledger=folder, envelope=envelope, parse=fake_parse)
    assert JobRecord.from_json(folder.get(ref).to_json()) == folder.get(ref)
    folder.record_path(ref).write_text("{ half")
    with pytest.raises(JobError, match="corrupt"):
        folder.get(ref)


def test_atomic_writes_leave_no_temp_files(folder: FolderLedger, envelope: Envelope) -> None:
    for n in range(5):
        accept_order(order(f"pay_{n}"), ledger=folder, envelope=envelope, parse=fake_parse)
    assert not [p for p in folder.root.rglob(".*.tmp")]


def test_torn_audit_line_is_skipped(folder: FolderLedger, envelope: Envelope) -> None:
    ref, _ = accept_order(order(), ledger=folder, envelope=envelope, parse=fake_parse)
    with folder.audit_path(ref).open("a") as handle:
        handle.write('{"time": "2026-')
    assert len(folder.audit(ref)) == 2


def test_unknown_ref_and_path_tricks_are_refused(ledger: Ledger) -> None:
    with pytest.raises(JobError, match="unknown order ref"):
        ledger.get("ord_0000")
    with pytest.raises(JobError, match="not an order ref"):
        ledger.get("../../etc/passwd")


def test_envelope_key_from_environment_and_demo_key_only_outside_ci(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert load_envelope({"GIFT_ENVELOPE_KEY": key}).open(
        load_envelope({"GIFT_ENVELOPE_KEY": key}).seal(b"x")
    ) == b"x"
    demo = tmp_path / ".data" / "envelope.key"
    sealed = load_envelope({}, demo).seal(b"secret")
    assert demo.exists() and load_envelope({}, demo).open(sealed) == b"secret"
    for ci in ({"CI": "true"}, {"GITHUB_ACTIONS": "true"}):
        with pytest.raises(ConfigError, match="GIFT_ENVELOPE_KEY"):
            load_envelope(ci, tmp_path / "other.key")
    assert not (tmp_path / "other.key").exists()
    with pytest.raises(ConfigError) as error:
        load_envelope({"GIFT_ENVELOPE_KEY": "not-a-key"})
    assert "not-a-key" not in str(error.value)


def test_settings_from_environment() -> None:
    settings = load_settings({"GIFT_LEASE_S": "2", "GIFT_MAX_ATTEMPTS": "3", "GIFT_QUEUE": "github",
                              "GIFT_DISPATCH_TOKEN": "ghs_secret"})
    assert (settings.lease_s, settings.max_attempts, settings.queue) == (2.0, 3, "github")
    assert "ghs_secret" not in repr(settings)
    with pytest.raises(ConfigError, match="GIFT_QUEUE"):
        load_settings({"GIFT_QUEUE": "redis"})
    with pytest.raises(ConfigError, match="GIFT_LEASE_S"):
        load_settings({"GIFT_LEASE_S": "soon"})


def test_backoff_has_full_jitter_a_cap_and_respects_retry_after() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(4, 1.0, 100.0, rng) for _ in range(500)]
    assert 0.0 <= min(delays) < 1.0 and 7.0 < max(delays) <= 8.0
    assert max(backoff_delay(30, 1.0, 5.0, rng) for _ in range(200)) <= 5.0
    settings = JobSettings(retry_base_s=0.01, retry_cap_s=0.02)
    assert retry_delay(1, settings, retry_after=30.0, rng=rng) == 30.0


def test_audit_line_of_a_transition_cut_off_by_a_crash_is_marked_aborted(
    folder: FolderLedger, envelope: Envelope
) -> None:
    ledger = folder
    ref, _ = accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    record = ledger.get(ref)
    running = ledger.transition(record, State.RUNNING, attempts=1)
    # killed after the audit line of running → published, before the record was saved
    ledger.append_audit(ref, "running", State.PUBLISHED, attempt=1, reason="", seq=running.seq + 1)
    assert [e["to"] for e in ledger.audit(ref)] == ["received", "queued", "running"]
    # the retry that follows reuses the seq; only the committed line counts
    ledger.transition(running, State.RETRY_WAIT, reason="lease_expired")
    assert [e["to"] for e in ledger.audit(ref)] == ["received", "queued", "running", "retry_wait"]
    raw = ledger.audit(ref, include_aborted=True)
    assert [(e["to"], e.get("aborted", False)) for e in raw][-2:] == [("published", True), ("retry_wait", False)]


def test_concurrent_accepts_of_one_key_make_one_order_with_one_envelope(ledger: Ledger, envelope: Envelope) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse),
                                range(48)))
    assert len({ref for ref, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    (ref,) = refs(ledger)
    assert envelope.open(ledger.read_envelope(ref)) == order()
    assert [(e["from"], e["to"]) for e in ledger.audit(ref)] == [("", "received"), ("received", "queued")]


def test_owned_with_an_attempt_is_fenced_by_the_attempt_number(ledger: Ledger, envelope: Envelope) -> None:
    from builder.errors import LeaseLost

    ref, _ = accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    with ledger.owned(ref) as owned:
        owned.transition(State.RUNNING, attempts=1, lease_expires_at=ledger.clock() + 60)
    with ledger.owned(ref, 1) as owned:
        owned.update(lease_expires_at=ledger.clock() + 120)
    with ledger.owned(ref) as owned:  # reclaimed: attempt 1 timed out, attempt 2 runs
        owned.transition(State.RETRY_WAIT, reason="lease_expired")
        owned.transition(State.QUEUED, reason="retry_due")
        owned.transition(State.RUNNING, attempts=2)
    before = ledger.get(ref)
    with pytest.raises(LeaseLost), ledger.owned(ref, 1) as owned:
        owned.update(prediction_id="stale")
    assert ledger.get(ref) == before


def test_the_outbox_and_the_order_are_written_together(ledger: Ledger, envelope: Envelope) -> None:
    ref, _ = accept_order(order(), ledger=ledger, envelope=envelope, parse=fake_parse)
    record = ledger.get(ref)
    assert record.dispatches == 0 and ref in ledger.reconcile_candidates(ledger.clock(), include_queued=True)
