"""A throwaway PostgreSQL cluster for the tests: Debian's server, started in a temp folder, never a service.

`initdb` and `postgres` refuse to run as root (CI runs as root), so as root the cluster runs as the
`postgres` user the Debian package creates (`runuser -u postgres --`), in a folder that user owns. It
listens on a free loopback port and keeps its socket in its own folder; `stop()` drops it all.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from builder.jobs.migrate import migrate

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
TEMPLATE = "giftboard_template"
_names = itertools.count(1)


def pg_bin() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name)
                   if p.parent.name.isdigit() else 0)
    found = [p for p in found if (p / "initdb").exists() and (p / "pg_ctl").exists()]
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    bin: Path
    root: Path
    port: int
    as_postgres: bool
    durable: bool = False  # fsync on (benchmarks); tests turn it off: a killed server still loses nothing
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "server.log"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}\n{tail}")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        speed = "" if self.durable else "-c fsync=off -c full_page_writes=off "
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {speed}"
                   "-c max_connections=300 -c shared_buffers=128MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def restart_immediate(self) -> None:
        """What a crash of the database looks like to its clients: every connection cut, then recovery."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")
        self.start()

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh database on the latest schema (a copy of a migrated template); returns its URL."""
        name = f"giftboard_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return self.url(name)

    def prepare_template(self) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate(self.url(TEMPLATE))


def start_cluster(*, durable: bool = False, parent: Path | None = None) -> Cluster:
    """initdb + pg_ctl start in a fresh temp folder (under `parent`); raises FileNotFoundError when no server
    is installed."""
    binary = pg_bin()
    if binary is None:
        raise FileNotFoundError("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="giftboard-pg-", dir=parent))
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(binary, root, free_port(), as_postgres, durable)
    try:
        cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                     "--locale=C", "--no-sync")
        for attempt in range(5):
            try:
                cluster.start()
                break
            except RuntimeError:  # the port was taken between choosing and binding it
                if attempt == 4:
                    raise
                cluster.port = free_port()
                time.sleep(0.2)
        cluster.prepare_template()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster
