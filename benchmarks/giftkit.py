"""Helpers shared by the gift benches: sample orders, the environment, and the `gift`/`intake` commands."""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import NotAvailable, Ran, python_path, run_timed, tail

OCCASIONS = ("birthday", "anniversary", "wedding", "graduation", "thank-you", "new-baby", "retirement")
GENRES = ("pop", "folk", "rock", "jazz", "acoustic", "country", "lullaby", "hip-hop")
MOODS = ("warm", "joyful", "tender", "nostalgic", "playful", "epic")
TEMPOS = ("slow", "medium", "fast")
NAMES = ("Maya", "Ines", "Tom", "Aiko", "Olu", "Grace", "Luca", "Noor")
SURNAMES = ("Abernathy", "Okonkwo", "Lindqvist", "Marchetti", "Takahashi", "Delacroix", "Brennan", "Szabo")


def sample_order(index: int, *, prefix: str = "bench", cover_photo: bytes | None = None) -> dict[str, Any]:
    """A valid order (DESIGN §5) with made-up private fields; deterministic per index except the key prefix."""
    name = NAMES[index % len(NAMES)]
    surname = SURNAMES[(index // len(NAMES)) % len(SURNAMES)]
    buyer = SURNAMES[(index + 3) % len(SURNAMES)]
    # no digits in private names: the guard treats every word of a private name as a needle, and a "10" would
    # match dates and sizes on the page (reported to the team; not what this bench measures)
    order: dict[str, Any] = {
        "idempotency_key": f"{prefix}_{index:05d}",
        "buyer": {"name": f"Robin {buyer}", "email": f"buyer{index}@example.org"},
        "recipient": {"display_name": name, "full_name": f"{name} {surname}"},
        "from_display_name": "Sam",
        "occasion": OCCASIONS[index % len(OCCASIONS)],
        "style": {"genre": GENRES[index % len(GENRES)], "mood": MOODS[index % len(MOODS)],
                  "tempo": TEMPOS[index % len(TEMPOS)]},
        "story": (f"{name} learned to sail on a cold lake, keeps a garden of tomatoes and sings badly in the car. "
                  "We met at a bus stop in the rain and laughed about a lost umbrella."),
        "public_message": f"Happy {OCCASIONS[index % len(OCCASIONS)].replace('-', ' ')}, {name}!",
    }
    if cover_photo is not None:
        import base64

        order["cover_photo"] = base64.b64encode(cover_photo).decode()
    return order


def cover_photo_jpeg(width: int = 1600, height: int = 1200) -> bytes:
    """A photo-like JPEG made with Pillow (gradient plus shapes), as a buyer might upload."""
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(24):
        x, y = (i * 137) % width, (i * 251) % height
        draw.ellipse((x, y, x + 180, y + 120), fill=((i * 40) % 255, (i * 90) % 255, (i * 20) % 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def gift_env(base: Path) -> dict[str, str]:
    """Offline providers (no GIFT_*_BASE_URL), local queue, a fresh envelope key and webhook secret."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFT_") and k not in ("CI", "GITHUB_ACTIONS")}
    env.update({
        "GIFT_QUEUE": "local",
        "GIFT_ENVELOPE_KEY": Fernet.generate_key().decode(),
        "GIFT_WEBHOOK_SECRET": secrets.token_hex(16),
        "PYTHONPATH": python_path(),
    })
    return env


def builder_cmd(*args: str | os.PathLike[str]) -> list[str | os.PathLike[str]]:
    return [sys.executable, "-m", "builder", *args]


def require(words: list[str], env: dict[str, str], cwd: Path, what: str) -> None:
    """NotAvailable unless `python -m builder WORDS --help` works."""
    ran = run_timed(builder_cmd(*words, "--help"), cwd=cwd, env=env, timeout=60)
    if ran.returncode != 0:
        raise NotAvailable(f"`python -m builder {' '.join(words)}` has not landed ({what})")


def require_pipeline(env: dict[str, str], cwd: Path) -> None:
    """NotAvailable unless the gift pipeline (produce_gift) and the offline providers import."""
    probe = "from builder.gifts.pipeline import produce_gift\nfrom builder.gifts.providers import select_providers\n"
    ran = run_timed([sys.executable, "-c", probe], cwd=cwd, env=env, timeout=60)
    if ran.returncode != 0:
        raise NotAvailable("the gift pipeline (builder/gifts/pipeline.py `produce_gift`, builder/gifts/providers.py) "
                           f"has not landed: {tail(ran.stderr, 1)}")


def submit(order: dict[str, Any], folder: Path, ledger: Path, env: dict[str, str]) -> tuple[str, float]:
    """`gift submit ORDER.json`: the ref (last stdout line) and the command's wall time."""
    path = folder / f"{order['idempotency_key']}.json"
    path.write_text(json.dumps(order), encoding="utf-8")
    ran = run_timed(builder_cmd("gift", "submit", path, "--ledger", ledger), cwd=folder, env=env, timeout=120)
    if ran.returncode != 0:
        raise NotAvailable(f"`gift submit` failed: {tail(ran.stderr or ran.stdout, 3)}")
    return ran.stdout.strip().splitlines()[-1].strip(), ran.seconds


def work_until_idle(ledger: Path, out: Path, env: dict[str, str], cwd: Path, workers: int) -> Ran:
    return run_timed(builder_cmd("gift", "work", "--until-idle", "--workers", str(workers), "--ledger", ledger,
                                 "--out", out), cwd=cwd, env=env, timeout=1800)


def records(ledger: Path) -> list[Any]:
    """The ledger's job records, read with the project's own Ledger class."""
    from builder.jobs.folder_ledger import FolderLedger as Ledger

    return Ledger(ledger).records()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A background process started by a bench; stopped by its own pid only."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_intake(ledger: Path, env: dict[str, str], cwd: Path) -> Service:
    import httpx

    port = free_port()
    log = cwd / "intake.log"
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [str(p) for p in builder_cmd("intake", "serve", "--host", "127.0.0.1", "--port", str(port),
                                         "--ledger", ledger)],
            cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT,
        )
    service = Service(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotAvailable(f"`intake serve` exited {process.returncode}: "
                               f"{tail(log.read_text(encoding='utf-8', errors='replace'), 3)}")
        try:
            if httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    service.stop()
    raise NotAvailable("`intake serve` did not answer /healthz within 30 s")


def start_worker(ledger: Path, out: Path, env: dict[str, str], cwd: Path, workers: int = 1) -> Service:
    log = cwd / "worker.log"
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [str(p) for p in builder_cmd("gift", "work", "--workers", str(workers), "--ledger", ledger,
                                         "--out", out)],
            cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT,
        )
    return Service(process, "", log)
