"""Publishing gift pages: stage every file, scan it, then swap the folder into place in one step.

`LocalPublisher` writes `out_dir/gifts/<token>/`. A page is never half-written: files go into
`gifts/.staging-*`, are fsynced and scanned (the pipeline passes the guard), then the staging folder
becomes the gift folder with one rename (first publish) or one atomic exchange (Linux `renameat2`
RENAME_EXCHANGE; elsewhere two renames). Publishing a token again replaces its page, so a retried job never
makes a second one. In production the same publisher writes into a checkout of the private gifts
repository, which `builder.jobs.gitsync` pulls before and commits and pushes after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path

from builder.atomic_files import fsync_dir, write_synced
from builder.errors import BuildError
from builder.gifts.contracts import MediaFile, PublishedGift

TOKEN_BYTES = 24  # 192 bits from the OS CSPRNG; 32 URL-safe characters
GIFTS_DIR = "gifts"
STAGING_PREFIX = ".staging-"
STALE_STAGING_S = 3600.0
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_FILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

ScanHook = Callable[[str, bytes], None]
"""Called with (file name, bytes as staged on disk) for every file before it goes live; raise to refuse."""


def new_gift_token() -> str:
    """A fresh gift token: 192 random bits, URL-safe, independent of any order data."""
    return secrets.token_urlsafe(TOKEN_BYTES)


class LocalPublisher:
    """Publishes into `out_dir/gifts/<token>/` on this machine (the default, and what a gifts checkout uses)."""

    def __init__(self, out_dir: Path, *, scan: ScanHook | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.scan = scan

    @property
    def gifts_dir(self) -> Path:
        """The folder holding every gift folder."""
        return self.out_dir / GIFTS_DIR

    def gift_dir(self, token: str) -> Path:
        """Where the gift with `token` lives (whether or not it exists)."""
        return self.gifts_dir / _checked_token(token)

    def publish(self, token: str, files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None = None,
                *, scan: ScanHook | None = None, before_swap: Callable[[], None] | None = None) -> PublishedGift:
        """Stage, scan and swap in a gift's files (name → bytes, or MediaFiles plus `index_html`).

        `before_swap` runs last, just before the folder goes live; raising there publishes nothing (a worker
        whose lease was taken away must not bring back a page another worker published or support removed).
        """
        contents = _contents(files, index_html)
        if "index.html" not in contents:
            raise BuildError("a gift page needs an index.html")
        self._swap_in(token, contents, scan or self.scan, before_swap)
        return PublishedGift(token=token, url_path=f"{GIFTS_DIR}/{token}/", files=sorted(contents), timings=[])

    def takedown(self, token: str) -> None:
        """Remove the gift's page and media, leaving the "this gift was removed" page at the same address."""
        from builder.gifts.page import render_removed_page

        self._swap_in(token, {"index.html": render_removed_page().encode("utf-8")}, None, None)

    def _swap_in(self, token: str, contents: dict[str, bytes], scan: ScanHook | None,
                 before_swap: Callable[[], None] | None) -> None:
        target = self.gift_dir(token)
        self.gifts_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_staging()
        staging = self.gifts_dir / f"{STAGING_PREFIX}{token}-{secrets.token_hex(6)}"
        staging.mkdir()
        try:
            for name, data in contents.items():
                write_synced(staging / name, data)
            fsync_dir(staging)
            if scan is not None:
                for name in sorted(contents):
                    scan(name, (staging / name).read_bytes())
            if before_swap is not None:
                before_swap()
            _move_into_place(staging, target)
            fsync_dir(self.gifts_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _sweep_stale_staging(self) -> None:
        """Remove staging folders a killed process left behind (older than an hour, so never a live one)."""
        cutoff = time.time() - STALE_STAGING_S
        for leftover in self.gifts_dir.glob(f"{STAGING_PREFIX}*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except FileNotFoundError:
                continue


def _contents(files: Mapping[str, bytes] | Sequence[MediaFile], index_html: str | None) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    items = files.items() if isinstance(files, Mapping) else ((f.name, f.data) for f in files)
    for name, data in items:
        _add(contents, name, data)
    if index_html is not None:
        _add(contents, "index.html", index_html.encode("utf-8"))
    return contents


def _add(contents: dict[str, bytes], name: str, data: bytes) -> None:
    if not _FILE_NAME.fullmatch(name):
        raise BuildError(f"gift file name {name!r} is not a plain lower-case file name")
    if name in contents:
        raise BuildError(f"two gift files are both named {name}")
    contents[name] = data


def _checked_token(token: str) -> str:
    if not _TOKEN.fullmatch(token):
        raise BuildError("a gift token may only contain letters, digits, '-' and '_'")
    return token


def _move_into_place(staging: Path, target: Path) -> None:
    """Make `staging` the content of `target`; afterwards `staging` holds the old content (or is gone)."""
    if not target.exists():
        try:
            os.rename(staging, target)
            return
        except OSError:
            if not target.is_dir():  # not a lost race with another publisher of this token
                raise
    if _exchange(staging, target):
        return  # staging now holds the previous page; the caller removes it
    old = target.with_name(f"{STAGING_PREFIX}old-{target.name}-{secrets.token_hex(6)}")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two directories with renameat2(RENAME_EXCHANGE); False where that is unavailable."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: the kernel or filesystem cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(second))


@cache
def _renameat2() -> Callable[..., int] | None:
    if not hasattr(os, "sched_getaffinity"):  # a cheap "is this Linux" test
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]
