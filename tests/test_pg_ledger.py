"""The PostgreSQL ledger's own guarantees: migrations, the schema check, and surviving a database restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from builder.errors import LedgerSchemaError
from builder.jobs.accept import accept_order
from builder.jobs.envelope import Envelope
from builder.jobs.migrate import latest_version, migrate
from builder.jobs.pg_ledger import PostgresLedger
from builder.jobs.states import State
from tests.support.postgres import Cluster
from tests.test_ledger import fake_parse, order

ROOT = Path(__file__).resolve().parents[1]


def empty_database(cluster: Cluster, name: str) -> str:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.url(name)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    base.update({"PYTHONPATH": str(ROOT), "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(),
                 "GIFT_WEBHOOK_SECRET": "whsec_x", **(env or {})})
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=60)


def test_gift_migrate_creates_the_schema_once_and_is_idempotent(postgres_cluster: Cluster) -> None:
    url = empty_database(postgres_cluster, "migrate_twice")
    first = cli("gift", "migrate", env={"GIFT_LEDGER_URL": url})
    assert first.returncode == 0, first.stderr
    assert "applied 0001_orders_audit_envelopes_outbox" in first.stdout
    again = cli("gift", "migrate", "--ledger", url)
    assert again.returncode == 0 and "already up to date" in again.stdout and "applied" not in again.stdout
    with psycopg.connect(url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, latest_version() + 1))


def test_worker_and_intake_refuse_an_older_schema_with_a_clear_message(postgres_cluster: Cluster) -> None:
    url = empty_database(postgres_cluster, "not_migrated")
    for command in (("gift", "work", "--until-idle"), ("intake", "serve", "--port", "0")):
        done = cli(*command, "--ledger", url)
        assert done.returncode == 1
        assert "schema version 0, this code needs" in done.stderr and "gift migrate" in done.stderr
        assert "Traceback" not in done.stderr
    with pytest.raises(LedgerSchemaError):
        PostgresLedger(url)
    migrate(url)
    PostgresLedger(url).close()


def test_a_wrong_password_or_an_unreachable_database_is_one_clear_line(postgres_cluster: Cluster) -> None:
    url = f"postgresql://giftboard:s3cret-pass@127.0.0.1:{postgres_cluster.port + 1}/nowhere?connect_timeout=2"
    done = cli("gift", "list", "--ledger", url)
    assert done.returncode == 1
    assert "ledger database unavailable" in done.stderr and "Traceback" not in done.stderr
    assert "s3cret-pass" not in done.stderr + done.stdout


def test_orders_survive_an_immediate_database_restart(postgres_cluster: Cluster) -> None:
    url = postgres_cluster.new_database()
    envelope = Envelope(Fernet.generate_key())
    ledger = PostgresLedger(url)
    try:
        ref, _ = accept_order(order("pay_restart"), ledger=ledger, envelope=envelope, parse=fake_parse)
        postgres_cluster.restart_immediate()  # every pooled connection is cut
        deadline = time.monotonic() + 20
        while True:
            try:
                assert accept_order(order("pay_restart"), ledger=ledger, envelope=envelope, parse=fake_parse) == (
                    ref, False)
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert ledger.get(ref).state == "queued"
    finally:
        ledger.close()


def test_the_board_ops_page_and_ops_summary_read_a_database_ledger(tmp_path: Path,
                                                                    postgres_cluster: Cluster) -> None:
    from builder.app.board import board_site
    from builder.site.build import BuildOptions
    from tests.board_fixtures import copy_content

    url = postgres_cluster.new_database()
    envelope = Envelope(Fernet.generate_key())
    ledger = PostgresLedger(url)
    try:
        ref, _ = accept_order(order("pay_ops"), ledger=ledger, envelope=envelope, parse=fake_parse)
        with ledger.owned(ref) as held:  # a held order: the attention list names it
            held.transition(State.RUNNING, attempts=1)
            held.transition(State.HELD, reason="verbatim_story")
    finally:
        ledger.close()
    summary = cli("ops", "summary", "--json", "--ledger", url)
    assert summary.returncode == 0, summary.stderr
    figures = json.loads(summary.stdout)
    assert figures["by_state"] == {"held": 1} and figures["attention"][0]["ref"] == ref
    out = tmp_path / "board-site"
    board_site(BuildOptions(content=copy_content(tmp_path / "board"), out=out, cache_dir=tmp_path / "cache",
                            ledger=url)).build()
    page = (out / "ops" / "index.html").read_text()
    assert ref in page and "verbatim_story" in page


def test_the_database_figures_are_the_folder_figures_of_the_same_orders(postgres_cluster: Cluster,
                                                                         tmp_path: Path) -> None:
    """`ops summary` on PostgreSQL is aggregate queries; on the same records and audit the folder's pure
    computation must give the same figures, field by field."""
    import random as random_module

    from builder.errors import GuardViolation, ProviderError
    from builder.gifts.contracts import ProviderTiming, PublishedGift
    from builder.jobs.figures import figures_from
    from builder.jobs.settings import JobSettings
    from builder.jobs.worker import JobContext, Worker

    ledger = PostgresLedger(postgres_cluster.new_database())
    envelope = Envelope(Fernet.generate_key())
    calls: dict[str, int] = {}

    def processor(context: JobContext) -> PublishedGift:
        calls[context.ref] = calls.get(context.ref, 0) + 1
        n = int(context.ref[-1], 16) % 4
        if n == 0 and calls[context.ref] < 3:
            raise ProviderError("busy", retryable=True, category="provider_5xx", provider="predictions",
                                stage="audio", seconds=0.25 * calls[context.ref])
        if n == 1:
            raise GuardViolation("verbatim_story")
        if n == 2 and calls[context.ref] == 1:
            raise ProviderError("slow", retryable=True, category="provider_timeout", provider="chat-completions",
                                stage="lyrics", seconds=3.0)
        timings = [ProviderTiming(stage="lyrics", provider="chat-completions", seconds=1.5, outcome="ok"),
                   ProviderTiming(stage="audio", provider="predictions", seconds=20.0, outcome="ok")]
        return PublishedGift(token=context.token, url_path=f"gifts/{context.token}/", files=["index.html"],
                             timings=timings)

    try:
        for n in range(24):
            accept_order(order(f"pay_fig_{n}"), ledger=ledger, envelope=envelope, parse=fake_parse)
        Worker(ledger, envelope, processor, JobSettings(lease_s=5, retry_base_s=0, retry_cap_s=0, max_attempts=5),
               tmp_path, rng=random_module.Random(1)).run(until_idle=True, workers=2, poll_s=0.01)
        now = ledger.clock()
        records = ledger.records()
        expected = figures_from(records, {r.ref: ledger.audit(r.ref) for r in records}, now)
        assert ledger.figures(now) == expected
        assert expected.providers and expected.failures_by_reason and expected.attention
    finally:
        ledger.close()
