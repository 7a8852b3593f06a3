"""The ledger: one PII-free JSON record per order, an append-only audit, envelopes and the key index.

Layout under the ledger folder:
  orders/<ref>.json      the record (state, attempts, timings, reason categories, token, hashes, lease)
  audit/<ref>.jsonl      one line per transition, never rewritten
  envelopes/<ref>.bin    the encrypted private order, deleted once published or taken down
  keys/<key-hash>.json   idempotency index: key hash → ref and body fingerprint
  locks/                 per-order and per-key lock files (fcntl: released when a process dies)
Every write is atomic (temp file, fsync, rename, fsync of the folder). Callers hold `lock(ref)` while
they read-modify-write a record.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from builder.atomic_files import atomic_write as write_atomically
from builder.atomic_files import fsync_dir, naming
from builder.errors import EnvelopeError, JobError
from builder.jobs.states import State, check_transition

Clock = Callable[[], float]
RECORD_VERSION = 1


@dataclass(frozen=True)
class JobRecord:
    """What the ledger knows about an order: no name, no story, no email, no payment data."""

    ref: str
    state: str
    token: str
    key_hash: str
    created_at: float
    updated_at: float
    state_since: float
    attempts: int = 0
    seq: int = 0  # transitions committed; audit lines carry the seq they would commit
    budget_from: int = 0  # attempts spent before support's last `gift retry`: the budget restarts there
    reason: str = ""  # reason category of the last failure, hold or retry, e.g. "provider_5xx"
    lease_owner: str = ""
    lease_expires_at: float = 0.0
    next_attempt_at: float = 0.0
    queued_at: float = 0.0
    first_started_at: float = 0.0
    published_at: float = 0.0
    url: str = ""  # url path of the published gift, e.g. "gifts/<token>/"
    run_id: int = 0  # GitHub Actions run that was dispatched for the order
    dispatched_at: float = 0.0
    dispatches: int = 0
    prediction_id: str = ""  # provider job id, looked up before creating a new one
    last_error: str = ""  # category of the last failed attempt
    timings: dict[str, float] = field(default_factory=dict)
    version: int = RECORD_VERSION

    @property
    def status(self) -> State:
        return State(self.state)

    def lease_expired(self, now: float) -> bool:
        return self.state == State.RUNNING and self.lease_expires_at <= now

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True, indent=1) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> JobRecord:
        raw = json.loads(data)
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise JobError(f"ledger record has unknown fields: {', '.join(sorted(unknown))}")
        record = cls(**raw)
        State(record.state)  # a record with an unknown state is corrupt
        return record


def new_ref() -> str:
    """An order reference: random, short enough to read over the phone, unrelated to the gift token."""
    return "ord_" + secrets.token_hex(8)


def atomic_write(path: Path, data: bytes) -> None:
    """Ledger files are private to the machine's user and durable before the caller answers anyone."""
    write_atomically(path, data, mode=0o600)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


class Ledger:
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
        if not ref.startswith("ord_") or not ref[4:].isalnum():
            raise JobError(f"not an order ref: {ref!r}")
        return self.orders / f"{ref}.json"

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

    def records(self) -> list[JobRecord]:
        return self.read_all()[0]

    def read_all(self) -> tuple[list[JobRecord], dict[str, float]]:
        """Every readable record, and the refs of record files that cannot be read back (truncated or damaged
        JSON) with their file's mtime: support must see those, never have them vanish from a list."""
        found: list[JobRecord] = []
        corrupt: dict[str, float] = {}
        for ref in self.refs():
            try:
                found.append(self.get(ref))
            except JobError:
                try:
                    corrupt[ref] = self.record_path(ref).stat().st_mtime
                except FileNotFoundError:
                    continue  # vanished between listing and reading: nothing to report
        return found, corrupt

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
        now = self.clock()
        entry: dict[str, Any] = {
            "time": _iso(now),
            "t": round(now, 3),
            "seq": seq,
            "from": str(source),
            "to": str(target),
            "attempt": attempt,
            "reason": reason,
        }
        if timings:
            entry["timings"] = {k: round(v, 3) for k, v in timings.items()}
        if detail:
            entry.update(detail)
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
        now = self.clock()
        entry = {"time": _iso(now), "t": round(now, 3), "event": event, **detail}
        self._append_line(ref, entry)

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
