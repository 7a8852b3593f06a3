"""The production flow across machines with the ledger in one PostgreSQL database: submit on one, `gift work
--ref` on a runner, status and takedown elsewhere; no ledger branch, no deploy key, no push."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.jobs.ledger import open_ledger
from tests.support.ledgers import stored_bytes
from tests.support.postgres import Cluster


def test_production_flow_over_the_database_ledger(tmp_path: Path, postgres_cluster: Cluster) -> None:
    pytest.importorskip("builder.gifts.pipeline")
    from tests.test_gift_cli import PRIVATE, gift, valid_order, write

    database = postgres_cluster.new_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    env.update({"GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_LEDGER_URL": database,
                "GITHUB_RUN_ID": "77"})
    ref = gift(env, database, "submit", str(write(tmp_path, valid_order()))).stdout.split()[-1]

    runner = tmp_path / "runner"
    worked = gift(env, database, "work", "--ref", ref, "--until-idle", "--out", str(runner / "gifts"))
    assert worked.returncode == 0, worked.stderr
    finished = gift(env, database, "finish", ref)
    assert "| published | 1 |" in finished.stdout

    status = json.loads(gift(env, database, "status", ref, "--json").stdout)
    assert status["state"] == "published"
    page = runner / "gifts" / status["url"] / "index.html"
    assert "Maya" in page.read_text()
    ledger = open_ledger(database)
    try:
        stored = stored_bytes(ledger, with_envelopes=True)  # the envelope was deleted once published
    finally:
        ledger.close()
    for secret in PRIVATE:
        assert secret.encode() not in stored

    taken = gift(env, database, "takedown", ref, "--out", str(runner / "gifts"))
    assert taken.returncode == 0, taken.stderr
    assert "removed" in page.read_text().lower()
    assert sorted(p.name for p in page.parent.iterdir()) == ["index.html"]


def test_actions_without_object_storage_refuses_to_publish_to_the_runner_disk(tmp_path: Path) -> None:
    from builder.errors import ConfigError
    from builder.jobs.runtime import runtime
    from builder.settings import load_settings

    env = {"GITHUB_ACTIONS": "true", "GIFT_ENVELOPE_KEY": "x" * 43 + "="}
    with runtime(tmp_path / "ledger", load_settings(env)) as rt, pytest.raises(ConfigError, match="GIFT_GIFTS_URL"):
        rt.processor(tmp_path / "site")
