"""What a user sees when the machine fails them, through the real CLI (`python -m builder …` as a process):
a non-zero exit and one clear line naming what failed, where, and what to do; never a Python traceback.

Storage failures are real kernel errors, not injected exceptions: the command runs under a file size limit
(RLIMIT_FSIZE, what `ulimit -f` sets), so write(2) fails with EFBIG exactly where a full disk fails with
ENOSPC; a ledger path under a plain file fails with ENOTDIR. Both work for any user, root included."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from builder.jobs.folder_ledger import FolderLedger as Ledger
from builder.jobs.states import State

ROOT = Path(__file__).resolve().parents[1]
ORDER = ROOT / "examples" / "order-maya.json"


@pytest.fixture
def env() -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_")}
    found.update({"GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(), "GIFT_C2PA": "off", "PYTHONPATH": str(ROOT),
                  "CI": "true"})
    return found


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def cli(env: dict[str, str], *args: str, max_file_bytes: int | None = None, cwd: Path = ROOT,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builder", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, preexec_fn=None if max_file_bytes is None else file_size_limit(max_file_bytes),
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr, starting `error:`, and no traceback anywhere."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def submitted(env: dict[str, str], ledger: Path) -> str:
    done = cli(env, "gift", "submit", str(ORDER), "--ledger", str(ledger))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".staging-"))


# --- a full or unusable ledger -----------------------------------------------------------------------------


def test_submit_on_a_full_ledger_fails_in_one_line_and_leaves_nothing_half_written(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ledger = tmp_path / "ledger"
    line = one_error_line(cli(env, "gift", "submit", str(ORDER), "--ledger", str(ledger), max_file_bytes=0))
    assert "File too large" in line and str(ledger) in line and "free space" in line
    assert leftovers(ledger) == []
    assert Ledger(ledger).records() == []


def test_submit_with_a_ledger_path_under_a_file_fails_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "plain-file").write_text("not a folder")
    ledger = tmp_path / "plain-file" / "ledger"
    line = one_error_line(cli(env, "gift", "submit", str(ORDER), "--ledger", str(ledger)))
    assert "Not a directory" in line and "plain-file" in line


def test_reconcile_on_a_full_ledger_fails_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    ledger = tmp_path / "ledger"
    ref = submitted(env, ledger)
    book = Ledger(ledger)
    with book.lock(ref):  # a worker died while running it: its lease ran out, reconcile must write
        record = book.transition(book.get(ref), State.RUNNING, attempts=1, lease_owner="gone",
                                 lease_expires_at=book.clock() - 60)
    line = one_error_line(cli(env, "gift", "reconcile", "--ledger", str(ledger), max_file_bytes=0))
    assert "File too large" in line and str(ledger) in line
    assert book.get(ref) == record  # nothing was half-changed
    assert leftovers(ledger) == []


def test_work_fails_when_its_worker_cannot_write_the_ledger(tmp_path: Path, env: dict[str, str]) -> None:
    ledger, out = tmp_path / "ledger", tmp_path / "site"
    ref = submitted(env, ledger)
    done = cli(env, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out), max_file_bytes=0)
    line = one_error_line(done)
    assert "a worker stopped" in line and "File too large" in line and str(ledger) in line
    assert "nothing due" not in done.stdout
    assert Ledger(ledger).get(ref).state == State.QUEUED  # untouched: the next run takes it


# --- output on a full disk ---------------------------------------------------------------------------------


def test_a_full_output_disk_waits_without_spending_attempts_and_ops_shows_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ledger, out = tmp_path / "ledger", tmp_path / "site"
    env.update({"GIFT_MAX_ATTEMPTS": "1", "GIFT_RETRY_BASE_S": "600"})
    ref = submitted(env, ledger)
    # ledger files stay under a few KB; the song and the cover art are far larger: only the output hits the limit
    assert max(p.stat().st_size for p in ledger.rglob("*") if p.is_file()) < 4096
    done = cli(env, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out),
               max_file_bytes=16 * 1024)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    status = json.loads(cli(env, "gift", "status", ref, "--json", "--ledger", str(ledger)).stdout)
    assert status["state"] == "retry_wait" and status["reason"] == "storage_full"
    assert leftovers(out) == [] and leftovers(ledger) == []
    summary = cli(env, "ops", "summary", "--ledger", str(ledger)).stdout
    attention = summary.split("needs attention:")[1]
    assert ref in attention and "storage_full" in attention
    # space is back and the wait is over: the one allowed attempt was not spent on the full disk
    book = Ledger(ledger)
    with book.lock(ref):
        book.update(book.get(ref), next_attempt_at=book.clock())
    done = cli(env, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(cli(env, "gift", "status", ref, "--json", "--ledger", str(ledger)).stdout)["state"] == \
        "published"


# --- a reader that goes away (`| head`) --------------------------------------------------------------------


def closed_pipe_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader has already gone, as `| head -1` leaves it once head exits."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "builder", *args], cwd=ROOT, env=env, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [["ops", "summary"], ["gift", "status", "REF"], ["gift", "list"]],
                         ids=["ops-summary", "gift-status", "gift-list"])
def test_output_into_a_closed_pipe_stops_quietly(tmp_path: Path, env: dict[str, str], argv: list[str]) -> None:
    ledger = tmp_path / "ledger"
    ref = submitted(env, ledger)
    done = closed_pipe_run(env, *[ref if a == "REF" else a for a in argv], "--ledger", str(ledger))
    assert done.returncode == 141  # what a shell reports for a tool that SIGPIPE ended
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr
    assert "order(s)" in done.stderr or done.stderr == ""


def test_gift_list_into_head_stops_quietly(tmp_path: Path, env: dict[str, str]) -> None:
    ledger = tmp_path / "ledger"
    submitted(env, ledger)
    book = Ledger(ledger)
    template = book.get(book.refs()[0])
    for n in range(3000):  # more than a pipe holds, so the writer is still writing when head leaves
        ref = f"ord_{n:016x}"
        (book.orders / f"{ref}.json").write_bytes(replace(template, ref=ref).to_json())
    pipeline = ["sh", "-c", 'python="$1"; ledger="$2"; "$python" -m builder gift list --ledger "$ledger" | head -1',
                "sh", sys.executable, str(ledger)]
    done = subprocess.run(pipeline, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("ord_") and len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


# --- a corrupt ledger record -------------------------------------------------------------------------------


def test_a_truncated_record_is_listed_as_corrupt_in_list_ops_summary_and_the_ops_page(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ledger = tmp_path / "ledger"
    good = submitted(env, ledger)
    other = tmp_path / "other.json"
    other.write_text(ORDER.read_text().replace('"idempotency_key": "', '"idempotency_key": "other-'))
    broken = cli(env, "gift", "submit", str(other), "--ledger", str(ledger)).stdout.split()[-1]
    assert broken.startswith("ord_") and broken != good
    path = ledger / "orders" / f"{broken}.json"
    path.write_bytes(path.read_bytes()[:40])  # a power cut mid-copy, a bad restore: truncated JSON

    listed = cli(env, "gift", "list", "--ledger", str(ledger))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()}
    assert rows == {good: "queued", broken: "corrupt"}
    as_json = json.loads(cli(env, "gift", "list", "--json", "--ledger", str(ledger)).stdout)
    assert {row["ref"]: row["state"] for row in as_json}[broken] == "corrupt"

    summary = cli(env, "ops", "summary", "--ledger", str(ledger)).stdout
    attention = summary.split("needs attention:")[1]
    assert broken in attention and "corrupt" in attention
    figures = json.loads(cli(env, "ops", "summary", "--json", "--ledger", str(ledger)).stdout)
    assert figures["by_state"]["corrupt"] == 1
    assert [(i["ref"], i["state"]) for i in figures["attention"]] == [(broken, "corrupt")]

    status = cli(env, "gift", "status", broken, "--ledger", str(ledger))
    assert "corrupt" in one_error_line(status)

    from tests.board_fixtures import copy_content

    board = tmp_path / "board"
    content = copy_content(board)
    built = cli(env, "build", "--content", str(content), "--out", str(board / "site"), "--ledger", str(ledger),
                cwd=board)
    assert built.returncode == 0, built.stderr
    page = (board / "site" / "ops" / "index.html").read_text()
    attention_section = page.split('id="ops-attention"')[1].split("</section>")[0]
    assert f"<code>{broken}</code>" in attention_section and "corrupt" in attention_section


# --- servers: a port in use, slow and vanishing clients ----------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another process (here: this one) is listening on."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_intake_serve_on_a_port_in_use_names_it_and_how_to_pick_another(
    tmp_path: Path, env: dict[str, str], taken_port: int
) -> None:
    env["GIFT_WEBHOOK_SECRET"] = "whsec_test"
    done = cli(env, "intake", "serve", "--port", str(taken_port), "--ledger", str(tmp_path / "ledger"), timeout=60)
    line = one_error_line(done)
    assert f"port {taken_port} on 127.0.0.1 is already in use" in line and f"--port {taken_port + 1}" in line


def test_demo_on_a_port_in_use_fails_at_once_naming_the_port_and_make_variable(
    tmp_path: Path, env: dict[str, str], taken_port: int
) -> None:
    done = cli(env, "demo", "--port", str(taken_port), "--out", str(tmp_path / "site"),
               "--ledger", str(tmp_path / "ledger"), cwd=tmp_path, timeout=60)
    line = one_error_line(done)
    assert f"port {taken_port} on 127.0.0.1 is already in use" in line
    assert f"PORT={taken_port + 1} make demo" in line
    assert not (tmp_path / "ledger").exists() and not (tmp_path / "site").exists()  # nothing was started


def test_make_demo_on_a_port_in_use_says_how_to_pick_another(env: dict[str, str], taken_port: int) -> None:
    done = subprocess.run(["make", "--no-print-directory", "demo", f"PORT={taken_port}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert f"error: port {taken_port} on 127.0.0.1 is already in use" in done.stderr
    assert f"PORT={taken_port + 1} make demo" in done.stderr


@contextmanager
def intake_process(env: dict[str, str], ledger: Path) -> Iterator[tuple[int, list[str]]]:
    """The real `intake serve` on 127.0.0.1 (port 0); yields its port and, once stopped, its stderr lines."""
    env = {**env, "GIFT_WEBHOOK_SECRET": "whsec_test"}
    process = subprocess.Popen([sys.executable, "-m", "builder", "intake", "serve", "--port", "0",
                                "--ledger", str(ledger)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while True:
            line = process.stderr.readline()
            assert line, "the intake exited before listening: " + "".join(lines)
            lines.append(line)
            if "intake listening on" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        reader = threading.Thread(target=lambda: lines.extend(process.stderr or []), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30  # bound before listening: wait until it answers
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the intake never started listening"
                time.sleep(0.05)
        yield port, lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    reader.join(timeout=10)


def test_intake_cuts_off_300_slow_clients_in_bounded_time_and_stays_up(tmp_path: Path, env: dict[str, str]) -> None:
    env.update({"GIFT_INTAKE_HEADER_TIMEOUT_S": "2", "GIFT_INTAKE_BODY_TIMEOUT_S": "2"})
    with intake_process(env, tmp_path / "ledger") as (port, log):
        slow: dict[socket.socket, str] = {}
        for n in range(300):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            if n % 2:  # slow headers: the classic slowloris
                client.sendall(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\n")
                slow[client] = "headers"
            else:  # quick headers, then the body at a byte a second
                client.sendall(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 1000\r\n\r\n{")
                slow[client] = "body"
            client.setblocking(False)
        started = time.monotonic()
        answers: dict[str, list[bytes]] = {"headers": [], "body": []}
        bound_s = 2 + 2 + 20  # both deadlines, plus slack for a loaded two-core machine
        while slow and time.monotonic() - started < bound_s:
            for client, kind in list(slow.items()):
                try:
                    received = client.recv(4096)
                except BlockingIOError:
                    with contextlib.suppress(OSError):
                        client.send(b"a" if kind == "body" else b"X")  # one more byte, a second later
                    continue
                except OSError:
                    received = b""
                answers[kind].append(received)
                client.close()
                del slow[client]
            time.sleep(1.0)
        left = len(slow)
        for client in slow:
            client.close()
        assert left == 0, f"{left} slow connections still open after {bound_s} s"
        assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers["body"])
        assert len(answers["body"]) == 150 and len(answers["headers"]) == 150
        health = socket.create_connection(("127.0.0.1", port), timeout=10)
        health.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert health.recv(4096).startswith(b"HTTP/1.1 200")
        health.close()
    text = "".join(log)
    assert "Traceback" not in text and "ERROR" not in text
    assert "request headers not complete after 2 s" in text and "request body not complete after 2 s" in text


def test_a_client_that_leaves_mid_body_is_one_info_line(tmp_path: Path, env: dict[str, str]) -> None:
    with intake_process(env, tmp_path / "ledger") as (port, log):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"half\": ")
        time.sleep(0.5)  # the app is reading the body when the client goes
        client.close()
        deadline = time.monotonic() + 20
        while "client disconnected" not in "".join(log) and time.monotonic() < deadline:
            time.sleep(0.1)
    text = "".join(log)
    disconnects = [line for line in text.splitlines() if "client disconnected" in line]
    assert len(disconnects) == 1 and disconnects[0].startswith("INFO:")
    assert "Traceback" not in text and "ERROR" not in text
    assert Ledger(tmp_path / "ledger").refs() == []


# --- what a killed worker leaves behind --------------------------------------------------------------------

KILLED_AT = {
    # SIGKILL the real `gift work` process at one point of the real code path, as `kill -9` would
    "go-live": "import builder.gifts.publisher as p\np._move_into_place = lambda *a, **k: die()\n",
    "record-rename": "real = os.replace\n"
                     "os.replace = lambda src, dst, **k: die() if os.path.basename(src).startswith('.ord_') "
                     "else real(src, dst, **k)\n",
}


def killed_worker(env: dict[str, str], at: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = ("import os, runpy, signal, sys\n"
            "def die(): os.kill(os.getpid(), signal.SIGKILL)\n"
            f"{KILLED_AT[at]}"
            f"sys.argv = ['builder', *{list(args)!r}]\n"
            "runpy.run_module('builder', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done


def test_reconcile_sweeps_what_killed_workers_left_and_spares_a_live_writer(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ledger, out = tmp_path / "ledger", tmp_path / "site"
    env.update({"GIFT_LEASE_S": "0.5", "GIFT_RETRY_BASE_S": "0"})  # a timed-out attempt is due again at once
    first = submitted(env, ledger)
    killed_worker(env, "go-live", "gift", "work", "--until-idle", "--ref", first, "--ledger", str(ledger),
                  "--out", str(out))
    second_order = tmp_path / "second.json"
    second_order.write_text(ORDER.read_text().replace('"idempotency_key": "', '"idempotency_key": "second-'))
    second = cli(env, "gift", "submit", str(second_order), "--ledger", str(ledger)).stdout.split()[-1]
    killed_worker(env, "record-rename", "gift", "work", "--until-idle", "--ref", second, "--ledger", str(ledger),
                  "--out", str(out))
    assert [name.startswith(".staging-") for name in leftovers(out)] == [True]
    assert [name.startswith(f".{second}.json.") for name in leftovers(ledger)] == [True]

    # a live writer: another process holds an idempotency key's lock while its temporary file exists
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
         "from builder.jobs.folder_ledger import FolderLedger\n"
         f"book = FolderLedger(Path({str(ledger)!r}))\n"
         "with book.key_lock('abc123'):\n"
         "    (book.keys / '.abc123.json.livewriter.tmp').write_text('{')\n"
         "    print('ready', flush=True)\n"
         "    sys.stdin.read()\n"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        time.sleep(0.6)  # the killed worker's lease runs out
        done = cli(env, "gift", "reconcile", "--ledger", str(ledger), "--out", str(out))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert leftovers(out) == []
        assert leftovers(ledger) == [".abc123.json.livewriter.tmp"]  # in use: kept
        assert "staging folder" in done.stdout and "left by a killed writer" in done.stdout
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    done = cli(env, "gift", "reconcile", "--ledger", str(ledger), "--out", str(out))
    assert leftovers(ledger) == []  # its writer is gone now: stale after all
    # both orders still get their one gift
    work = cli(env, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out))
    assert work.returncode == 0, work.stderr
    states = {row["ref"]: row["state"] for row in
              json.loads(cli(env, "gift", "list", "--json", "--ledger", str(ledger)).stdout)}
    assert states == {first: "published", second: "published"}
