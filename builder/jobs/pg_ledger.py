"""The PostgreSQL ledger (production): psycopg 3 with a connection pool, the interface of builder/jobs/ledger.py.

- `accept` is one statement in one transaction (data-modifying CTEs): the order, its envelope, its first
  audit rows and its outbox row, or nothing when the unique key hash is already there.
- `next_due` claims with `SELECT … FOR UPDATE SKIP LOCKED` on the `orders_due` index: any number of workers
  on any number of machines, none waiting for another.
- `owned(ref, attempt)` locks the row (`FOR UPDATE`) in a transaction held for the whole block; every write
  inside carries the fence in its `WHERE` (`ref = … AND attempts = … AND seq = …`) and a write that changes
  0 rows raises `LeaseLost`. The block commits when it ends, and rolls back when it raises.
- `figures` and `reconcile_candidates` are aggregate and indexed queries, not a read of every record.
Errors from the driver become `LedgerUnavailable` (connection lost, database restarting, lock timeout) or
`JobError`; their text never carries the URL or its password.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from builder.errors import EnvelopeError, IdempotencyConflict, JobError, LeaseLost, LedgerSchemaError, LedgerUnavailable
from builder.jobs.figures import (
    REFUNDS_WINDOW_S,
    STAGES,
    Distribution,
    LedgerFigures,
    ProviderStats,
    attention_item,
    hourly_series,
    with_dispatchers,
)
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
from builder.jobs.states import (
    DRAFT_EXPIRED,
    NEEDS_ATTENTION,
    REFUND_LOST,
    REFUND_UNSETTLED,
    STORAGE_FULL,
    State,
    check_transition,
)

# The pool warns (e.g. "discarding closed connection" after the database restarted) on the `psycopg.pool` logger. A
# command configures no logging, so Python's last-resort handler printed those on stderr above the command's one
# error line; with a handler here they reach the intake's log (it configures the root logger) and no terminal.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

COLUMN_OF = {"lease_expires_at": "lease_until"}  # record field → column, where the names differ
FIELDS = [f.name for f in fields(JobRecord)]
COLUMNS = [COLUMN_OF.get(name, name) for name in FIELDS]
SELECT_RECORD = ", ".join(f"{COLUMN_OF[n]} AS {n}" if n in COLUMN_OF else n for n in FIELDS)
DUE_AT = ("(CASE state WHEN 'retry_wait' THEN next_attempt_at WHEN 'running' THEN lease_until "
          "ELSE queued_at END)")
DUE_STATES = "state IN ('received', 'queued', 'retry_wait', 'running')"
AUDIT_COLUMNS = "ref, t, seq, event, from_state, to_state, reason, attempt, stage, provider, entry"
FAILURE_TARGETS = "('retry_wait', 'failed', 'held')"
LOCK_TIMEOUT = "30s"
DEFAULT_POOL_SIZE = 10


@contextmanager
def database_errors() -> Iterator[None]:
    """Driver errors as the project's own: never the driver's text (it may name hosts and users)."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as error:
        raise LedgerUnavailable(f"ledger database unavailable ({type(error).__name__}); retry later") from None
    except psycopg.Error as error:
        raise JobError(f"ledger database error ({type(error).__name__})") from None


def _values(record: JobRecord) -> list[Any]:
    return [Jsonb(record.timings) if name == "timings" else getattr(record, name) for name in FIELDS]


def _audit_values(ref: str, entry: dict[str, Any]) -> list[Any]:
    return [ref, entry["t"], entry.get("seq"), entry.get("event"), entry.get("from"), entry.get("to"),
            entry.get("reason"), entry.get("attempt"), entry.get("stage"), entry.get("provider"), Jsonb(entry)]


T = TypeVar("T")


def _retried(step: Callable[[], T], tries: int = 3) -> T:
    """`step` (one whole transaction, safe to run again), tried again after a short pause when the database
    connection died under it (LedgerUnavailable: a restart, a failover); the last failure is raised."""
    for attempt in range(tries - 1):
        try:
            return step()
        except LedgerUnavailable:
            time.sleep(0.2 * (attempt + 1))
    return step()


def _record(row: dict[str, Any]) -> JobRecord:
    return JobRecord.from_dict({name: row[name] for name in FIELDS})


