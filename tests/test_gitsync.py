"""Git sync of the ledger branch against local bare repositories, with two concurrent writers."""

from __future__ import annotations

import json
import random
import subprocess
import threading
from pathlib import Path

import pytest

from builder.jobs.gitsync import GitSync, ledger_sync


def bare(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return str(path)


def remote_files(remote: str, branch: str, tmp_path: Path) -> Path:
    check = tmp_path / f"check-{random.random()}"
    subprocess.run(["git", "clone", "-q", "-b", branch, remote, str(check)], check=True)
    return check


def run_concurrently(*jobs) -> None:
    errors: list[BaseException] = []

    def wrap(job):
        try:
            job()
        except BaseException as error:  # surface failures from the threads
            errors.append(error)

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def test_two_concurrent_ledger_writers_lose_nothing(tmp_path: Path) -> None:
    remote = bare(tmp_path, "ledger.git")
    writers = [ledger_sync(remote, tmp_path / f"w{n}") for n in range(2)]

    def write(n: int) -> None:
        sync = writers[n]
        for i in range(8):
            def change(root: Path, i: int = i) -> None:
                (root / "orders").mkdir(exist_ok=True)
                (root / "audit").mkdir(exist_ok=True)
                (root / "locks").mkdir(exist_ok=True)
                (root / "locks" / "x.lock").write_text("")
                (root / "orders" / f"ord_{n}{i}.json").write_text(json.dumps({"n": n, "i": i}))
                # both writers append to one audit log and rewrite one shared record
                with (root / "audit" / "shared.jsonl").open("a") as log:
                    log.write(json.dumps({"writer": n, "i": i}) + "\n")
                (root / "orders" / "ord_shared.json").write_text(json.dumps({"last": [n, i]}))
            sync.transaction(change, f"writer {n} step {i}")

    run_concurrently(lambda: write(0), lambda: write(1))
    result = remote_files(remote, "ledger", tmp_path)
    assert sorted(p.name for p in (result / "orders").iterdir()) == sorted(
        [f"ord_{n}{i}.json" for n in range(2) for i in range(8)] + ["ord_shared.json"])
    lines = (result / "audit" / "shared.jsonl").read_text().splitlines()
    assert sorted(lines) == sorted(json.dumps({"writer": n, "i": i}) for n in range(2) for i in range(8))
    json.loads((result / "orders" / "ord_shared.json").read_text())  # no conflict markers
    assert not (result / "locks").exists()
    log = subprocess.run(["git", "-C", str(result), "log", "--format=%s"], capture_output=True, text=True).stdout
    assert log.count("step") == 16


def test_pull_sees_the_other_writer_and_keeps_unpushed_work(tmp_path: Path) -> None:
    remote = bare(tmp_path, "ledger.git")
    a, b = ledger_sync(remote, tmp_path / "a"), ledger_sync(remote, tmp_path / "b")
    a.transaction(lambda root: (root / "one.json").write_text("1"), "one")
    b.pull()
    assert (tmp_path / "b" / "one.json").read_text() == "1"
    (tmp_path / "b" / "two.json").write_text("2")  # a run died before pushing
    b.pull()
    b.push("two")
    a.pull()
    assert (tmp_path / "a" / "two.json").read_text() == "2"


def test_git_errors_never_show_credentials(tmp_path: Path) -> None:
    sync = GitSync("https://user:s3cr3t-token@127.0.0.1:9/x.git", "ledger", tmp_path / "w", retries=1)
    with pytest.raises(Exception) as error:
        sync.pull()
    assert "s3cr3t-token" not in str(error.value)


def test_production_flow_over_the_git_ledger(tmp_path: Path) -> None:
    """submit on one machine, `gift work --ref` on a runner, status and takedown elsewhere (pages: a folder)."""
    pytest.importorskip("builder.gifts.pipeline")
    from cryptography.fernet import Fernet

    from tests.test_gift_cli import PRIVATE, gift, valid_order, write

    ledger_remote = bare(tmp_path, "ledger.git")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("GIFT_")}
    env.update({"GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_LEDGER_REMOTE": ledger_remote,
                "GITHUB_RUN_ID": "77"})
    ref = gift(env, tmp_path / "intake-copy", "submit", str(write(tmp_path, valid_order()))).stdout.split()[-1]

    runner = tmp_path / "runner"
    worked = gift(env, runner / "ledger", "work", "--ref", ref, "--until-idle", "--out", str(runner / "gifts"))
    assert worked.returncode == 0, worked.stderr
    finished = gift(env, runner / "ledger", "finish", ref)
    assert "| published | 1 |" in finished.stdout

    status = json.loads(gift(env, tmp_path / "support-copy", "status", ref, "--json").stdout)
    assert status["state"] == "published"
    page = runner / "gifts" / status["url"] / "index.html"
    assert "Maya" in page.read_text()
    ledger_branch = remote_files(ledger_remote, "ledger", tmp_path)
    assert not (ledger_branch / "locks").exists()
    assert not (ledger_branch / "envelopes" / f"{ref}.bin").exists()  # deleted once published
    for path in ledger_branch.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            for secret in PRIVATE:
                assert secret.encode() not in path.read_bytes()

    taken = gift(env, tmp_path / "support-copy", "takedown", ref, "--out", str(runner / "gifts"))
    assert taken.returncode == 0, taken.stderr
    assert "removed" in (runner / "gifts" / status["url"] / "index.html").read_text().lower()
    assert sorted(p.name for p in (runner / "gifts" / status["url"]).iterdir()) == ["index.html"]


