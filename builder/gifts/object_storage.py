"""Gift pages in S3-compatible object storage (AWS S3, Cloudflare R2, MinIO, GCS's S3 interface), via boto3.

`GIFT_GIFTS_URL=s3://bucket/prefix` puts a gift at `prefix/gifts/<token>/…`. Only S3 API calls are used:
PutObject, GetObject, HeadObject, ListObjectsV2 (with this publisher's own credentials, never anonymously),
DeleteObjects, GetBucketAcl and GetBucketPolicy. Objects are written private (no ACL): a CDN in front of the
bucket serves them, reading with its own origin credentials.

A page is never half-visible: media are uploaded first, `index.html` last, then objects a previous publish
left that the new page no longer names are deleted. A publisher refuses a bucket whose ACL or policy lets
anyone list it (every gift's token would be public). Errors name the bucket and the S3 error code only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from builder.errors import ConfigError, JobError
from builder.gifts.contracts import MediaFile, PublishedGift
from builder.gifts.publisher import (
    GIFTS_DIR,
    PAGE,
    PublishSteps,
    ScanHook,
    cache_control,
    checked_token,
    content_type,
    gift_contents,
    published,
)

PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
LIST_ACTIONS = {"s3:listbucket", "s3:listbucketversions", "s3:*", "*"}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_UNSUPPORTED = {"NotImplemented", "NotImplementedError", "MethodNotAllowed", "UnsupportedOperation"}
REMOVED_STATE = "removed"  # object metadata of the removed page: a stale attempt never uploads media beside it


@dataclass(frozen=True)
class StorageLocation:
    """A bucket and a key prefix (without slashes at either end; may be empty)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> StorageLocation:
        """`s3://bucket/prefix` → location; a ConfigError names what is wrong."""
        rest = url.strip().removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ConfigError("GIFT_GIFTS_URL must be s3://bucket/prefix with a valid bucket name")
        prefix = prefix.strip("/")
        if (prefix and not re.fullmatch(r"[A-Za-z0-9._/-]{1,512}", prefix)) or "//" in prefix or ".." in prefix:
            raise ConfigError("GIFT_GIFTS_URL's prefix may only hold letters, digits, '.', '_', '-' and '/'")
        return cls(bucket, prefix)

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


class ObjectStoragePublisher(PublishSteps):
    """Publishes gifts to `s3://bucket/prefix/gifts/<token>/` through the S3 API."""

    def __init__(self, location: StorageLocation, *, endpoint_url: str = "", region: str = "",
                 access_key_id: str = "", secret_access_key: str = "", scan: ScanHook | None = None,
                 client: Any = None) -> None:
        self.location, self.scan = location, scan
        self._client = client if client is not None else _client(endpoint_url, region, access_key_id,
                                                                 secret_access_key)
        self._checked = False

    def __repr__(self) -> str:
        return f"ObjectStoragePublisher(bucket={self.location.bucket!r}, prefix={self.location.prefix!r})"

    def gift_key(self, token: str, name: str) -> str:
        return self.location.key(GIFTS_DIR, checked_token(token), name)

    def stage(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
              *, scan: ScanHook | None = None) -> _StorageStaged:
        """Scan every file, then upload the media (not the page) when the `with` block starts."""
        return _StorageStaged(self, checked_token(token), gift_contents(files, index_html), scan or self.scan)

    def takedown(self, token: str) -> None:
        """Put the removed page in place first (visitors see it at once), then delete every other object."""
        from builder.gifts.page import render_removed_page

        self.prepare()
        self.put(token, PAGE, render_removed_page().encode("utf-8"), state=REMOVED_STATE)
        self.delete_except(token, {PAGE})

    def prepare(self) -> None:
        """Once per publisher: refuse a publicly listable bucket; give `gifts/` its own page (no listing)."""
        if self._checked:
            return
        self._refuse_public_listing()
        index = self.location.key(GIFTS_DIR, PAGE)
        if self.head(index) is None:
            from builder.gifts.page import render_gifts_index

            self._put_object(index, render_gifts_index().encode("utf-8"), PAGE, {})
        self._checked = True

    # --- S3 calls ---------------------------------------------------------------------------------------------

    def put(self, token: str, name: str, data: bytes, *, state: str = "") -> None:
        self._put_object(self.gift_key(token, name), data, name, {"giftboard-state": state} if state else {})

    def _put_object(self, key: str, data: bytes, name: str, metadata: dict[str, str]) -> None:
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        self._call("PutObject", Bucket=self.location.bucket, Key=key, Body=data, ContentType=content_type(name),
                   CacheControl=cache_control(name), ContentMD5=digest, Metadata=metadata)

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's headers, or None when there is none."""
        try:
            return self._call("HeadObject", Bucket=self.location.bucket, Key=key, missing_ok=True)
        except _Missing:
            return None

    def page_state(self, token: str) -> str | None:
        """None without a page, "removed" for the removed page, "" for a gift page."""
        head = self.head(self.gift_key(token, PAGE))
        return None if head is None else str(head.get("Metadata", {}).get("giftboard-state", ""))

    def keys(self, token: str) -> Iterator[str]:
        """Every object key of one gift (listed with this publisher's credentials)."""
        prefix = self.gift_key(token, "")
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        token_arg: dict[str, str] = {}
        while True:
            page = self._call("ListObjectsV2", Bucket=self.location.bucket, Prefix=prefix, **token_arg)
            for item in page.get("Contents", []):
                yield str(item["Key"])
            if not page.get("IsTruncated"):
                return
            token_arg = {"ContinuationToken": page["NextContinuationToken"]}

    def delete_except(self, token: str, keep: set[str]) -> None:
        """Delete the gift's objects whose file name is not in `keep`."""
        kept = {self.gift_key(token, name) for name in keep}
        doomed = [key for key in self.keys(token) if key not in kept]
        for start in range(0, len(doomed), 1000):
            batch = doomed[start:start + 1000]
            answer = self._call("DeleteObjects", Bucket=self.location.bucket,
                                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
            if answer.get("Errors"):
                code = answer["Errors"][0].get("Code", "error")
                raise JobError(f"object storage: could not delete a gift's objects in {self.location.bucket} ({code})")

    def _refuse_public_listing(self) -> None:
        acl = self._optional("GetBucketAcl", Bucket=self.location.bucket)
        for grant in (acl or {}).get("Grants", []):
            grantee = grant.get("Grantee", {})
            if grantee.get("URI") in PUBLIC_GROUPS and grant.get("Permission") in ("READ", "FULL_CONTROL"):
                raise ConfigError(f"bucket {self.location.bucket} lets anyone list it (its ACL grants "
                                  f"{grant['Permission']} to everyone): make it private and serve it through a CDN")
        policy = self._optional("GetBucketPolicy", Bucket=self.location.bucket, missing_ok=True)
        if policy and _policy_allows_public_listing(str(policy.get("Policy", ""))):
            raise ConfigError(f"bucket {self.location.bucket} lets anyone list it (its policy allows "
                              "s3:ListBucket to every principal): remove that statement")

    def _optional(self, operation: str, *, missing_ok: bool = False, **arguments: Any) -> dict[str, Any] | None:
        """A call some S3-compatible services do not implement: None there."""
        try:
            return self._call(operation, missing_ok=missing_ok, unsupported_ok=True, **arguments)
        except _Missing:
            return None

    def _call(self, operation: str, *, missing_ok: bool = False, unsupported_ok: bool = False,
              **arguments: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        method: Callable[..., dict[str, Any]] = getattr(self._client, _snake(operation))
        try:
            return method(**arguments)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "")) or "error"
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if missing_ok and (code in ("404", "NoSuchKey", "NotFound", "NoSuchBucketPolicy") or status == 404):
                raise _Missing from None
            if unsupported_ok and (code in _UNSUPPORTED or status in (405, 501)):
                raise _Missing from None
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ConfigError(f"object storage: {operation} on bucket {self.location.bucket} was refused "
                                  f"({code}): check GIFT_GIFTS_URL and the storage credentials") from None
            raise JobError(f"object storage: {operation} on bucket {self.location.bucket} failed ({code})") from None
        except BotoCoreError as error:  # connection refused, timeouts, bad endpoint: try again later
            raise JobError(f"object storage: {operation} on bucket {self.location.bucket} failed "
                           f"({type(error).__name__})") from None