class PostgresOwned:
    """An order whose row this transaction holds: the `OwnedOrder` of the PostgreSQL ledger."""

    def __init__(self, ledger: PostgresLedger, cur: psycopg.Cursor[dict[str, Any]], record: JobRecord) -> None:
        self._ledger, self._cur, self._record = ledger, cur, record

    @property
    def record(self) -> JobRecord:
        return self._record

    def _write(self, updated: JobRecord, entry: dict[str, Any] | None) -> JobRecord:
        """One fenced statement: the row changes only while it still has the attempt and seq we read."""
        assignments = ", ".join(f"{column} = %s" for column in COLUMNS)
        fence = [self._record.ref, self._record.attempts, self._record.seq]
        update = f"UPDATE orders SET {assignments} WHERE ref = %s AND attempts = %s AND seq = %s"
        if entry is None:
            self._cur.execute(update, [*_values(updated), *fence])
        else:
            self._cur.execute(
                f"WITH changed AS ({update} RETURNING ref) INSERT INTO audit ({AUDIT_COLUMNS}) "
                f"SELECT ref, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM changed",
                [*_values(updated), *fence, *_audit_values(updated.ref, entry)[1:]],
            )
        if self._cur.rowcount != 1:
            raise LeaseLost(f"{self._record.ref}: the order changed under attempt {self._record.attempts}")
        if updated.dispatches != self._record.dispatches:
            self._cur.execute("DELETE FROM outbox WHERE ref = %s", (updated.ref,))
        self._record = updated
        return updated

    def transition(self, target: State, *, reason: str | None = None, timings: dict[str, float] | None = None,
                   detail: dict[str, Any] | None = None, **changes: Any) -> JobRecord:
        record = self._record
        goal = check_transition(record.state, target)
        now = self._ledger.clock()
        updated = replace(
            record, seq=record.seq + 1, state=goal.value, updated_at=now, state_since=now,
            reason=record.reason if reason is None else reason,
            timings=record.timings if timings is None else timings, **changes,
        )
        entry = audit_entry(now, record.state, goal, attempt=updated.attempts, reason=reason or "",
                            seq=updated.seq, timings=timings, detail=detail)
        return self._write(updated, entry)

    def update(self, **changes: Any) -> JobRecord:
        if "state" in changes:
            raise JobError("state changes go through transition()")
        return self._write(replace(self._record, updated_at=self._ledger.clock(), **changes), None)

    def note(self, event: str, **detail: Any) -> None:
        entry = note_entry(self._ledger.clock(), event, detail)
        self._cur.execute(f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})",
                          _audit_values(self._record.ref, entry))

    def has_envelope(self) -> bool:
        self._cur.execute("SELECT 1 FROM envelopes WHERE ref = %s", (self._record.ref,))
        return self._cur.fetchone() is not None

    def delete_envelope(self) -> None:
        self._cur.execute("DELETE FROM envelopes WHERE ref = %s", (self._record.ref,))


class PostgresDispatcherSlot:
    """A dispatcher's row, held under its advisory lock by this connection."""

    def __init__(self, ledger: PostgresLedger, conn: psycopg.Connection[Any], name: str,
                 state: dict[str, Any]) -> None:
        self._ledger, self._conn, self._name, self._state = ledger, conn, name, state

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    def save(self, state: dict[str, Any]) -> None:
        with database_errors():
            self._conn.execute(
                "INSERT INTO dispatcher_state (name, state, updated_at) VALUES (%s, %s, %s) ON CONFLICT (name) "
                "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (self._name, Jsonb(state), self._ledger.clock()))
        self._state = state


class PostgresLedger:
    """Orders, audit, envelopes and the outbox in PostgreSQL; safe for any number of processes and machines."""

    def __init__(self, url: str, clock: Clock = time.time, *, check_schema: bool = True,
                 pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.clock = clock
        self._where = _describe(url)
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, timeout=15.0, name="giftboard-ledger",
            kwargs={"row_factory": dict_row}, configure=_configure, check=ConnectionPool.check_connection,
        )
        with database_errors():
            self._pool.open(wait=True, timeout=15.0)
        if check_schema:
            try:
                self.check_schema()
            except BaseException:
                self.close()
                raise

    def describe(self) -> str:
        return f"PostgreSQL ledger {self._where}"

    def close(self) -> None:
        self._pool.close()

    def check_schema(self) -> None:
        """Refuse to work on a schema older (or newer) than this code's migrations."""
        from builder.jobs.migrate import latest_version

        wanted = latest_version()
        with self._transaction() as cur:
            cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
            row = cur.fetchone()
            version = 0
            if row is not None and row["present"]:
                cur.execute("SELECT coalesce(max(version), 0) AS version FROM schema_migrations")
                found = cur.fetchone()
                version = int(found["version"]) if found else 0
        if version < wanted:
            raise LedgerSchemaError(f"{self.describe()}: schema version {version}, this code needs {wanted}; "
                                    "run `python -m builder gift migrate` first")
        if version > wanted:
            raise LedgerSchemaError(f"{self.describe()}: schema version {version} is newer than this code's "
                                    f"{wanted}; deploy the newer code")

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        with database_errors(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _read(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        """A read-only query, tried again when a pooled connection died under it (a restart)."""

        def read() -> list[dict[str, Any]]:
            with self._transaction() as cur:
                cur.execute(query, params)
                return cur.fetchall()

        return _retried(read)

    # the interface ---------------------------------------------------------------------------------
    def accept(self, new: NewOrder) -> tuple[str, bool]:
        return _retried(lambda: self._accept(new))  # the key is unique: a retry after a lost answer finds it

    def _accept(self, new: NewOrder) -> tuple[str, bool]:
        now = self.clock()
        ref = new_ref()
        record = JobRecord(ref=ref, state=State.QUEUED.value, token=new.token, key_hash=new.key_hash,
                           created_at=now, updated_at=now, state_since=now, seq=2, queued_at=now)
        received = audit_entry(now, "", State.RECEIVED, attempt=0, reason="", seq=1)
        queued = audit_entry(now, State.RECEIVED, State.QUEUED, attempt=0, reason="", seq=2)
        row_values = ", ".join(["%s"] * 11)
        with self._transaction() as cur:
            cur.execute(
                f"WITH created AS (INSERT INTO orders ({', '.join(COLUMNS)}, fingerprint) "
                f"VALUES ({', '.join(['%s'] * (len(COLUMNS) + 1))}) ON CONFLICT (key_hash) DO NOTHING RETURNING ref), "
                "sealed AS (INSERT INTO envelopes (ref, sealed) SELECT ref, %s FROM created), "
                f"audited AS (INSERT INTO audit ({AUDIT_COLUMNS}) SELECT * FROM (VALUES ({row_values}), "
                f"({row_values})) AS lines ({AUDIT_COLUMNS}) WHERE EXISTS (SELECT 1 FROM created)), "
                "outboxed AS (INSERT INTO outbox (ref, kind, created_at) SELECT ref, 'dispatch', %s FROM created) "
                "SELECT ref FROM created",
                [*_values(record), new.fingerprint, new.sealed, *_audit_values(ref, received),
                 *_audit_values(ref, queued), now],
            )
            if cur.fetchone() is not None:
                return ref, True
            cur.execute("SELECT ref, fingerprint FROM orders WHERE key_hash = %s", (new.key_hash,))
            found = cur.fetchone()
        if found is None:
            raise LedgerUnavailable("the order of this idempotency key vanished; retry")
        if found["fingerprint"] != new.fingerprint:
            raise IdempotencyConflict()
        return str(found["ref"]), False

    def accept_paid(self, paid: PaidOrder) -> tuple[str, bool]:
        return _retried(lambda: self._accept_paid(paid))  # keyed by the session: a retry finds the first commit

    def _accept_paid(self, paid: PaidOrder) -> tuple[str, bool]:
        """One transaction: the draft's row locked (`FOR UPDATE`: a concurrent delivery of the same session
        waits here, then finds the order), the order inserted unless its key hash is there (queued with the
        draft's envelope and its outbox row, or failed/draft_expired without them), the draft deleted."""
        check_draft_id(paid.draft_id)
        with self._transaction() as cur:
            cur.execute("SELECT ref, fingerprint FROM orders WHERE key_hash = %s", (paid.key_hash,))
            found = cur.fetchone()
            created = False
            if found is None:
                cur.execute("SELECT sealed, expires_at FROM drafts WHERE id = %s FOR UPDATE", (paid.draft_id,))
                draft = cur.fetchone()
                now = self.clock()
                usable = draft is not None and draft["expires_at"] > now
                ref = new_ref()
                created = self._insert_paid(cur, ref, paid, bytes(draft["sealed"]) if draft and usable else None, now)
                if not created:  # a concurrent delivery of the same session committed first
                    cur.execute("SELECT ref, fingerprint FROM orders WHERE key_hash = %s", (paid.key_hash,))
                    found = cur.fetchone()
                    if found is None:
                        raise LedgerUnavailable("the order of this checkout session vanished; retry")
            if found is not None:
                if found["fingerprint"] != paid.fingerprint:
                    raise IdempotencyConflict()
                ref = str(found["ref"])
            cur.execute("DELETE FROM drafts WHERE id = %s", (paid.draft_id,))
        return ref, created

    def _insert_paid(self, cur: psycopg.Cursor[dict[str, Any]], ref: str, paid: PaidOrder, sealed: bytes | None,
                     now: float) -> bool:
        target = State.QUEUED if sealed is not None else State.FAILED
        reason = "" if sealed is not None else DRAFT_EXPIRED
        record = JobRecord(ref=ref, state=target.value, token=paid.token, key_hash=paid.key_hash, created_at=now,
                           updated_at=now, state_since=now, seq=2, queued_at=now if sealed is not None else 0.0,
                           reason=reason, payment_intent=paid.payment_intent)
        received = audit_entry(now, "", State.RECEIVED, attempt=0, reason="", seq=1)
        second = audit_entry(now, State.RECEIVED, target, attempt=0, reason=reason, seq=2,
                             detail=paid_audit_detail(paid))
        row_values = ", ".join(["%s"] * 11)
        cur.execute(
            f"WITH created AS (INSERT INTO orders ({', '.join(COLUMNS)}, fingerprint, draft_id) "
            f"VALUES ({', '.join(['%s'] * (len(COLUMNS) + 2))}) ON CONFLICT (key_hash) DO NOTHING RETURNING ref), "
            "sealed AS (INSERT INTO envelopes (ref, sealed) SELECT ref, %s FROM created WHERE %s), "
            f"audited AS (INSERT INTO audit ({AUDIT_COLUMNS}) SELECT * FROM (VALUES ({row_values}), "
            f"({row_values})) AS lines ({AUDIT_COLUMNS}) WHERE EXISTS (SELECT 1 FROM created)), "
            "outboxed AS (INSERT INTO outbox (ref, kind, created_at) SELECT ref, 'dispatch', %s FROM created "
            "WHERE %s) SELECT ref FROM created",
            [*_values(record), paid.fingerprint, paid.draft_id, sealed or b"", sealed is not None,
             *_audit_values(ref, received), *_audit_values(ref, second), now, sealed is not None],
        )
        return cur.fetchone() is not None

    def order_of_draft(self, draft_id: str) -> str | None:
        rows = self._read("SELECT ref FROM orders WHERE draft_id = %s ORDER BY created_at LIMIT 1",
                          (check_draft_id(draft_id),))
        return str(rows[0]["ref"]) if rows else None

    def get(self, ref: str) -> JobRecord:
        rows = self._read(f"SELECT {SELECT_RECORD} FROM orders WHERE ref = %s", (check_ref(ref),))
        if not rows:
            raise JobError(f"unknown order ref {ref}")
        return _record(rows[0])

    def records(self, state: State | None = None) -> list[JobRecord]:
        if state is None:
            rows = self._read(f"SELECT {SELECT_RECORD} FROM orders ORDER BY ref")
        else:
            rows = self._read(f"SELECT {SELECT_RECORD} FROM orders WHERE state = %s ORDER BY ref", (str(state),))
        return [_record(row) for row in rows]

    def corrupt(self) -> dict[str, float]:
        """Rows are typed and checked by the database: none can be half-written."""
        return {}

    def audit(self, ref: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT entry FROM audit WHERE ref = %s ORDER BY id", (check_ref(ref),))
        return [dict(row["entry"]) for row in rows]

    def read_envelope(self, ref: str) -> bytes:
        rows = self._read("SELECT sealed FROM envelopes WHERE ref = %s", (check_ref(ref),))
        if not rows:
            raise EnvelopeError(f"{ref}: envelope missing")
        return bytes(rows[0]["sealed"])

    # drafts (issue 14) -----------------------------------------------------------------------------
    def save_draft(self, draft: Draft) -> None:
        with self._transaction() as cur:
            cur.execute("INSERT INTO drafts (id, sealed, created_at, expires_at) VALUES (%s, %s, %s, %s)",
                        (check_draft_id(draft.id), draft.sealed, draft.created_at, draft.expires_at))

    def get_draft(self, draft_id: str) -> Draft | None:
        rows = self._read("SELECT id, sealed, created_at, expires_at FROM drafts WHERE id = %s",
                          (check_draft_id(draft_id),))
        if not rows:
            return None
        row = rows[0]
        return Draft(id=row["id"], sealed=bytes(row["sealed"]), created_at=row["created_at"],
                     expires_at=row["expires_at"])

    def delete_draft(self, draft_id: str) -> None:
        with self._transaction() as cur:
            cur.execute("DELETE FROM drafts WHERE id = %s", (check_draft_id(draft_id),))

    def sweep_drafts(self, now: float) -> list[str]:
        with self._transaction() as cur:
            cur.execute("DELETE FROM drafts WHERE expires_at <= %s RETURNING id", (now,))
            return sorted(row["id"] for row in cur.fetchall())

    @contextmanager
    def owned(self, ref: str, attempt: int | None = None, *, timeout: float = 30.0) -> Iterator[PostgresOwned]:
        check_ref(ref)
        with self._transaction() as cur:
            if attempt is None:
                cur.execute(f"SELECT {SELECT_RECORD} FROM orders WHERE ref = %s FOR UPDATE", (ref,))
            else:
                cur.execute(f"SELECT {SELECT_RECORD} FROM orders WHERE ref = %s AND attempts = %s "
                            "AND state = 'running' FOR UPDATE", (ref, attempt))
            row = cur.fetchone()
            if row is None:
                if attempt is not None:
                    raise LeaseLost(f"{ref}: attempt {attempt} no longer holds the order")
                raise JobError(f"unknown order ref {ref}")
            yield PostgresOwned(self, cur, _record(row))

    @contextmanager
    def next_due(self, now: float, only_ref: str | None = None) -> Iterator[PostgresOwned | None]:
        only = "AND ref = %s" if only_ref else ""
        params: list[Any] = [now, *([check_ref(only_ref)] if only_ref else [])]
        with self._transaction() as cur:
            cur.execute(f"SELECT {SELECT_RECORD} FROM orders WHERE {DUE_STATES} AND {DUE_AT} <= %s {only} "
                        f"ORDER BY {DUE_AT} LIMIT 1 FOR UPDATE SKIP LOCKED", params)
            row = cur.fetchone()
            yield None if row is None else PostgresOwned(self, cur, _record(row))

    def count_due(self, now: float) -> int:
        rows = self._read(f"SELECT count(*) AS n FROM orders WHERE {DUE_STATES} AND {DUE_AT} <= %s", (now,))
        return int(rows[0]["n"])

    def reconcile_candidates(self, now: float, include_queued: bool) -> list[str]:
        rows = self._read(
            f"SELECT ref FROM orders WHERE {DUE_STATES} AND state <> 'queued' AND {DUE_AT} <= %s "
            "UNION SELECT ref FROM orders WHERE %s AND (state = 'queued' OR (state = 'running' AND run_id <> 0)) "
            "UNION SELECT e.ref FROM envelopes e JOIN orders o USING (ref) "
            "WHERE o.state IN ('published', 'taken_down', 'refunded') ORDER BY ref",
            (now, include_queued),
        )
        return [str(row["ref"]) for row in rows]

    def refund_candidates(self, now: float, failed_before: float | None) -> list[str]:
        """`JobRecord.refund_due` as one query on the orders_refundable index (paid orders in failed or held)."""
        rows = self._read(
            "SELECT ref FROM orders WHERE state IN ('failed', 'held') AND payment_intent <> '' "
            "AND refund_next_at <= %s AND (refund_attempts > 0 OR (state = 'failed' "
            "AND (reason = %s OR state_since <= %s))) ORDER BY state_since, ref",
            (now, DRAFT_EXPIRED, float("-inf") if failed_before is None else failed_before),
        )
        return [str(row["ref"]) for row in rows]

    def unsettled_refunds(self) -> list[str]:
        """Refunded orders whose refund is still pending at Stripe (the orders_refund_unsettled index)."""
        rows = self._read("SELECT ref FROM orders WHERE state = 'refunded' AND refund_status IN (%s, %s) "
                          "ORDER BY state_since, ref", REFUND_UNSETTLED)
        return [str(row["ref"]) for row in rows]

    def sweep(self, now: float) -> list[str]:
        """A transaction leaves nothing behind when its writer dies: nothing to sweep."""
        return []

    def figures(self, now: float) -> LedgerFigures:
        return with_dispatchers(_figures(self, now), self.dispatcher_states(), now)

    @contextmanager
    def dispatcher(self, name: str) -> Iterator[PostgresDispatcherSlot | None]:
        """The dispatcher's row under a transaction-scoped advisory lock; None at once when another holds it.
        Each `save` commits at once (autocommit), so a dispatch is on record before the next one is sent."""
        with database_errors(), self._pool.connection() as conn:
            conn.autocommit = True
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(hashtext('dispatcher:' || %s)) AS got",
                                   (name,)).fetchone()
                if not row or not row["got"]:
                    yield None
                    return
                try:
                    found = conn.execute("SELECT state FROM dispatcher_state WHERE name = %s", (name,)).fetchone()
                    yield PostgresDispatcherSlot(self, conn, name, dict(found["state"]) if found else {})
                finally:
                    conn.execute("SELECT pg_advisory_unlock(hashtext('dispatcher:' || %s))", (name,))
            finally:
                conn.autocommit = False

    def dispatcher_states(self) -> dict[str, dict[str, Any]]:
        rows = self._read("SELECT name, state FROM dispatcher_state ORDER BY name")
        return {str(row["name"]): dict(row["state"]) for row in rows}


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every pooled connection: a row lock is never waited on for ever."""
    conn.autocommit = True
    conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    conn.autocommit = False


def _describe(url: str) -> str:
    """user@host:port/dbname, without the password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise JobError("GIFT_LEDGER_URL is not a valid postgresql:// URL") from None
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _distribution(row: dict[str, Any]) -> Distribution:
    return Distribution(int(row["n"] or 0), float(row["p50"] or 0.0), float(row["p95"] or 0.0),
                        float(row["max"] or 0.0))


def _stats(column: str) -> str:
    """count / p50 / p95 / max of non-negative values, nearest rank (percentile_disc), like Distribution.of."""
    keep = f"FILTER (WHERE {column} >= 0)"
    return (f"count({column}) {keep} AS n, percentile_disc(0.5) WITHIN GROUP (ORDER BY {column}) {keep} AS p50, "
            f"percentile_disc(0.95) WITHIN GROUP (ORDER BY {column}) {keep} AS p95, max({column}) {keep} AS max")


def _figures(ledger: PostgresLedger, now: float) -> LedgerFigures:
    read = ledger._read
    by_state = {str(r["state"]): int(r["n"]) for r in read("SELECT state, count(*) AS n FROM orders GROUP BY state")}
    attempts_rows = read("SELECT attempts, count(*) AS n FROM orders GROUP BY attempts ORDER BY attempts")
    attention_states = tuple(str(s) for s in NEEDS_ATTENTION)
    attention = [
        attention_item(str(r["ref"]), str(r["state"]), str(r["reason"]), str(r["last_error"]), int(r["attempts"]),
                       max(0.0, now - float(r["state_since"])), int(r["refund_attempts"]), str(r["refund_error"]),
                       str(r["refund_status"]))
        for r in read("SELECT ref, state, reason, last_error, attempts, state_since, refund_attempts, refund_error, "
                      "refund_status FROM orders "
                      "WHERE state = ANY(%s) OR (state = 'running' AND lease_until <= %s) "
                      "OR (state = 'retry_wait' AND reason = %s) "
                      "OR (state = 'refunded' AND refund_status = ANY(%s)) ORDER BY state_since, ref",
                      (list(attention_states), now, STORAGE_FULL, list(REFUND_LOST)))
    ]
    queue = read(f"SELECT {_stats('queue_wait_s')} FROM audit WHERE to_state = 'running'")[0]
    e2e = read(f"SELECT {_stats('end_to_end_s')} FROM audit WHERE to_state = 'published'")[0]
    failures = read("SELECT coalesce(nullif(reason, ''), 'unknown') AS reason, count(*) AS n FROM audit "
                    f"WHERE from_state = 'running' AND to_state IN {FAILURE_TARGETS} GROUP BY 1")
    errors = read("SELECT stage, provider, coalesce(nullif(reason, ''), 'unknown') AS reason, count(*) AS n "
                  f"FROM audit WHERE from_state = 'running' AND to_state IN {FAILURE_TARGETS} "
                  "AND coalesce(stage, '') <> '' AND coalesce(provider, '') <> '' GROUP BY 1, 2, 3")
    stage_rows = ", ".join(f"('{stage}', a.{stage}_provider, a.{stage}_s)" for stage in STAGES)
    samples = read(
        f"SELECT stage, provider, count(*) AS calls, count(failed) AS failures, {_stats('s')} FROM ("
        "SELECT stage, provider, provider_s AS s, 1 AS failed FROM audit "
        f"WHERE from_state = 'running' AND to_state IN {FAILURE_TARGETS} "
        "AND coalesce(stage, '') <> '' AND coalesce(provider, '') <> '' "
        # one pass over the published rows: each gives one sample per stage it timed
        "UNION ALL SELECT v.stage, coalesce(v.provider, 'unknown'), v.s, NULL FROM audit a "
        f"CROSS JOIN LATERAL (VALUES {stage_rows}) AS v (stage, provider, s) "
        "WHERE a.to_state = 'published' AND v.s IS NOT NULL"
        ") AS samples GROUP BY stage, provider"
    )
    this_hour = int(now // 3600) * 3600
    hours = read("SELECT floor(t / 3600)::bigint AS hour, count(*) AS n FROM audit "
                 "WHERE to_state = 'published' AND t >= %s GROUP BY 1", (this_hour - 23 * 3600,))
    total = read("SELECT count(*) AS orders, coalesce(sum(attempts), 0) AS attempts, "
                 "coalesce(sum(greatest(attempts - 1, 0)), 0) AS retries, "
                 "count(*) FILTER (WHERE (state IN ('failed', 'held') AND refund_attempts > 0) "
                 "OR (state = 'refunded' AND refund_status = ANY(%s))) AS refunds_failing "
                 "FROM orders", (list(REFUND_LOST),))[0]
    refunded = read("SELECT count(*) AS n FROM audit WHERE to_state = 'refunded' AND t >= %s",
                    (now - REFUNDS_WINDOW_S,))[0]

    provider_errors: dict[tuple[str, str], dict[str, int]] = {}
    for r in sorted(errors, key=lambda r: (str(r["reason"]))):
        provider_errors.setdefault((str(r["stage"]), str(r["provider"])), {})[str(r["reason"])] = int(r["n"])
    providers = [
        ProviderStats(stage=str(r["stage"]), provider=str(r["provider"]), calls=int(r["calls"]),
                      failures=int(r["failures"]), latency=_distribution(r),
                      errors=provider_errors.get((str(r["stage"]), str(r["provider"])), {}))
        for r in sorted(samples, key=lambda r: (str(r["stage"]), str(r["provider"])))
    ]
    published_hours = {time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(int(r["hour"]) * 3600)): int(r["n"])
                       for r in hours}
    return LedgerFigures(
        generated_at=now,
        orders=int(total["orders"]),
        by_state=dict(sorted(by_state.items())),
        attention=sorted(attention, key=lambda item: -item.age_s),
        attempts_per_order={int(r["attempts"]): int(r["n"]) for r in attempts_rows},
        retries=int(total["retries"]),
        failures_by_reason=dict(sorted(((str(r["reason"]), int(r["n"])) for r in failures),
                                       key=lambda kv: (-kv[1], kv[0]))),
        providers=providers,
        queue_latency=_distribution(queue),
        end_to_end=_distribution(e2e),
        published_per_hour=hourly_series(Counter(published_hours), now),
        attempts_total=int(total["attempts"]),
        refunds_last_24h=int(refunded["n"]),
        refunds_failing=int(total["refunds_failing"]),
    )

