"""The folder ledger (the embedded default): one PII-free JSON record per order, an append-only audit,
envelopes and the key index, safe to share between threads and processes on one machine.

Layout under the ledger folder:
  orders/<ref>.json      the record (state, attempts, timings, reason categories, token, hashes, lease)
  audit/<ref>.jsonl      one line per transition, never rewritten
  envelopes/<ref>.bin    the encrypted private order, deleted once published or taken down
  keys/<key-hash>.json   idempotency index: key hash → ref and body fingerprint
  drafts/<id>.json, .bin a draft awaiting payment (its times, its sealed envelope)
  drafts/<id>.order      the ref a paid draft became (`order_of_draft`), removed by `sweep_drafts` 3 days after
                         the draft's expiry
  locks/                 per-order and per-key lock files (fcntl: released when a process dies)
Every write is atomic (temp file, fsync, rename, fsync of the folder). `owned(ref)` holds the order's lock
for the whole change (builder/jobs/ledger.py describes the interface).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from builder.atomic_files import atomic_write as write_atomically
from builder.atomic_files import fsync_dir, naming
from builder.errors import EnvelopeError, IdempotencyConflict, JobError, LeaseLost
from builder.jobs.figures import LedgerFigures, figures_from, with_dispatchers
from builder.jobs.ledger import (
    Clock,
    Draft,
    JobRecord,
    NewOrder,
    PaidOrder,
    audit_entry,
    check_draft_id,
    check_ref,
    new_ref,
    note_entry,
    paid_audit_detail,
)
from builder.jobs.states import DRAFT_EXPIRED, REFUND_UNSETTLED, State, check_transition


def atomic_write(path: Path, data: bytes) -> None:
    """Ledger files are private to the machine's user and durable before the caller answers anyone."""
    write_atomically(path, data, mode=0o600)


class FolderOwned:
    """An order held under its file lock: the `OwnedOrder` of the folder ledger."""

    def __init__(self, ledger: FolderLedger, record: JobRecord) -> None:
        self._ledger, self._record = ledger, record

    @property
    def record(self) -> JobRecord:
        return self._record

    def transition(self, target: State, *, reason: str | None = None, timings: dict[str, float] | None = None,
                   detail: dict[str, Any] | None = None, **changes: Any) -> JobRecord:
        self._record = self._ledger.transition(self._record, target, reason=reason, timings=timings,
                                               detail=detail, **changes)
        return self._record

    def update(self, **changes: Any) -> JobRecord:
        self._record = self._ledger.update(self._record, **changes)
        return self._record

    def note(self, event: str, **detail: Any) -> None:
        self._ledger.note(self._record.ref, event, **detail)

    def has_envelope(self) -> bool:
        return self._ledger.envelope_path(self._record.ref).exists()

    def delete_envelope(self) -> None:
        self._ledger.delete_envelope(self._record.ref)


class FolderDispatcherSlot:
    """A dispatcher's state file, held under its lock."""

    def __init__(self, path: Path, state: dict[str, Any]) -> None:
        self._path, self._state = path, state

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    def save(self, state: dict[str, Any]) -> None:
        atomic_write(self._path, (json.dumps(state, sort_keys=True) + "\n").encode())
        self._state = state


PAID_MARK_KEEP_S = 3 * 86400.0  # Stripe retries a webhook event for up to three days