class _Missing(Exception):
    """An object, policy or operation that is not there."""


class _StorageStaged:
    """Media uploaded, page not yet; `go_live` uploads `index.html`, then deletes what the page no longer names."""

    def __init__(self, publisher: ObjectStoragePublisher, token: str, contents: dict[str, bytes],
                 scan: ScanHook | None) -> None:
        self.publisher, self.token, self.contents, self.scan = publisher, token, contents, scan
        self.uploaded: list[str] = []
        self.live = False

    def __enter__(self) -> _StorageStaged:
        if self.scan is not None:
            for name in sorted(self.contents):
                self.scan(name, self.contents[name])  # exactly the bytes uploaded (Content-MD5 checks them)
        self.publisher.prepare()
        if self.publisher.page_state(self.token) == REMOVED_STATE:
            raise JobError("this gift was taken down: nothing is uploaded for it")
        try:
            for name in sorted(self.contents):
                if name != PAGE:
                    self.publisher.put(self.token, name, self.contents[name])
                    self.uploaded.append(name)
        except BaseException:
            self._discard()
            raise
        return self

    def go_live(self) -> PublishedGift:
        self.publisher.put(self.token, PAGE, self.contents[PAGE])
        self.live = True
        self.publisher.delete_except(self.token, set(self.contents))
        return published(self.token, self.contents)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if not self.live:
            self._discard()

    def _discard(self) -> None:
        """Remove what this attempt uploaded unless a live gift page (another attempt's) uses those names."""
        if not self.uploaded:
            return
        try:
            if self.publisher.page_state(self.token) != "":
                self.publisher.delete_except(self.token, {PAGE})
        except (JobError, ConfigError):
            pass  # best effort: the next publish or takedown of this token removes them
        self.uploaded = []


def _policy_allows_public_listing(text: str) -> bool:
    try:
        statements = json.loads(text).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        if str(statement.get("Effect", "")).lower() != "allow":
            continue
        principal = statement.get("Principal")
        public = principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))
        actions = {str(a).lower() for a in _as_list(statement.get("Action"))}
        if public and actions & LIST_ACTIONS:
            return True
    return False


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _client(endpoint_url: str, region: str, access_key_id: str, secret_access_key: str) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as error:
        raise ConfigError(f"object storage needs boto3 ({error.name} is not installed)") from None
    credentials = ({"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
                   if access_key_id and secret_access_key else {})  # else boto3's own chain (OIDC role, profile)
    if bool(access_key_id) != bool(secret_access_key):
        raise ConfigError("GIFT_S3_ACCESS_KEY_ID and GIFT_S3_SECRET_ACCESS_KEY must be set together")
    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 4, "mode": "standard"},
                    s3={"addressing_style": "path"} if endpoint_url else {})
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config,
                        **credentials)
