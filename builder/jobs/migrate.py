"""Schema migrations of the PostgreSQL ledger: numbered SQL files in builder/jobs/migrations/.

`migrate(url)` applies, in order, each file whose number is not yet in `schema_migrations`, each in its own
transaction, under an advisory lock (two deploys migrating at once apply every file once). Running it again
changes nothing. `schema_version(conn)` is what the worker and the intake check before they start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from builder.errors import JobError

MIGRATIONS_PACKAGE = "builder.jobs.migrations"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
ADVISORY_LOCK = 0x6769667462  # "giftb": one migrator at a time
CREATE_VERSIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with this code, by number; a gap or a duplicate number is a bug."""
    found = []
    for item in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _FILE.fullmatch(item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], item.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise JobError("ledger migrations must be numbered 0001, 0002, … without gaps")
    return found


def latest_version() -> int:
    return migrations()[-1].version


def migrate(url: str) -> list[str]:
    """Apply the missing migrations; return the names of those applied (empty when already up to date)."""
    import psycopg

    from builder.jobs.pg_ledger import database_errors

    applied: list[str] = []
    with database_errors(), psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))
        try:
            conn.execute(CREATE_VERSIONS)
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (migration.version, migration.name))
                applied.append(f"{migration.version:04d}_{migration.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK,))
    return applied
