"""Publishing gift pages: one small interface, a local-folder backend (the default) and object storage.

Every backend publishes in two steps, so a page is never half-visible:

    with publisher.stage(token, files, scan=scan) as staged:   # media written, every byte scanned
        staged.go_live()                                       # index.html last: the page appears

`stage` writes (or uploads) everything but the page and runs the scan hook over every file; `go_live` is
the one call that makes the gift visible (the folder swap, or the `index.html` upload). A worker wraps
exactly that call in its ownership of the order (`publish(…, go_live=…)`, a `GoLive` guard: the ledger's
`owned(ref, attempt)`), so no other attempt, reconcile or takedown can change the order while it happens. Leaving the
`with` block without going live removes what was staged. Publishing a token again replaces its page, so a
retried job never makes a second one; `takedown` removes every file of the gift and leaves the "this gift
was removed" page at the same address.

`LocalPublisher` writes `out_dir/gifts/<token>/` (staging folder, fsync, one rename, or atomic per-file renames
under the folder's lock when the page is replaced);
`builder.gifts.object_storage.ObjectStoragePublisher` writes `s3://bucket/prefix/gifts/<token>/…` through
the S3 API. `open_publisher` picks one from `GIFT_GIFTS_URL`.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Protocol

from builder.atomic_files import fsync_dir, write_synced
from builder.errors import BuildError, ConfigError
from builder.gifts.contracts import MediaFile, PublishedGift

TOKEN_BYTES = 24  # 192 bits from the OS CSPRNG; 32 URL-safe characters
GIFTS_DIR = "gifts"
PAGE = "index.html"
STAGING_PREFIX = ".staging-"
STALE_STAGING_S = 3600.0
PAGE_CACHE_CONTROL = "public, max-age=60"  # a takedown or a republish shows within a minute
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8", "webp": "image/webp", "jpg": "image/jpeg", "png": "image/png",
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav", "flac": "audio/flac", "json": "application/json",
}
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_FILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

ScanHook = Callable[[str, bytes], None]
"""Called with (file name, bytes as staged) for every file before it goes live; raise to refuse."""
GoLive = Callable[[], AbstractContextManager[object]]
"""`with go_live(): staged.go_live()`: the worker holds its ownership of the order for the block (raising
there publishes nothing: a worker whose lease was taken away must not bring back a page another worker
published or support removed)."""


def new_gift_token() -> str:
    """A fresh gift token: 192 random bits, URL-safe, independent of any order data."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def content_type(name: str) -> str:
    """The Content-Type a gift file is served with (by its fixed extension)."""
    extension = name.rsplit(".", 1)[-1]
    if extension not in CONTENT_TYPES:
        raise BuildError(f"gift file {name} has no known content type")
    return CONTENT_TYPES[extension]


def cache_control(name: str) -> str:
    """Media never change under their name once live; the page is short-lived so a takedown shows quickly."""
    return PAGE_CACHE_CONTROL if name == PAGE else MEDIA_CACHE_CONTROL


class StagedGift(Protocol):
    """A gift whose media are written and scanned but not yet visible."""

    token: str

    def go_live(self) -> PublishedGift:
        """Make the page visible (`index.html` last); the only step that changes what a visitor sees."""
        ...

    def __enter__(self) -> StagedGift: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None: ...


class Publisher(Protocol):
    """Where gift pages live: a local folder or an object-storage bucket."""

    def stage(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
              *, scan: ScanHook | None = None) -> StagedGift: ...

    def publish(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
                *, scan: ScanHook | None = None, go_live: GoLive | None = None) -> PublishedGift:
        ...

    def takedown(self, token: str) -> None: ...


class PublishSteps:
    """`publish` written once over `stage` and `go_live`, for every backend."""

    def stage(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
              *, scan: ScanHook | None = None) -> StagedGift:
        raise NotImplementedError

    def publish(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
                *, scan: ScanHook | None = None, go_live: GoLive | None = None) -> PublishedGift:
        """Stage, scan, then go live inside `go_live` (see `GoLive`): the page becomes visible while the
        worker holds the order, or not at all."""
        with self.stage(token, files, index_html, scan=scan) as staged:
            with go_live() if go_live is not None else nullcontext():
                return staged.go_live()


def gift_contents(files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None) -> dict[str, bytes]:
    """name → bytes with every name checked; an index.html is required."""
    contents: dict[str, bytes] = {}
    items = files.items() if isinstance(files, Mapping) else ((f.name, f.data) for f in files)
    for name, data in items:
        _add(contents, name, data)
    if index_html is not None:
        _add(contents, PAGE, index_html.encode("utf-8"))
    if PAGE not in contents:
        raise BuildError("a gift page needs an index.html")
    return contents


def checked_token(token: str) -> str:
    """The token, refused when it could name anything but one folder under gifts/."""
    if not _TOKEN.fullmatch(token):
        raise BuildError("a gift token may only contain letters, digits, '-' and '_'")
    return token


def published(token: str, contents: Mapping[str, bytes]) -> PublishedGift:
    return PublishedGift(token=token, url_path=f"{GIFTS_DIR}/{token}/", files=sorted(contents), timings=[])


def _add(contents: dict[str, bytes], name: str, data: bytes) -> None:
    if not _FILE_NAME.fullmatch(name):
        raise BuildError(f"gift file name {name!r} is not a plain lower-case file name")
    if name in contents:
        raise BuildError(f"two gift files are both named {name}")
    contents[name] = data


