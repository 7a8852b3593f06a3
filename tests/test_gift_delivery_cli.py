"""Production delivery through the real CLI: `gift work` publishes to object storage (moto's S3 server on
127.0.0.1), refuses to without the public base URL, and `gift takedown` removes every object; the demo warns
once when og:image and og:url would be relative."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.object_storage import S3Server, moto_s3_server
from tests.test_gift_cli import PRIVATE, env, gift, valid_order, write  # noqa: F401 - env is a fixture

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://gifts.example.com/site"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_s3_server() as server:
        yield server


def test_gift_work_publishes_to_object_storage_and_takedown_removes_every_object(
        tmp_path: Path, env: dict[str, str], s3_server: S3Server) -> None:  # noqa: F811
    bucket = f"gifts-{uuid.uuid4().hex[:10]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    env |= s3_server.env(bucket) | {"GIFT_GIFTS_BASE_URL": BASE_URL, "GIFT_C2PA": "off"}
    ledger = tmp_path / "ledger"
    ref = gift(env, ledger, "submit", str(write(tmp_path, valid_order()))).stdout.split()[-1]
    worked = gift(env, ledger, "work", "--until-idle", "--out", str(tmp_path / "unused"))
    assert worked.returncode == 0, worked.stderr
    assert not (tmp_path / "unused" / "gifts").exists()  # nothing went to the local folder
    status = json.loads(gift(env, ledger, "status", ref, "--json").stdout)
    assert status["state"] == "published" and status["url"].startswith(BASE_URL + "/gifts/")
    token = status["url"].rstrip("/").rsplit("/", 1)[-1]

    prefix = f"site/gifts/{token}/"
    names = sorted(item["Key"].removeprefix(prefix) for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
                   ["Contents"])
    assert names == ["cover-480.webp", "cover.jpg", "cover.webp", "index.html", "social.jpg", "song.mp3"]
    page = s3.get_object(Bucket=bucket, Key=prefix + "index.html")
    html = page["Body"].read().decode()
    assert page["ContentType"] == "text/html; charset=utf-8" and page["CacheControl"] == "public, max-age=60"
    assert f'<meta property="og:image" content="{BASE_URL}/gifts/{token}/social.jpg">' in html
    assert f'<meta property="og:url" content="{BASE_URL}/gifts/{token}/">' in html
    song = s3.get_object(Bucket=bucket, Key=prefix + "song.mp3")
    assert song["ContentType"] == "audio/mpeg" and "immutable" in song["CacheControl"]
    for name in names:
        data = s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
        assert not any(secret.encode() in data for secret in PRIVATE)

    taken = gift(env, ledger, "takedown", ref, "--out", str(tmp_path / "unused"))
    assert taken.returncode == 0, taken.stderr
    left = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert [item["Key"] for item in left] == [prefix + "index.html"]
    removed = s3.get_object(Bucket=bucket, Key=prefix + "index.html")["Body"].read().decode()
    assert "This gift was removed" in removed and "Maya" not in removed


def test_object_storage_without_a_public_base_url_refuses_to_publish(
        tmp_path: Path, env: dict[str, str], s3_server: S3Server) -> None:  # noqa: F811
    bucket = f"gifts-{uuid.uuid4().hex[:10]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    env |= s3_server.env(bucket)
    ledger = tmp_path / "ledger"
    gift(env, ledger, "submit", str(write(tmp_path, valid_order())))
    worked = gift(env, ledger, "work", "--until-idle", "--out", str(tmp_path / "site"))
    assert worked.returncode != 0
    lines = worked.stderr.strip().splitlines()
    assert len(lines) == 1 and "GIFT_GIFTS_BASE_URL is not set" in lines[0] and "Traceback" not in worked.stderr
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_the_demo_warns_once_that_social_links_are_relative(tmp_path: Path, env: dict[str, str]) -> None:  # noqa: F811
    env.pop("CI", None)
    done = subprocess.run([sys.executable, "-m", "builder", "demo", "--no-serve", "--out", str(tmp_path / "site"),
                           "--ledger", str(tmp_path / "ledger")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "GIFT_GIFTS_BASE_URL" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:") and "og:image" in warnings[0]
    gift_page = next((tmp_path / "site" / "gifts").glob("*/index.html"))
    assert re.search(r'<meta property="og:image" content="social.jpg">', gift_page.read_text())
