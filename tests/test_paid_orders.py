"""Ledger.accept_paid on both backends: a paid Checkout Session's draft becomes one order (its sealed envelope,
received → queued, outbox) and the draft is gone, in one step keyed by the session; replays and concurrent
deliveries make one order; a session whose draft is gone or expired is one failed/draft_expired order with
no envelope. The HTTP webhook is tested in tests/test_stripe_webhook.py."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from builder.jobs.envelope import Envelope
from builder.jobs.folder_ledger import FolderLedger
from builder.jobs.ledger import Draft, JobRecord, Ledger, new_draft_id
from builder.jobs.reconcile import reconcile
from builder.jobs.settings import JobSettings
from builder.jobs.states import DRAFT_EXPIRED
from builder.jobs.stripe_webhook import paid_order
from tests.support.jobs import PRIVATE, order
from tests.support.ledgers import has_envelope, refs, stored_bytes


def _draft(ledger: Ledger, envelope: Envelope, *, ttl_s: float = 3600.0) -> Draft:
    now = time.time()
    draft = Draft(id=new_draft_id(), sealed=envelope.seal(order()), created_at=now, expires_at=now + ttl_s)
    ledger.save_draft(draft)
    return draft


def test_a_paid_draft_becomes_one_queued_order_and_is_gone(ledger: Ledger, envelope: Envelope) -> None:
    draft = _draft(ledger, envelope)
    paid = paid_order("cs_test_a1", draft.id, "pi_test_a1", envelope)
    ref, created = ledger.accept_paid(paid)
    assert created
    record = ledger.get(ref)
    assert (record.state, record.payment_intent, record.key_hash) == ("queued", "pi_test_a1", paid.key_hash)
    assert envelope.open(ledger.read_envelope(ref)) == order()
    assert ledger.get_draft(draft.id) is None and ledger.order_of_draft(draft.id) == ref
    transitions = [(e["from"], e["to"]) for e in ledger.audit(ref) if "to" in e]
    assert transitions == [("", "received"), ("received", "queued")]
    assert ledger.audit(ref)[-1]["session"] == "cs_test_a1" and ledger.audit(ref)[-1]["draft"] == draft.id
    # any later delivery of the same session: the same order, nothing new (a fresh token each time changes nothing)
    for _ in range(3):
        assert ledger.accept_paid(paid_order("cs_test_a1", draft.id, "pi_test_a1", envelope)) == (ref, False)
    assert refs(ledger) == [ref]
    assert PRIVATE.encode() not in stored_bytes(ledger, with_envelopes=False)


def test_concurrent_deliveries_of_one_session_make_one_order(ledger: Ledger, envelope: Envelope) -> None:
    draft = _draft(ledger, envelope)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: ledger.accept_paid(paid_order("cs_test_c1", draft.id, "pi_c1", envelope)),
                                range(5)))
    assert len({ref for ref, _ in answers}) == 1 and sum(created for _, created in answers) == 1
    ref = answers[0][0]
    assert refs(ledger) == [ref] and ledger.get(ref).state == "queued" and has_envelope(ledger, ref)


def test_a_session_whose_draft_expired_or_is_gone_is_one_failed_order(ledger: Ledger, envelope: Envelope) -> None:
    expired = _draft(ledger, envelope, ttl_s=-1.0)
    ref, created = ledger.accept_paid(paid_order("cs_test_e1", expired.id, "pi_e1", envelope))
    record = ledger.get(ref)
    assert created and (record.state, record.reason, record.payment_intent) == ("failed", DRAFT_EXPIRED, "pi_e1")
    assert not has_envelope(ledger, ref) and ledger.get_draft(expired.id) is None
    assert ledger.accept_paid(paid_order("cs_test_e1", expired.id, "pi_e1", envelope)) == (ref, False)
    gone, _ = ledger.accept_paid(paid_order("cs_test_e2", new_draft_id(), "pi_e2", envelope))
    assert ledger.get(gone).state == "failed" and ledger.get(gone).reason == DRAFT_EXPIRED
    assert sorted(refs(ledger)) == sorted([ref, gone])
    assert ledger.count_due(time.time() + 3600) == 0  # nothing for a worker to make


def test_a_folder_accept_paid_cut_off_by_a_crash_is_finished_never_doubled(tmp_path: Path,
                                                                          envelope: Envelope) -> None:
    folder = FolderLedger(tmp_path / "ledger")
    # killed right after the key index entry: the replay records the order from the draft
    draft = _draft(folder, envelope)
    paid = paid_order("cs_test_k1", draft.id, "pi_k1", envelope)
    folder.write_key(paid.key_hash, "ord_0123456789abcdef", paid.fingerprint)
    assert folder.accept_paid(paid) == ("ord_0123456789abcdef", False)
    assert folder.get("ord_0123456789abcdef").state == "queued" and folder.get_draft(draft.id) is None
    assert envelope.open(folder.read_envelope("ord_0123456789abcdef")) == order()

    # killed after the order, before the draft was deleted: the replay deletes it, or the sweep once it expires
    kept = _draft(folder, envelope, ttl_s=60.0)
    ref, _ = folder.accept_paid(paid_order("cs_test_k2", kept.id, "pi_k2", envelope))
    folder.save_draft(kept)
    assert folder.accept_paid(paid_order("cs_test_k2", kept.id, "pi_k2", envelope)) == (ref, False)
    assert folder.get_draft(kept.id) is None
    folder.save_draft(kept)
    assert folder.sweep_drafts(time.time() + 61) == [kept.id] and folder.order_of_draft(kept.id) == ref

    # killed between `received` and `failed` for a session whose draft was gone: no envelope, so recovery
    # fails it as the accept would have (draft_expired), never queues it with nothing to make
    lost = paid_order("cs_test_k3", new_draft_id(), "pi_k3", envelope)
    folder.write_key(lost.key_hash, "ord_00000000000000k3", lost.fingerprint)
    now = time.time()
    with folder.lock("ord_00000000000000k3"):
        folder.create(JobRecord(ref="ord_00000000000000k3", state="received", token=lost.token,
                                key_hash=lost.key_hash, created_at=now, updated_at=now, state_since=now,
                                payment_intent="pi_k3"))
    report = reconcile(folder, JobSettings())
    assert "ord_00000000000000k3: received → failed (draft_expired: interrupted accept of a paid session " \
           "without its draft)" in report.actions
    assert folder.get("ord_00000000000000k3").reason == DRAFT_EXPIRED
    assert folder.accept_paid(lost) == ("ord_00000000000000k3", False)
    assert sorted(refs(folder)) == sorted(["ord_0123456789abcdef", ref, "ord_00000000000000k3"])


def test_the_draft_sweep_removes_a_paid_drafts_order_mark_once_nothing_needs_it(tmp_path: Path) -> None:
    """The folder's drafts/<id>.order marks (409 at checkout for a paid draft) used to stay forever; `gift
    reconcile`'s draft sweep removes one three days after its draft's expiry (Stripe's redelivery window)."""
    import os

    from cryptography.fernet import Fernet

    from tests.support.stripe import run_cli

    envelope_key = Fernet.generate_key()
    envelope = Envelope(envelope_key)
    location = tmp_path / "ledger"
    folder = FolderLedger(location)
    long_expired = _draft(folder, envelope, ttl_s=-4 * 86400.0)
    just_expired = _draft(folder, envelope, ttl_s=-60.0)
    live = _draft(folder, envelope)
    paid = {draft.id: folder.accept_paid(paid_order(f"cs_test_m{n}", draft.id, f"pi_m{n}", envelope))[0]
            for n, draft in enumerate((long_expired, just_expired, live))}
    marks = location / "drafts"
    old_legacy, new_legacy = new_draft_id(), new_draft_id()  # marks written before they kept the draft's expiry
    for draft_id, age in ((old_legacy, 5 * 86400.0), (new_legacy, 0.0)):
        (marks / f"{draft_id}.order").write_text(json.dumps({"ref": paid[live.id]}) + "\n")
        os.utime(marks / f"{draft_id}.order", (time.time() - age, time.time() - age))
    assert len(list(marks.glob("*.order"))) == 5

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    env.update({"GIFT_ENVELOPE_KEY": envelope_key.decode(), "GIFT_LEDGER_URL": str(location), "CI": "true"})
    done = run_cli(env, "gift", "reconcile", "--out", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in marks.glob("*.order")) == sorted([just_expired.id, live.id, new_legacy])
    assert folder.order_of_draft(long_expired.id) is None and folder.order_of_draft(live.id) == paid[live.id]
    assert [folder.get(ref).state for ref in paid.values()] == ["failed", "failed", "queued"]  # orders untouched
    assert "order" not in done.stdout.replace("refund", "")  # a mark's removal is housekeeping, no action line