def open_publisher(gifts_url: str, out_dir: Path, *, endpoint_url: str = "", region: str = "",
                   access_key_id: str = "", secret_access_key: str = "", scan: ScanHook | None = None) -> Publisher:
    """`GIFT_GIFTS_URL`: unset (or a folder) publishes under `out_dir/gifts/`; `s3://bucket/prefix` to storage."""
    gifts_url = gifts_url.strip()
    if gifts_url.startswith("s3://"):
        from builder.gifts.object_storage import ObjectStoragePublisher, StorageLocation

        return ObjectStoragePublisher(StorageLocation.parse(gifts_url), endpoint_url=endpoint_url, region=region,
                                      access_key_id=access_key_id, secret_access_key=secret_access_key, scan=scan)
    if "://" in gifts_url:
        raise ConfigError("GIFT_GIFTS_URL must be s3://bucket/prefix or a folder")
    return LocalPublisher(Path(gifts_url) if gifts_url else out_dir, scan=scan)


# --- the local folder ----------------------------------------------------------------------------------------------


class LocalPublisher(PublishSteps):
    """Publishes into `out_dir/gifts/<token>/` on this machine (the embedded default)."""

    def __init__(self, out_dir: Path, *, scan: ScanHook | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.scan = scan

    @property
    def gifts_dir(self) -> Path:
        """The folder holding every gift folder."""
        return self.out_dir / GIFTS_DIR

    def gift_dir(self, token: str) -> Path:
        """Where the gift with `token` lives (whether or not it exists)."""
        return self.gifts_dir / checked_token(token)

    def stage(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
              *, scan: ScanHook | None = None) -> _LocalStaged:
        """Write every file into a staging folder beside the gifts, fsync it, and scan it as written."""
        contents = gift_contents(files, index_html)
        return _LocalStaged(self, checked_token(token), contents, scan or self.scan)

    def takedown(self, token: str) -> None:
        """Remove the gift's page and media, leaving the "this gift was removed" page at the same address."""
        from builder.gifts.page import render_removed_page

        removed = {PAGE: render_removed_page().encode("utf-8")}
        with _LocalStaged(self, checked_token(token), removed, None) as staged:
            staged.go_live()

    def prepare(self) -> None:
        """The gifts folder, with a page of its own so no server lists the tokens inside it."""
        self.gifts_dir.mkdir(parents=True, exist_ok=True)
        index = self.gifts_dir / PAGE
        if not index.exists():
            from builder.gifts.page import render_gifts_index

            write_synced(index, render_gifts_index().encode("utf-8"))
        self._sweep_stale_staging()

    def _sweep_stale_staging(self) -> None:
        """Remove staging folders a killed process left behind (older than an hour, so never a live one)."""
        cutoff = time.time() - STALE_STAGING_S
        for leftover in self.gifts_dir.glob(f"{STAGING_PREFIX}*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except FileNotFoundError:
                continue


class _LocalStaged:
    """A staging folder holding a complete gift; `go_live` swaps it in with one rename or exchange."""

    def __init__(self, publisher: LocalPublisher, token: str, contents: dict[str, bytes],
                 scan: ScanHook | None) -> None:
        self.publisher, self.token, self.contents, self.scan = publisher, token, contents, scan
        self.staging: Path | None = None

    def __enter__(self) -> _LocalStaged:
        self.publisher.prepare()
        gifts = self.publisher.gifts_dir
        self.staging = gifts / f"{STAGING_PREFIX}{self.token}-{secrets.token_hex(6)}"
        self.staging.mkdir()
        try:
            for name, data in self.contents.items():
                write_synced(self.staging / name, data)
            fsync_dir(self.staging)
            if self.scan is not None:
                for name in sorted(self.contents):
                    self.scan(name, (self.staging / name).read_bytes())
        except BaseException:
            self._discard()
            raise
        return self

    def go_live(self) -> PublishedGift:
        if self.staging is None:
            raise BuildError("a gift goes live only inside its `with publisher.stage(…)` block")
        _move_into_place(self.staging, self.publisher.gift_dir(self.token))
        fsync_dir(self.publisher.gifts_dir)
        return published(self.token, self.contents)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._discard()

    def _discard(self) -> None:
        # after go_live the staging folder holds the previous page (or is gone); before, the unpublished one
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None


def _move_into_place(staging: Path, target: Path) -> None:
    """Make `staging`'s files the content of `target`; afterwards `staging` is empty (or gone).

    A first publish is one rename. A republish (a retry, a takedown) moves the new files in one by one, each with
    an atomic rename and `index.html` last, then removes the files the new page no longer has, all under an
    exclusive lock on the gift's folder: at every moment the address serves a whole page (the old one or the new
    one), never a missing folder or a half-written file, and two publishers of one token never interleave.
    """
    if not target.exists():
        try:
            os.rename(staging, target)
            return
        except OSError:
            if not target.is_dir():  # not a lost race with another publisher of this token
                raise
    folder = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # released when the descriptor is closed
        names = sorted(os.listdir(staging), key=lambda name: (name == PAGE, name))
        for name in names:
            os.replace(staging / name, target / name)
        for stale in sorted(set(os.listdir(target)) - set(names)):
            path = target / stale
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        fsync_dir(target)
    finally:
        os.close(folder)
