"""moto's standalone S3 server on 127.0.0.1, started by the tests (PyPI `moto[server]`), and a boto3 client."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import missing_tool

ACCESS_KEY, SECRET_KEY, REGION = "test-access-key", "test-secret-key", "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def env(self, bucket: str, prefix: str = "site") -> dict[str, str]:
        """The settings a gift command needs to publish into `s3://bucket/prefix`."""
        return {"GIFT_GIFTS_URL": f"s3://{bucket}/{prefix}", "GIFT_S3_ENDPOINT_URL": self.endpoint,
                "GIFT_S3_REGION": REGION, "GIFT_S3_ACCESS_KEY_ID": ACCESS_KEY,
                "GIFT_S3_SECRET_ACCESS_KEY": SECRET_KEY}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_s3_server() -> Iterator[S3Server]:
    """Start `moto_server -H 127.0.0.1 -p PORT`; skip (fail under CI=true) when moto[server] is missing."""
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    try:
        import boto3  # noqa: F401
    except ImportError:
        missing_tool("boto3 is not installed")
    if executable is None:
        missing_tool("moto_server is not installed (pip install 'moto[server]')")
    port = _free_port()
    process = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
