"""Looking into a ledger of either backend from a test: everything it stores, as bytes, for leak checks."""

from __future__ import annotations

from builder.jobs.folder_ledger import FolderLedger
from builder.jobs.ledger import Ledger
from builder.jobs.pg_ledger import PostgresLedger

TABLES = ("orders", "audit", "outbox", "schema_migrations")


def stored_bytes(ledger: Ledger, *, with_envelopes: bool = False) -> bytes:
    """Every byte the ledger keeps (files, or every row of every table as text), envelopes aside unless asked."""
    if isinstance(ledger, FolderLedger):
        files = [p for p in ledger.root.rglob("*") if p.is_file()]
        return b"".join(p.read_bytes() for p in files if with_envelopes or p.parent != ledger.envelopes)
    assert isinstance(ledger, PostgresLedger)
    tables = [*TABLES, "envelopes", "drafts"] if with_envelopes else list(TABLES)
    with ledger._transaction() as cur:
        chunks = []
        for table in tables:
            cur.execute(f"SELECT row_to_json(tbl)::text AS row FROM {table} AS tbl")  # noqa: S608 (our table names)
            chunks += [row["row"].encode() for row in cur.fetchall()]
    return b"".join(chunks)


def has_envelope(ledger: Ledger, ref: str) -> bool:
    with ledger.owned(ref) as order:
        return order.has_envelope()


def refs(ledger: Ledger) -> list[str]:
    return [record.ref for record in ledger.records()]


def nothing_recorded(ledger: Ledger) -> bool:
    if isinstance(ledger, FolderLedger):
        return not refs(ledger) and not any(ledger.envelopes.iterdir()) and not any(ledger.keys.iterdir())
    with ledger._transaction() as cur:
        cur.execute("SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM envelopes) "
                    "+ (SELECT count(*) FROM audit) + (SELECT count(*) FROM outbox) AS n")
        row = cur.fetchone()
    return row is not None and row["n"] == 0
