"""One publisher test suite over both backends: the local folder and S3-compatible object storage (moto).

What a visitor sees is read the way a visitor would reach it: over HTTP from a static server for the folder,
through the S3 API (GetObject, with the same headers a CDN forwards) for the bucket.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from builder.errors import ConfigError, GuardViolation, JobError
from builder.gifts.object_storage import ObjectStoragePublisher, StorageLocation
from builder.gifts.publisher import LocalPublisher, Publisher, new_gift_token
from builder.site.server import start_preview_server
from tests.support.object_storage import ACCESS_KEY, REGION, SECRET_KEY, S3Server, moto_s3_server

MEDIA = {"cover.webp": b"RIFF-webp", "cover.jpg": b"\xff\xd8\xff-jpeg", "song.mp3": b"ID3-mp3"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_s3_server() as server:
        yield server


@dataclass
class Backend:
    """A publisher and a visitor's view of what it published."""

    kind: str
    publisher: Publisher
    root: Path | None = None
    s3: Any = None
    bucket: str = ""
    prefix: str = ""
    base: str = ""

    def get(self, token: str, name: str) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) a visitor gets for gifts/<token>/<name>."""
        if self.s3 is None:
            response = httpx.get(f"{self.base}gifts/{token}/{name}")
            return response.status_code, response.content, dict(response.headers)
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/gifts/{token}/{name}")
        except self.s3.exceptions.NoSuchKey:
            return 404, b"", {}
        headers = {"content-type": answer["ContentType"], "cache-control": answer.get("CacheControl", "")}
        return 200, answer["Body"].read(), headers

    def stored(self, token: str) -> list[str]:
        """Every file name stored for the gift (staging folders aside)."""
        if self.s3 is None:
            folder = self.root / "gifts" / token
            return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/gifts/{token}/")
        return sorted(item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", []))

    def stage_and_die_script(self, token: str) -> str:
        """Python source that stages a gift (media written) and is killed before it goes live."""
        if self.s3 is None:
            make = f"LocalPublisher(Path({str(self.root)!r}))"
        else:
            make = (f"ObjectStoragePublisher(StorageLocation({self.bucket!r}, {self.prefix!r}), "
                    f"endpoint_url={self.s3.meta.endpoint_url!r}, region={REGION!r}, "
                    f"access_key_id={ACCESS_KEY!r}, secret_access_key={SECRET_KEY!r})")
        return (
            "import os\nfrom pathlib import Path\n"
            "from builder.gifts.publisher import LocalPublisher\n"
            "from builder.gifts.object_storage import ObjectStoragePublisher, StorageLocation\n"
            f"publisher = {make}\n"
            f"with publisher.stage({token!r}, {{**{MEDIA!r}, 'index.html': b'new page'}}) as staged:\n"
            "    os._exit(137)  # killed between the media and the page\n"
        )


@pytest.fixture(params=["folder", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "folder":
        server = start_preview_server(tmp_path, "127.0.0.1", 0)
        try:
            yield Backend("folder", LocalPublisher(tmp_path), root=tmp_path,
                          base=f"http://127.0.0.1:{server.server_address[1]}/")
        finally:
            server.shutdown()
            server.server_close()
        return
    server: S3Server = request.getfixturevalue("s3_server")
    s3 = server.client()
    bucket = f"gifts-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    publisher = ObjectStoragePublisher(StorageLocation(bucket, "site"), endpoint_url=server.endpoint, region=REGION,
                                       access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    yield Backend("s3", publisher, s3=s3, bucket=bucket, prefix="site")


def test_publish_makes_the_page_and_its_media_visible_with_their_types(backend: Backend) -> None:
    token = new_gift_token()
    gift = backend.publisher.publish(token, {**MEDIA, "index.html": b"<!doctype html><title>x</title>"})
    assert gift.url_path == f"gifts/{token}/" and gift.files == sorted([*MEDIA, "index.html"])
    status, body, headers = backend.get(token, "index.html")
    assert status == 200 and body == b"<!doctype html><title>x</title>"
    assert headers["content-type"].startswith("text/html")
    for name, data in MEDIA.items():
        status, body, headers = backend.get(token, name)
        assert status == 200 and body == data
    if backend.kind == "s3":  # the folder's server decides its own headers; the bucket's are ours
        assert backend.get(token, "index.html")[2] == {"content-type": "text/html; charset=utf-8",
                                                       "cache-control": "public, max-age=60"}
        assert backend.get(token, "song.mp3")[2] == {"content-type": "audio/mpeg",
                                                     "cache-control": "public, max-age=31536000, immutable"}
        assert backend.get(token, "cover.webp")[2]["content-type"] == "image/webp"
        assert backend.get(token, "cover.jpg")[2]["content-type"] == "image/jpeg"


def test_a_retried_publish_keeps_one_token_and_one_page_with_the_latest_files(backend: Backend) -> None:
    token = new_gift_token()
    backend.publisher.publish(token, {"index.html": b"first", "old.jpg": b"x", "song.mp3": b"1"})
    backend.publisher.publish(token, {"index.html": b"second", "cover.jpg": b"y", "song.mp3": b"2"})
    assert backend.stored(token) == ["cover.jpg", "index.html", "song.mp3"]
    assert backend.get(token, "index.html")[1] == b"second" and backend.get(token, "song.mp3")[1] == b"2"
    assert backend.get(token, "old.jpg")[0] == 404


def test_takedown_deletes_every_object_and_leaves_the_removed_page(backend: Backend) -> None:
    token, other = new_gift_token(), new_gift_token()
    backend.publisher.publish(token, {**MEDIA, "index.html": b"Maya's page"})
    backend.publisher.publish(other, {**MEDIA, "index.html": b"another gift"})
    backend.publisher.takedown(token)
    assert backend.stored(token) == ["index.html"]
    status, body, _ = backend.get(token, "index.html")
    assert status == 200 and b"This gift was removed" in body and b"Maya" not in body
    assert backend.get(token, "song.mp3")[0] == 404
    assert backend.stored(other) == sorted([*MEDIA, "index.html"])  # nothing else is touched
    backend.publisher.takedown(token)  # idempotent
    assert backend.stored(token) == ["index.html"]


def test_a_crash_between_media_and_page_shows_no_half_page_and_the_retry_completes_it(backend: Backend) -> None:
    token = new_gift_token()
    died = subprocess.run([sys.executable, "-c", backend.stage_and_die_script(token)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == 137, died.stderr
    assert backend.get(token, "index.html")[0] == 404  # nothing a visitor can open
    backend.publisher.publish(token, {**MEDIA, "index.html": b"the page"})
    assert backend.get(token, "index.html")[1] == b"the page"
    assert backend.stored(token) == sorted([*MEDIA, "index.html"])


def test_a_crash_while_republishing_keeps_the_previous_page_whole(backend: Backend) -> None:
    token = new_gift_token()
    backend.publisher.publish(token, {**MEDIA, "index.html": b"old page"})
    died = subprocess.run([sys.executable, "-c", backend.stage_and_die_script(token)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == 137, died.stderr
    assert backend.get(token, "index.html")[1] == b"old page"
    for name in MEDIA:  # every file the old page names is still there
        assert backend.get(token, name)[0] == 200


def test_a_refused_scan_or_owner_check_publishes_nothing(backend: Backend) -> None:
    token = new_gift_token()

    def refuse(name: str, data: bytes) -> None:
        if b"leak" in data:
            raise GuardViolation("private_value")

    with pytest.raises(GuardViolation):
        backend.publisher.publish(token, {**MEDIA, "index.html": b"a leak"}, scan=refuse)
    assert backend.stored(token) == []

    @contextmanager
    def lost_lease() -> Iterator[None]:
        raise JobError("lease lost")
        yield

    with pytest.raises(JobError):
        backend.publisher.publish(token, {**MEDIA, "index.html": b"page"}, go_live=lost_lease)
    assert backend.stored(token) == []  # the media staged for it are gone again
    assert backend.get(token, "index.html")[0] == 404


def test_the_page_goes_live_inside_the_workers_ownership_of_the_order(backend: Backend) -> None:
    """`go_live` wraps exactly the step that makes the page visible: not visible on entry, visible on exit."""
    token = new_gift_token()
    seen: list[int] = []

    @contextmanager
    def owned() -> Iterator[None]:
        seen.append(backend.get(token, "index.html")[0])
        yield
        seen.append(backend.get(token, "index.html")[0])

    backend.publisher.publish(token, {**MEDIA, "index.html": b"page"}, go_live=owned)
    assert seen == [404, 200]


def test_go_live_is_one_call_that_a_caller_can_wrap(backend: Backend) -> None:
    token = new_gift_token()
    with backend.publisher.stage(token, {**MEDIA, "index.html": b"page"}) as staged:
        assert backend.get(token, "index.html")[0] == 404  # media first, page not yet
        gift = staged.go_live()
        assert backend.get(token, "index.html")[1] == b"page"
    assert gift.token == token


def test_nobody_can_list_the_gifts(backend: Backend) -> None:
    tokens = [new_gift_token() for _ in range(2)]
    for token in tokens:
        backend.publisher.publish(token, {"index.html": b"page"})
    if backend.kind == "folder":
        folder = httpx.get(f"{backend.base}gifts/")
        assert folder.status_code == 200 and "Nothing to see here" in folder.text
        assert not any(token in folder.text for token in tokens)
        return
    s3 = backend.s3
    index = s3.get_object(Bucket=backend.bucket, Key="site/gifts/index.html")["Body"].read().decode()
    assert "Nothing to see here" in index and not any(token in index for token in tokens)
    grants = s3.get_bucket_acl(Bucket=backend.bucket)["Grants"]
    assert all("URI" not in grant["Grantee"] for grant in grants)  # no grant to everyone
    for token in tokens:  # objects are private: only the CDN (with credentials) reads them
        grants = s3.get_object_acl(Bucket=backend.bucket, Key=f"site/gifts/{token}/index.html")["Grants"]
        assert all("URI" not in grant["Grantee"] for grant in grants)
        anonymous = httpx.get(f"{s3.meta.endpoint_url}/{backend.bucket}/site/gifts/{token}/index.html")
        assert anonymous.status_code == 403


def test_a_bucket_anyone_can_list_is_refused_before_anything_is_written(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    for how in ("acl", "policy"):
        bucket = f"public-{how}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        if how == "acl":
            s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        else:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
            ]}))
        publisher = ObjectStoragePublisher(StorageLocation(bucket, "site"), endpoint_url=s3_server.endpoint,
                                           region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
        with pytest.raises(ConfigError, match="lets anyone list it"):
            publisher.publish(new_gift_token(), {"index.html": b"page"})
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_storage_errors_are_one_line_without_credentials(s3_server: S3Server) -> None:
    publisher = ObjectStoragePublisher(StorageLocation("no-such-bucket", "site"), endpoint_url=s3_server.endpoint,
                                       region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    with pytest.raises(ConfigError) as refused:
        publisher.publish(new_gift_token(), {"index.html": b"page"})
    assert "NoSuchBucket" in str(refused.value) and SECRET_KEY not in str(refused.value)
    closed = ObjectStoragePublisher(StorageLocation("gifts", ""), endpoint_url="http://127.0.0.1:9", region=REGION,
                                    access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    with pytest.raises(JobError, match="object storage") as unreachable:
        closed.publish(new_gift_token(), {"index.html": b"page"})
    assert "\n" not in str(unreachable.value) and SECRET_KEY not in str(unreachable.value)


@pytest.mark.parametrize("url", ["s3://", "s3://UPPER/x", "s3://ok-bucket/../up", "ftp://x/y"])
def test_a_bad_gifts_url_is_a_configuration_error(url: str, tmp_path: Path) -> None:
    from builder.gifts.publisher import open_publisher

    with pytest.raises(ConfigError, match="GIFT_GIFTS_URL"):
        open_publisher(url, tmp_path)