def test_intake_pushes_every_accepted_order_to_the_ledger_branch(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from cryptography.fernet import Fernet

    from builder.jobs.envelope import Envelope
    from builder.jobs.intake import create_app
    from builder.jobs.ledger import Ledger
    from builder.jobs.settings import JobSettings
    from builder.jobs.signature import HEADER, sign
    from tests.fakes.intake_server import running
    from tests.test_ledger import fake_parse, order

    remote = bare(tmp_path, "ledger.git")
    sync = ledger_sync(remote, tmp_path / "intake-copy")
    sync.pull()
    app = create_app(Ledger(tmp_path / "intake-copy"), Envelope(Fernet.generate_key()),
                     JobSettings(webhook_secret="whsec"), parse=fake_parse, after_accept=sync.push)

    def post(n: int) -> str:
        raw = order(f"pay_{n}")
        response = httpx.post(f"{url}/v1/orders", content=raw, timeout=30,
                              headers={HEADER: sign("whsec", raw), "Idempotency-Key": f"pay_{n}"})
        assert response.status_code == 202
        return response.json()["ref"]

    with running(app) as url, ThreadPoolExecutor(max_workers=6) as pool:
        refs = list(pool.map(post, range(12)))
    result = remote_files(remote, "ledger", tmp_path)
    assert sorted(p.stem for p in (result / "orders").iterdir()) == sorted(refs)
    assert sorted(p.stem for p in (result / "envelopes").iterdir()) == sorted(refs)


def test_a_stale_writer_never_moves_an_order_record_back(tmp_path: Path) -> None:
    """The intake pushes `queued` (seq 2); a run pushes `running` then `published` (seq 4); the intake's next
    push carries its stale copy with a new run id. The published record must survive, and the audit keep
    every line."""
    remote = bare(tmp_path, "ledger.git")
    intake, run = ledger_sync(remote, tmp_path / "intake"), ledger_sync(remote, tmp_path / "run")

    def record(root: Path, state: str, seq: int, **extra: object) -> None:
        (root / "orders").mkdir(exist_ok=True)
        (root / "orders" / "ord_1.json").write_text(json.dumps({"state": state, "seq": seq, **extra}))
        (root / "audit").mkdir(exist_ok=True)
        with (root / "audit" / "ord_1.jsonl").open("a") as log:
            log.write(json.dumps({"to": state, "seq": seq}) + "\n")

    intake.transaction(lambda root: record(root, "queued", 2), "accepted")
    run.transaction(lambda root: record(root, "running", 3), "running")
    run.transaction(lambda root: record(root, "published", 4), "published")
    # the intake has not pulled since: its dispatch wrote the run id into its own, older copy
    (tmp_path / "intake" / "orders" / "ord_1.json").write_text(json.dumps({"state": "queued", "seq": 2, "run_id": 7}))
    intake.push("dispatched")
    result = remote_files(remote, "ledger", tmp_path)
    assert json.loads((result / "orders" / "ord_1.json").read_text())["state"] == "published"
    states = [json.loads(line)["to"] for line in (result / "audit" / "ord_1.jsonl").read_text().splitlines()]
    assert sorted(states) == ["published", "queued", "running"]
    # a change without a transition (same seq) is this writer's to make: it wins
    run.pull()
    (tmp_path / "run" / "orders" / "ord_1.json").write_text(json.dumps({"state": "published", "seq": 4, "x": 1}))
    run.push("lease released")
    result = remote_files(remote, "ledger", tmp_path)
    assert json.loads((result / "orders" / "ord_1.json").read_text()) == {"state": "published", "seq": 4, "x": 1}
    # reconcile saw `running` (seq 3), expired its lease and wrote retry_wait (seq 4) while the run published
    # (seq 4): equal transitions, and a published order is never undone
    (tmp_path / "intake" / "orders" / "ord_1.json").write_text(json.dumps({"state": "retry_wait", "seq": 4}))
    intake.push("reconcile: lease expired")
    result = remote_files(remote, "ledger", tmp_path)
    assert json.loads((result / "orders" / "ord_1.json").read_text())["state"] == "published"


def test_actions_without_object_storage_refuses_to_publish_to_the_runner_disk(tmp_path: Path) -> None:
    from builder.errors import ConfigError
    from builder.jobs.runtime import runtime
    from builder.settings import load_settings

    env = {"GITHUB_ACTIONS": "true", "GIFT_ENVELOPE_KEY": "x" * 43 + "="}
    with runtime(tmp_path / "ledger", load_settings(env)) as rt, pytest.raises(ConfigError, match="GIFT_GIFTS_URL"):
        rt.processor(tmp_path / "site")