class FolderLedger:
    """A local ledger folder; safe to share between threads and processes on one machine."""

    def __init__(self, root: Path, clock: Clock = time.time) -> None:
        self.root = Path(root)
        self.clock = clock
        self.orders = self.root / "orders"
        self.audits = self.root / "audit"
        self.envelopes = self.root / "envelopes"
        self.keys = self.root / "keys"
        self.locks = self.root / "locks"
        for folder in (self.orders, self.audits, self.envelopes, self.keys, self.locks):
            folder.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.Lock()
        self._seen: dict[str, tuple[int, int, int, JobRecord]] = {}  # ref → (inode, mtime_ns, size, record)

    def describe(self) -> str:
        return f"folder ledger {self.root}"

    def close(self) -> None:
        """Nothing to release: every lock is held only inside `owned`."""

    # the interface ---------------------------------------------------------------------------------
    @contextmanager
    def owned(self, ref: str, attempt: int | None = None, *, timeout: float = 30.0) -> Iterator[FolderOwned]:
        with self.lock(ref, timeout=timeout):
            record = self.get(ref)
            if attempt is not None and not (record.state == State.RUNNING and record.attempts == attempt):
                raise LeaseLost(f"{ref}: attempt {attempt} no longer holds the order")
            yield FolderOwned(self, record)

    def _due(self, now: float, only_ref: str | None) -> list[str]:
        due: list[tuple[float, str]] = []
        for ref in [only_ref] if only_ref else self.refs():
            record = self._read(ref)
            when = record.due_at() if record is not None else None
            if when is not None and when <= now:
                due.append((when, ref))
        return [ref for _, ref in sorted(due)]

    @contextmanager
    def next_due(self, now: float, only_ref: str | None = None) -> Iterator[FolderOwned | None]:
        for ref in self._due(now, only_ref):
            with ExitStack() as stack:
                if not stack.enter_context(self.try_lock(ref)):
                    continue  # another worker is on it right now
                record = self.get(ref)
                when = record.due_at()
                if when is None or when > now:
                    continue  # taken and changed since we listed it
                yield FolderOwned(self, record)
                return
        yield None

    def count_due(self, now: float) -> int:
        return len(self._due(now, None))

    def sweep(self, now: float) -> list[str]:
        """Remove temporary files killed writers left, and only those: every write happens under its order's
        (or key's) lock, so a temporary file whose lock nobody holds is nobody's. One line per removal."""
        done: list[str] = []
        for folder, suffix in ((self.orders, ".json"), (self.envelopes, ".bin"), (self.keys, ".json")):
            for name in sorted({p.name.split(".", 2)[1] for p in folder.glob(f".*{suffix}.*.tmp")}):
                lock_name = name if name.startswith("ord_") else f"key-{name}"
                with self.try_lock(lock_name) as locked:
                    if not locked:
                        continue  # a live writer holds it: its temporary file is in use
                    for leftover in folder.glob(f".{name}{suffix}.*.tmp"):
                        leftover.unlink(missing_ok=True)
                        done.append(f"{folder.name}/{leftover.name}: removed (left by a killed writer)")
        return done

    def reconcile_candidates(self, now: float, include_queued: bool) -> list[str]:
        """Every order: the folder has no index, so recovery reads each record (the database does not)."""
        return self.refs()

    def refund_candidates(self, now: float, failed_before: float | None) -> list[str]:
        """Paid orders to refund now (`JobRecord.refund_due`), oldest first: read from every record."""
        due = [record for record in self.records() if record.refund_due(now, failed_before)]
        return [record.ref for record in sorted(due, key=lambda record: (record.state_since, record.ref))]

    def unsettled_refunds(self) -> list[str]:
        """Refunded orders whose refund is still pending at Stripe, oldest first: read from every record."""
        found = [r for r in self.records(State.REFUNDED) if r.refund_status in REFUND_UNSETTLED]
        return [record.ref for record in sorted(found, key=lambda record: (record.state_since, record.ref))]

    def figures(self, now: float) -> LedgerFigures:
        records = self.records()
        audits = {record.ref: self.audit(record.ref) for record in records}
        return with_dispatchers(figures_from(records, audits, now, self.corrupt()), self.dispatcher_states(), now)

    # dispatchers -----------------------------------------------------------------------------------
    def _dispatcher_path(self, name: str) -> Path:
        if not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
            raise JobError(f"not a dispatcher name: {name!r}")
        return self.root / "dispatchers" / f"{name}.json"

    @contextmanager
    def dispatcher(self, name: str) -> Iterator[FolderDispatcherSlot | None]:
        path = self._dispatcher_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path.with_suffix(".lock"), thread_local=False, is_singleton=False, preserve_lock_file=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield None
            return
        try:
            yield FolderDispatcherSlot(path, self._read_dispatcher(path))
        finally:
            lock.release()

    def _read_dispatcher(self, path: Path) -> dict[str, Any]:
        try:
            state = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            raise JobError(f"{path}: dispatcher state unreadable; delete it to start afresh") from None
        return state if isinstance(state, dict) else {}

    def dispatcher_states(self) -> dict[str, dict[str, Any]]:
        folder = self.root / "dispatchers"
        if not folder.is_dir():
            return {}
        return {path.stem: self._read_dispatcher(path) for path in sorted(folder.glob("*.json"))}

    def accept(self, new: NewOrder) -> tuple[str, bool]:
        """Under the key's lock: the index entry first (a crash after it is repaired by the replay), then
        the envelope and the record (received → queued) under the order's lock, all fsync'ed."""
        with self.key_lock(new.key_hash):
            found = self.find_key(new.key_hash)
            if found is not None:
                ref, recorded = found
                if recorded != new.fingerprint:
                    raise IdempotencyConflict()
                if not self.exists(ref):
                    self._record_new(ref, new)  # finish an accept interrupted by a crash
                return ref, False
            ref = new_ref()
            self.write_key(new.key_hash, ref, new.fingerprint)
            self._record_new(ref, new)
            return ref, True

    def _record_new(self, ref: str, new: NewOrder) -> JobRecord:
        with self.lock(ref):
            self.write_envelope(ref, new.sealed)
            now = self.clock()
            record = JobRecord(ref=ref, state=State.RECEIVED.value, token=new.token, key_hash=new.key_hash,
                               created_at=now, updated_at=now, state_since=now)
            record = self.create(record)
            return self.transition(record, State.QUEUED, reason="", queued_at=now)

    def accept_paid(self, paid: PaidOrder) -> tuple[str, bool]:
        """Under the session's key lock: the index entry, then the order (its envelope, its record) under the
        order's lock, then the draft's `.order` mark, and only then the draft deleted. A crash anywhere in
        between leaves what the replay finishes (Stripe delivers until answered 2xx) or, for a draft whose
        order was recorded, what sweep_drafts removes once it expires; never an order without its draft's
        input, never two orders."""
        check_draft_id(paid.draft_id)
        with self.key_lock(paid.key_hash):
            found = self.find_key(paid.key_hash)
            if found is None:
                ref, created = new_ref(), True
                self.write_key(paid.key_hash, ref, paid.fingerprint)
            else:
                ref, recorded = found
                if recorded != paid.fingerprint:
                    raise IdempotencyConflict()
                created = False
            self._record_paid(ref, paid)
            meta, _ = self._draft_paths(paid.draft_id)
            meta.parent.mkdir(parents=True, exist_ok=True)
            draft = self.get_draft(paid.draft_id)  # gone on a replay: the mark is due for removal from now
            expires_at = draft.expires_at if draft is not None else self.clock()
            atomic_write(meta.with_suffix(".order"),
                         (json.dumps({"ref": ref, "expires_at": expires_at}) + "\n").encode())
            self.delete_draft(paid.draft_id)
            return ref, created

    def _record_paid(self, ref: str, paid: PaidOrder) -> JobRecord:
        """The order of a paid draft: queued with the draft's envelope, or failed (draft_expired) without one
        when the draft is gone or past its expiry. Finishes one a crash left in received."""
        with self.lock(ref):
            record = self.get(ref) if self.exists(ref) else None
            if record is not None and record.state != State.RECEIVED:
                return record  # recorded before: a replay
            now = self.clock()
            draft = self.get_draft(paid.draft_id)
            usable = draft is not None and draft.expires_at > now
            if draft is not None and usable:
                self.write_envelope(ref, draft.sealed)
            if record is None:
                record = self.create(JobRecord(
                    ref=ref, state=State.RECEIVED.value, token=paid.token, key_hash=paid.key_hash, created_at=now,
                    updated_at=now, state_since=now, payment_intent=paid.payment_intent))
            detail = paid_audit_detail(paid)
            if usable:
                return self.transition(record, State.QUEUED, reason="", queued_at=now, detail=detail)
            return self.transition(record, State.FAILED, reason=DRAFT_EXPIRED, detail=detail)

    def order_of_draft(self, draft_id: str) -> str | None:
        meta, _ = self._draft_paths(draft_id)
        try:
            return str(json.loads(meta.with_suffix(".order").read_bytes())["ref"])
        except FileNotFoundError:
            return None

    # locks -----------------------------------------------------------------------------------------
    def _lock(self, name: str) -> FileLock:
        # preserve_lock_file: never unlink the path (no inode races) and never fall back to soft markers,
        # which a SIGKILLed worker would leave behind; fcntl locks die with their process.
        return FileLock(
            self.locks / f"{name}.lock", thread_local=False, is_singleton=False, preserve_lock_file=True
        )

    @contextmanager
    def lock(self, ref: str, timeout: float = 30.0) -> Iterator[None]:
        """Hold the order's lock (blocking up to `timeout`)."""
        lock = self._lock(ref)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise JobError(f"{ref}: ledger lock busy") from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def try_lock(self, ref: str) -> Iterator[bool]:
        """Yield True while holding the order's lock, or False at once if another worker holds it."""
        lock = self._lock(ref)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    @contextmanager
    def key_lock(self, key_hash: str) -> Iterator[None]:
        with self.lock(f"key-{key_hash}", timeout=60.0):
            yield

    # records ---------------------------------------------------------------------------------------
    def record_path(self, ref: str) -> Path:
        return self.orders / f"{check_ref(ref)}.json"

    def exists(self, ref: str) -> bool:
        return self.record_path(ref).exists()

    def get(self, ref: str) -> JobRecord:
        path = self.record_path(ref)
        try:
            return JobRecord.from_json(path.read_bytes())
        except FileNotFoundError:
            raise JobError(f"unknown order ref {ref}") from None
        except (ValueError, TypeError) as error:
            raise JobError(f"{ref}: corrupt ledger record ({type(error).__name__})") from None

    def refs(self) -> list[str]:
        return sorted(p.stem for p in self.orders.glob("ord_*.json"))

    def records(self, state: State | None = None) -> list[JobRecord]:
        found = []
        for ref in self.refs():
            record = self._read(ref)
            if record is not None and (state is None or record.state == state):
                found.append(record)
        return found

    def corrupt(self) -> dict[str, float]:
        """The refs of record files that cannot be read back (truncated or damaged JSON), with their file's
        mtime: support must see those, never have them vanish from a list."""
        found: dict[str, float] = {}
        for ref in self.refs():
            if self._read(ref) is None:
                try:
                    found[ref] = self.record_path(ref).stat().st_mtime
                except FileNotFoundError:
                    continue  # vanished between listing and reading: nothing to report
        return found

    def _read(self, ref: str) -> JobRecord | None:
        """The record, re-read only when its file changed: idle polling costs a stat per order. Only a hint
        for listing and finding due work: changes re-read under the lock. Every write renames a new file in,
        so the inode changes too."""
        try:
            stat = self.record_path(ref).stat()
        except (OSError, JobError):
            return None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._mutex:
            cached = self._seen.get(ref)
        if cached is not None and cached[:3] == key:
            return cached[3]
        try:
            record = self.get(ref)
        except JobError:
            return None  # vanished or torn between listing and reading: nothing to report
        with self._mutex:
            self._seen[ref] = (*key, record)
        return record

    def save(self, record: JobRecord) -> None:
        atomic_write(self.record_path(record.ref), record.to_json())

    def create(self, record: JobRecord, *, attempt: int = 0) -> JobRecord:
        """Write a new record in `received` and its first audit line; the caller holds the order's lock."""
        if record.state != State.RECEIVED:
            raise JobError("a new order starts in received")
        record = replace(record, seq=1)
        self.append_audit(record.ref, "", State.RECEIVED, attempt=attempt, reason="", seq=1)
        self.save(record)
        return record

    def transition(
        self,
        record: JobRecord,
        target: State,
        *,
        reason: str | None = None,
        timings: dict[str, float] | None = None,
        detail: dict[str, Any] | None = None,
        **changes: Any,
    ) -> JobRecord:
        """Move `record` to `target` (legal transitions only), append the audit line, save atomically."""
        goal = check_transition(record.state, target)
        now = self.clock()
        updated = replace(
            record,
            seq=record.seq + 1,
            state=goal.value,
            updated_at=now,
            state_since=now,
            reason=record.reason if reason is None else reason,
            timings=record.timings if timings is None else timings,
            **changes,
        )
        # write-ahead: the audit line first, then the record that commits it. A kill in between leaves
        # a line whose seq the record never reached; readers treat it as aborted (see `audit`).
        self.append_audit(
            record.ref, record.state, goal, attempt=updated.attempts, reason=reason or "",
            timings=timings, detail=detail, seq=updated.seq,
        )
        self.save(updated)
        return updated

    def update(self, record: JobRecord, **changes: Any) -> JobRecord:
        """Change fields other than the state (lease renewal, run id); the caller holds the lock."""
        if "state" in changes:
            raise JobError("state changes go through transition()")
        updated = replace(record, updated_at=self.clock(), **changes)
        self.save(updated)
        return updated

    # audit -----------------------------------------------------------------------------------------
    def audit_path(self, ref: str) -> Path:
        self.record_path(ref)
        return self.audits / f"{ref}.jsonl"

    def append_audit(
        self,
        ref: str,
        source: str,
        target: State | str,
        *,
        attempt: int,
        reason: str,
        timings: dict[str, float] | None = None,
        detail: dict[str, Any] | None = None,
        seq: int = 0,
    ) -> None:
        entry = audit_entry(self.clock(), source, target, attempt=attempt, reason=reason, seq=seq,
                            timings=timings, detail=detail)
        self._append_line(ref, entry)

    def _append_line(self, ref: str, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        # one write() on an O_APPEND descriptor: concurrent appenders never interleave inside a line
        path = self.audit_path(ref)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            with naming(path):
                os.write(fd, line)
                os.fsync(fd)
        finally:
            os.close(fd)

    def note(self, ref: str, event: str, **detail: Any) -> None:
        """An audit line that is not a transition (dispatch, lease lost, prediction created)."""
        self._append_line(ref, note_entry(self.clock(), event, detail))

    def audit(self, ref: str, *, include_aborted: bool = False) -> list[dict[str, Any]]:
        """The order's audit. A transition line is committed when the record reached its seq and no later
        line reused that seq; others were cut off by a crash and are left out (or marked, on request)."""
        try:
            lines = self.audit_path(ref).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        try:
            committed_seq = self.get(ref).seq
        except JobError:
            committed_seq = 1 << 62  # no record (yet): nothing to judge the lines against
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a power cut: the record, not the audit, is the state
        last_of_seq = {e["seq"]: n for n, e in enumerate(entries) if "seq" in e}
        result = []
        for n, entry in enumerate(entries):
            aborted = "seq" in entry and (entry["seq"] > committed_seq or last_of_seq[entry["seq"]] != n)
            if aborted and not include_aborted:
                continue
            result.append({**entry, "aborted": True} if aborted else entry)
        return result

    # envelopes -------------------------------------------------------------------------------------
    def envelope_path(self, ref: str) -> Path:
        self.record_path(ref)
        return self.envelopes / f"{ref}.bin"

    def write_envelope(self, ref: str, sealed: bytes) -> None:
        atomic_write(self.envelope_path(ref), sealed)

    def read_envelope(self, ref: str) -> bytes:
        try:
            return self.envelope_path(ref).read_bytes()
        except FileNotFoundError:
            raise EnvelopeError(f"{ref}: envelope missing") from None

    def delete_envelope(self, ref: str) -> None:
        self.envelope_path(ref).unlink(missing_ok=True)
        fsync_dir(self.envelopes)

    # drafts (issue 14): drafts/ID.json (times) and drafts/ID.bin (the sealed envelope) ------------------
    def _draft_paths(self, draft_id: str) -> tuple[Path, Path]:
        folder = self.root / "drafts"
        return folder / f"{check_draft_id(draft_id)}.json", folder / f"{draft_id}.bin"

    def save_draft(self, draft: Draft) -> None:
        meta, sealed = self._draft_paths(draft.id)
        meta.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(sealed, draft.sealed)  # the envelope first: a draft's times never point at nothing
        atomic_write(meta, json.dumps({"id": draft.id, "created_at": draft.created_at,
                                       "expires_at": draft.expires_at}).encode())

    def get_draft(self, draft_id: str) -> Draft | None:
        meta, sealed = self._draft_paths(draft_id)
        try:
            times = json.loads(meta.read_bytes())
            return Draft(id=draft_id, sealed=sealed.read_bytes(), created_at=float(times["created_at"]),
                         expires_at=float(times["expires_at"]))
        except FileNotFoundError:
            return None

    def delete_draft(self, draft_id: str) -> None:
        meta, sealed = self._draft_paths(draft_id)
        meta.unlink(missing_ok=True)  # the times first: a half-deleted draft is gone, never half-readable
        sealed.unlink(missing_ok=True)
        if meta.parent.is_dir():
            fsync_dir(meta.parent)

    def sweep_drafts(self, now: float) -> list[str]:
        """Delete expired drafts with their envelopes (their ids, one reconcile line each); and, silently, the
        `.order` marks of paid drafts once nothing can need them: PAID_MARK_KEEP_S past the draft's expiry (no
        Checkout Session of it is open any more, Stripe has stopped delivering its events; a mark written before
        marks kept the expiry counts from its own mtime plus a day). The order keeps its draft id in its audit."""
        folder = self.root / "drafts"
        gone: list[str] = []
        for meta in sorted(folder.glob("drf_*.json")) if folder.is_dir() else []:
            draft = self.get_draft(meta.stem)
            if draft is not None and draft.expires_at <= now:
                self.delete_draft(draft.id)
                gone.append(draft.id)
        for mark in sorted(folder.glob("drf_*.order")) if folder.is_dir() else []:
            try:
                expires_at = json.loads(mark.read_bytes()).get("expires_at")
                if not isinstance(expires_at, int | float):
                    expires_at = mark.stat().st_mtime + 86400.0
            except (OSError, ValueError, AttributeError):
                continue  # a mark being written, or removed meanwhile: the next sweep sees it
            if expires_at + PAID_MARK_KEEP_S <= now:
                mark.unlink(missing_ok=True)
        return gone

    # idempotency index -----------------------------------------------------------------------------
    def _key_path(self, key_hash: str) -> Path:
        if not key_hash.isalnum():
            raise JobError("bad idempotency key hash")
        return self.keys / f"{key_hash}.json"

    def find_key(self, key_hash: str) -> tuple[str, str] | None:
        """(ref, body fingerprint) recorded for an idempotency key hash, or None."""
        try:
            raw = json.loads(self._key_path(key_hash).read_bytes())
        except FileNotFoundError:
            return None
        return raw["ref"], raw["fingerprint"]

    def write_key(self, key_hash: str, ref: str, fingerprint: str) -> None:
        payload = {"ref": ref, "fingerprint": fingerprint}
        atomic_write(self._key_path(key_hash), (json.dumps(payload, sort_keys=True) + "\n").encode())
