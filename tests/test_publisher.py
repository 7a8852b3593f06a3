"""The publisher: random tokens, one page per token however often it is published, scans before going live."""

from __future__ import annotations

import base64
import inspect
import math
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from builder.errors import BuildError, GuardViolation
from builder.gifts.contracts import MediaFile
from builder.gifts.publisher import STAGING_PREFIX, LocalPublisher, new_gift_token

TOKEN = "Zr7_q0dKc2fS-1b9XwVYnA4lPm8uEo3T"


def listing(root: Path) -> list[str]:
    """Every path under `root`, but the gifts folder's own page (tests/test_publisher_backends.py checks it)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p != root / "index.html")


# --- tokens -------------------------------------------------------------------------------------------------------


def test_token_has_at_least_128_random_bits_and_is_url_safe() -> None:
    tokens = [new_gift_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens[:50]:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128
        assert token.replace("-", "").replace("_", "").isalnum() and token.isascii()
    # every position is spread over the alphabet: no fixed prefix, counter or timestamp in the token
    for position in range(len(tokens[0])):
        column = Counter(token[position] for token in tokens)
        assert len(column) > 40, f"position {position} takes only {len(column)} values"
    characters = Counter("".join(tokens))
    total = sum(characters.values())
    entropy_per_char = -sum(n / total * math.log2(n / total) for n in characters.values())
    assert entropy_per_char * len(tokens[0]) >= 128


def test_token_is_minted_from_nothing_but_randomness() -> None:
    assert inspect.signature(new_gift_token).parameters == {}  # no order data can reach it


def test_token_stays_the_same_for_an_order_across_retries(tmp_path: Path) -> None:
    """The ledger mints the token once at accept time with this function; a retry republishes that token."""
    from builder.jobs import accept

    assert len(accept.new_gift_token()) == len(new_gift_token())
    publisher = LocalPublisher(tmp_path)
    token = new_gift_token()
    for attempt in range(3):
        gift = publisher.publish(token, {"index.html": f"attempt {attempt}".encode()})
        assert gift.url_path == f"gifts/{token}/"
    assert listing(tmp_path / "gifts") == [token, f"{token}/index.html"]


# --- publishing ---------------------------------------------------------------------------------------------------


def test_publish_writes_the_page_and_its_media(tmp_path: Path) -> None:
    files = [MediaFile("cover.webp", b"RIFF-webp", "image/webp"), MediaFile("song.wav", b"RIFF-wav", "audio/wav")]
    gift = LocalPublisher(tmp_path).publish(TOKEN, files, "<!doctype html><title>x</title>")
    folder = tmp_path / "gifts" / TOKEN
    assert gift.files == ["cover.webp", "index.html", "song.wav"]
    assert (folder / "index.html").read_text() == "<!doctype html><title>x</title>"
    assert (folder / "song.wav").read_bytes() == b"RIFF-wav"


def test_publishing_the_same_token_twice_leaves_one_page_with_the_latest_files(tmp_path: Path) -> None:
    publisher = LocalPublisher(tmp_path)
    publisher.publish(TOKEN, {"index.html": b"first", "old.jpg": b"x"})
    publisher.publish(TOKEN, {"index.html": b"second", "cover.jpg": b"y"})
    assert listing(tmp_path / "gifts") == [TOKEN, f"{TOKEN}/cover.jpg", f"{TOKEN}/index.html"]
    assert (tmp_path / "gifts" / TOKEN / "index.html").read_bytes() == b"second"


def test_concurrent_publishers_of_one_token_end_with_one_complete_page(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def publish(n: int) -> None:
        try:
            LocalPublisher(tmp_path).publish(TOKEN, {"index.html": f"page {n}".encode(), "song.wav": b"s" * n})
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert listing(tmp_path / "gifts") == [TOKEN, f"{TOKEN}/index.html", f"{TOKEN}/song.wav"]
    page = (tmp_path / "gifts" / TOKEN / "index.html").read_text()
    assert (tmp_path / "gifts" / TOKEN / "song.wav").read_bytes() == b"s" * int(page.split()[1])


def test_scan_hook_reads_every_staged_file_before_it_goes_live(tmp_path: Path) -> None:
    seen: dict[str, bytes] = {}

    def scan(name: str, data: bytes) -> None:
        assert not (tmp_path / "gifts" / TOKEN).exists(), "scanned after the page went live"
        assert STAGING_PREFIX in str(next((tmp_path / "gifts").glob(f"{STAGING_PREFIX}*")))
        seen[name] = data

    LocalPublisher(tmp_path, scan=scan).publish(TOKEN, {"index.html": b"page", "cover.jpg": b"jpeg"})
    assert seen == {"cover.jpg": b"jpeg", "index.html": b"page"}


def test_a_failing_scan_publishes_nothing_and_keeps_the_previous_page(tmp_path: Path) -> None:
    publisher = LocalPublisher(tmp_path)
    publisher.publish(TOKEN, {"index.html": b"good page"})

    def refuse(name: str, data: bytes) -> None:
        if b"leak" in data:
            raise GuardViolation("private_value")

    with pytest.raises(GuardViolation):
        publisher.publish(TOKEN, {"index.html": b"a leak"}, scan=refuse)
    with pytest.raises(GuardViolation):
        publisher.publish("another_token", {"index.html": b"a leak"}, scan=refuse)
    assert listing(tmp_path / "gifts") == [TOKEN, f"{TOKEN}/index.html"]
    assert (tmp_path / "gifts" / TOKEN / "index.html").read_bytes() == b"good page"


def test_takedown_removes_media_and_leaves_the_removed_page_at_the_same_url(tmp_path: Path) -> None:
    publisher = LocalPublisher(tmp_path)
    publisher.publish(TOKEN, {"index.html": b"Maya's page", "song.wav": b"w", "cover.jpg": b"j"})
    publisher.takedown(TOKEN)
    assert listing(tmp_path / "gifts") == [TOKEN, f"{TOKEN}/index.html"]
    html = (tmp_path / "gifts" / TOKEN / "index.html").read_text()
    assert "This gift was removed" in html and "Maya" not in html
    publisher.takedown(TOKEN)  # idempotent
    assert listing(tmp_path / "gifts") == [TOKEN, f"{TOKEN}/index.html"]


def test_leftover_staging_from_a_killed_run_is_swept_but_a_live_one_is_not(tmp_path: Path) -> None:
    gifts = tmp_path / "gifts"
    stale, live = gifts / f"{STAGING_PREFIX}dead-abc", gifts / f"{STAGING_PREFIX}live-def"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "index.html").write_text("half")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    LocalPublisher(tmp_path).publish(TOKEN, {"index.html": b"page"})
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("token", ["../escape", "a/b", ".hidden", "", "x" * 200, "tok en"])
def test_tokens_that_could_escape_the_gifts_folder_are_refused(tmp_path: Path, token: str) -> None:
    with pytest.raises(BuildError, match="token"):
        LocalPublisher(tmp_path).publish(token, {"index.html": b"page"})
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("name", ["../index.html", "Maya.jpg", "sub/dir.txt", ".htaccess"])
def test_file_names_must_be_plain_lower_case_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(BuildError, match="file name"):
        LocalPublisher(tmp_path).publish(TOKEN, {"index.html": b"page", name: b"x"})
    assert not (tmp_path / "gifts" / TOKEN).exists()


def test_a_page_needs_an_index(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"index\.html"):
        LocalPublisher(tmp_path).publish(TOKEN, {"cover.jpg": b"x"})
