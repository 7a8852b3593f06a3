"""The intake's Dockerfile, checked without a Docker daemon: a small parser reads its instructions (hadolint is
not served here) and the test runs the same entry point and health check the image runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAMES = ("GIFT_LEDGER_URL", "GIFT_ENVELOPE_KEY", "GIFT_WEBHOOK_SECRET", "GIFT_DISPATCH_TOKEN", "TOKEN",
                "PASSWORD", "_KEY")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, `\\` continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    assert not pending, "a continuation runs off the end of the Dockerfile"
    return found


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def parsed() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def test_the_parser_reads_continuations_and_skips_comments() -> None:
    text = "# c\nFROM a\nRUN x \\\n && y\n\nUSER 1\n"
    assert instructions(text) == [("FROM", "a"), ("RUN", "x  && y"), ("USER", "1")]


def test_a_slim_python_base_a_non_root_user_and_no_git_or_ssh() -> None:
    steps = parsed()
    (base,) = [args for keyword, args in steps if keyword == "FROM"]
    assert base.startswith("python:3.") and base.endswith("-slim")
    keywords = [keyword for keyword, _ in steps]
    user_at = keywords.index("USER")
    assert steps[user_at][1] not in ("root", "0") and "RUN" not in keywords[user_at:]  # nothing runs as root after
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "--require-hashes" in runs and "useradd" in runs
    for tool in ("git", "ssh", "openssh", "apt-get"):
        assert tool not in shlex.split(runs), f"the intake image installs {tool}"


def test_settings_come_from_the_environment_and_no_secret_is_baked_in() -> None:
    for keyword, args in parsed():
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not any(name in args for name in SECRET_NAMES), f"{keyword} {args}"
    for keyword, args in parsed():
        if keyword == "COPY":
            *sources, _target = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert not source.startswith((".data", ".git", "tests")), source


def test_healthcheck_asks_healthz() -> None:
    (check,) = [args for keyword, args in parsed() if keyword == "HEALTHCHECK"]
    options, _, command = check.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert "/healthz" in " ".join(exec_form(command))


def entry_point() -> list[str]:
    steps = dict(parsed())
    return exec_form(steps["ENTRYPOINT"]) + exec_form(steps["CMD"])


def test_the_image_s_entry_point_serves_the_intake_and_its_health_check_passes(tmp_path: Path) -> None:
    argv = entry_point()
    assert argv[:3] == ["python", "-m", "builder"] and argv[3:5] == ["intake", "serve"]
    assert "--ledger" not in argv  # the ledger comes from GIFT_LEDGER_URL
    # the same command, on 127.0.0.1 and a free port (tests never listen elsewhere)
    local = [sys.executable, *argv[1:]]
    local[local.index("--host") + 1] = "127.0.0.1"
    local[local.index("--port") + 1] = "0"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "GIFT_LEDGER_URL": str(tmp_path / "ledger"), "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(),
           "GIFT_WEBHOOK_SECRET": "whsec_docker"}
    proc = subprocess.Popen(local, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "intake listening on" in line, line
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        url = line.split()[-1]
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        (check,) = [args for keyword, args in parsed() if keyword == "HEALTHCHECK"]
        command = exec_form(check.partition("CMD ")[2])
        command = [sys.executable, *(part.replace("http://127.0.0.1:8080", url) for part in command[1:])]
        assert subprocess.run(command, env=env, timeout=30).returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
