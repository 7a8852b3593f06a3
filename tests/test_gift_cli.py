"""`python -m builder gift …` as a support person and the checks use it (DESIGN §10 contracts)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.cli import main
from builder.errors import GuardViolation
from builder.jobs.envelope import load_envelope
from builder.jobs.folder_ledger import FolderLedger as Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.worker import Worker
from tests.fakes.job_processor import publish_page

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = ["Jonathan Example", "jon@example.org", "Maya Example", "grew up on Larkspur Road", "pay_3PqR8xK2"]


def valid_order(key: str = "pay_3PqR8xK2") -> dict:
    return {
        "idempotency_key": key,
        "buyer": {"name": "Jonathan Example", "email": "jon@example.org"},
        "recipient": {"display_name": "Maya", "full_name": "Maya Example"},
        "from_display_name": "Jon",
        "occasion": "birthday",
        "style": {"genre": "folk", "mood": "warm", "tempo": "medium"},
        "story": "Maya grew up on Larkspur Road and loves the sea.",
        "public_message": "Happy birthday, Maya! <3",
    }


@pytest.fixture
def env() -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    found.update({"GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "PYTHONPATH": str(ROOT), "CI": "true"})
    return found


def gift(env: dict[str, str], ledger: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m builder gift …` in this process (fast) with exactly `env` as the environment."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["gift", *args, "--ledger", str(ledger)])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    done = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    for secret in PRIVATE:
        assert secret not in done.stdout and secret not in done.stderr
    return done


def write(tmp_path: Path, data: dict, name: str = "order.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_submit_as_a_real_process_prints_the_ref_last(tmp_path: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "builder", "gift", "submit", str(write(tmp_path, valid_order())),
         "--ledger", str(tmp_path / "ledger")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == Ledger(tmp_path / "ledger").refs()[0]
    for secret in PRIVATE:
        assert secret not in done.stdout + done.stderr


def test_submit_prints_the_ref_last_and_replays_to_the_same_ref(tmp_path: Path, env: dict[str, str]) -> None:
    ledger = tmp_path / "ledger"
    first = gift(env, ledger, "submit", str(write(tmp_path, valid_order())))
    assert first.returncode == 0, first.stderr
    ref = first.stdout.strip().splitlines()[-1]
    assert ref.startswith("ord_")
    again = gift(env, ledger, "submit", str(write(tmp_path, valid_order(), "same.json")))
    assert again.stdout.strip().splitlines()[-1] == ref
    assert Ledger(ledger).refs() == [ref]
    everything = b"".join(p.read_bytes() for p in ledger.rglob("*") if p.is_file() and "envelopes" not in p.parts)
    for secret in PRIVATE:
        assert secret.encode() not in everything


def test_invalid_order_prints_every_field_error_and_records_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    bad = valid_order()
    bad["occasion"] = "halloween"
    bad["style"]["tempo"] = "ludicrous"
    del bad["from_display_name"]
    bad["buyer"]["email"] = "Jonathan Example at home"
    done = gift(env, tmp_path / "ledger", "submit", str(write(tmp_path, bad)))
    assert done.returncode != 0
    for field in ("occasion", "style.tempo", "from_display_name", "buyer.email"):
        assert field in done.stderr
    assert done.stdout == ""
    assert Ledger(tmp_path / "ledger").refs() == []


def test_submit_refuses_to_invent_a_key_in_ci(tmp_path: Path, env: dict[str, str]) -> None:
    del env["GIFT_ENVELOPE_KEY"]
    done = gift(env, tmp_path / "ledger", "submit", str(write(tmp_path, valid_order())))
    assert done.returncode != 0 and "GIFT_ENVELOPE_KEY" in done.stderr
    assert Ledger(tmp_path / "ledger").refs() == []


def submit_two(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str, str]:
    ledger = tmp_path / "ledger"
    refs = [gift(env, ledger, "submit", str(write(tmp_path, valid_order(k), f"{k}.json"))).stdout.split()[-1]
            for k in ("pay_a", "pay_b")]
    return ledger, refs[0], refs[1]


def test_status_and_list_json_contracts(tmp_path: Path, env: dict[str, str]) -> None:
    ledger, published, held = submit_two(tmp_path, env)

    def processor(context):
        if context.ref == held:
            raise GuardViolation("private_value")
        return publish_page(context.out_dir, context.token, "<p>gift</p>")

    Worker(Ledger(ledger), load_envelope(env), processor, JobSettings(), tmp_path / "site").run(
        until_idle=True, poll_s=0.01)

    status = json.loads(gift(env, ledger, "status", published, "--json").stdout)
    assert {"ref", "state", "attempts", "url", "history"} <= set(status)
    assert (status["ref"], status["state"], status["attempts"]) == (published, "published", 1)
    assert status["url"] == f"gifts/{Ledger(ledger).get(published).token}/"
    assert [h["to"] for h in status["history"]] == ["received", "queued", "running", "published"]

    held_status = json.loads(gift(env, ledger, "status", held, "--json").stdout)
    assert (held_status["state"], held_status["reason"]) == ("held", "private_value")
    assert "url" not in held_status

    rows = json.loads(gift(env, ledger, "list", "--json").stdout)
    assert sorted((r["ref"], r["state"], r["attempts"]) for r in rows) == sorted(
        [(published, "published", 1), (held, "held", 1)])
    assert [r["ref"] for r in json.loads(gift(env, ledger, "list", "--state", "held", "--json").stdout)] == [held]
    assert "held" in gift(env, ledger, "status", held).stdout

    retried = gift(env, ledger, "retry", held)
    assert retried.returncode == 0 and Ledger(ledger).get(held).state == "queued"
    refused = gift(env, ledger, "retry", published)
    assert refused.returncode != 0 and "only held or failed" in refused.stderr


def test_unknown_ref_and_state_are_clear_errors(tmp_path: Path, env: dict[str, str]) -> None:
    ledger = tmp_path / "ledger"
    done = gift(env, ledger, "status", "ord_00000000")
    assert done.returncode == 1 and "unknown order ref" in done.stderr
    done = gift(env, ledger, "list", "--state", "done")
    assert done.returncode == 1 and "unknown state" in done.stderr


def test_reconcile_prints_what_it_did(tmp_path: Path, env: dict[str, str]) -> None:
    ledger, ref, _ = submit_two(tmp_path, env)
    Worker(Ledger(ledger), load_envelope(env), publish_page, JobSettings(lease_s=0.05), tmp_path,
           only_ref=ref, owner="killed").claim()
    time.sleep(0.1)  # the killed worker's lease runs out
    done = gift({**env, "GIFT_RETRY_BASE_S": "0", "GIFT_RETRY_CAP_S": "0"}, ledger, "reconcile")
    assert done.returncode == 0
    assert f"{ref}: running → retry_wait (lease expired, attempt 1)" in done.stdout
    assert f"{ref}: retry_wait → queued (retry due)" in done.stdout


def test_takedown_leaves_a_removed_page(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("builder.gifts.publisher")
    ledger, ref, _ = submit_two(tmp_path, env)
    out = tmp_path / "site"
    Worker(Ledger(ledger), load_envelope(env), lambda c: publish_page(c.out_dir, c.token, "<p>gift</p>"),
           JobSettings(), out, only_ref=ref).run(until_idle=True, poll_s=0.01)
    token = Ledger(ledger).get(ref).token
    done = gift(env, ledger, "takedown", ref, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert Ledger(ledger).get(ref).state == "taken_down"
    assert "removed" in (out / "gifts" / token / "index.html").read_text().lower()


def test_submit_work_status_takedown_with_the_real_pipeline(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("builder.gifts.pipeline")
    ledger, out = tmp_path / "ledger", tmp_path / "site"
    ref = gift(env, ledger, "submit", str(write(tmp_path, valid_order()))).stdout.split()[-1]
    worked = gift(env, ledger, "work", "--until-idle", "--workers", "2", "--out", str(out))
    assert worked.returncode == 0, worked.stderr
    assert "1 published" in worked.stdout
    status = json.loads(gift(env, ledger, "status", ref, "--json").stdout)
    assert status["state"] == "published"
    page = out / status["url"] / "index.html"
    html = page.read_text()
    assert "Maya" in html
    for secret in PRIVATE:
        assert secret not in html
    assert not Ledger(ledger).envelope_path(ref).exists()
    assert gift(env, ledger, "takedown", ref, "--out", str(out)).returncode == 0
    assert "removed" in page.read_text().lower()
    assert json.loads(gift(env, ledger, "status", ref, "--json").stdout)["state"] == "taken_down"
