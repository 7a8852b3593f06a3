"""The gift pipeline: a validated order becomes a published, guarded, disclosure-stamped gift page.

minimise → providers (each timed) → guard each output, regenerating with a new seed a bounded number of
times → media → page → stage, guard every published byte and file name as staged, swap into place. A violation that
survives the regenerations raises `GuardViolation` and nothing is written: the caller holds the order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from builder.errors import GiftboardError, GuardViolation, ProviderError
from builder.gifts import guard
from builder.gifts.content_credentials import C2paSettings
from builder.gifts.contracts import AudioClip, Brief, CoverArt, GiftPage, Lyrics, ProviderTiming, PublishedGift
from builder.gifts.disclosure import Disclosure
from builder.gifts.media import prepare_media
from builder.gifts.order import Order
from builder.gifts.page import render_gift_page
from builder.gifts.providers.base import JobJournal, Providers
from builder.gifts.publisher import GoLive, LocalPublisher, Publisher

log = logging.getLogger("giftboard.gifts.pipeline")
T = TypeVar("T")


class _Run:
    """One attempt's timings; log lines carry stage, provider kind, seconds and outcome category only."""

    def __init__(self) -> None:
        self.timings: list[ProviderTiming] = []

    def timed(self, stage: str, provider: str, make: Callable[[], T]) -> T:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return make()
        except ProviderError as error:
            outcome = error.category
            # the worker records which provider failed, at which stage and how long the call took (ops page)
            raise error.with_context(provider=provider, stage=stage, seconds=time.perf_counter() - started) from error
        except Exception:
            outcome = "error"
            raise
        finally:
            seconds = time.perf_counter() - started
            self.timings.append(ProviderTiming(stage=stage, provider=provider, seconds=seconds, outcome=outcome))
            log.info("provider stage=%s provider=%s seconds=%.3f outcome=%s", stage, provider, seconds, outcome)

    def guarded(self, stage: str, provider: str, brief: Brief, bound: int, make: Callable[[Brief, int], T],
                check: Callable[[T], None]) -> T:
        """Generate, check, and regenerate with a fresh seed up to `bound` times; then raise the violation."""
        violation: GuardViolation | None = None
        for regeneration in range(bound + 1):
            result = self.timed(stage, provider, partial(make, guard.reseed(brief, regeneration), regeneration))
            try:
                check(result)
                return result
            except GuardViolation as caught:
                violation = caught
                self.timings[-1] = ProviderTiming(stage, provider, self.timings[-1].seconds, f"guard_{caught.category}")
                log.warning("guard stage=%s regeneration=%d category=%s", stage, regeneration, caught.category)
        assert violation is not None
        raise violation


def produce_gift(
    order: Order,
    token: str,
    *,
    out_dir: Path,
    providers: Providers,
    generated_at: datetime,
    max_regenerations: int = 2,
    journal: JobJournal | None = None,
    c2pa: C2paSettings,
    go_live: GoLive | None = None,
    public_base_url: str = "",
    publisher: Publisher | None = None,
) -> PublishedGift:
    """Generate and publish one gift with `publisher` (default: the folder `out_dir/gifts/<token>/`).

    Raises GuardViolation (hold the order: private input would have been published; nothing was written),
    ProviderError (`retryable` says whether to try again; `journal` records remote audio jobs in the ledger,
    so a retry finds the one already paid for), MediaError or BuildError. `c2pa` signs the media
    (`c2pa_settings` from the settings); `public_base_url` (GIFT_GIFTS_BASE_URL) makes og:image absolute.
    Publishing the same token again replaces the page atomically,
    so a retry never makes a second one.
    """
    run = _Run()
    guard.check_public_fields(order)  # the buyer's own public text: regenerating cannot fix it
    brief = guard.minimise(order)

    def write(b: Brief, n: int) -> Lyrics:
        return providers.lyrics.write(b)

    lyrics = run.guarded("lyrics", providers.lyrics.kind, brief, max_regenerations, write,
                         lambda result: _check_lyrics(order, result))

    def compose(b: Brief, n: int) -> AudioClip:
        # a regeneration (the guard refused the first audio) wants new audio: never the prior job's
        job_journal = journal if journal is None or n == 0 else journal.fresh()
        return providers.audio.compose(b, lyrics, journal=job_journal)

    audio = run.guarded("audio", providers.audio.kind, brief, max_regenerations, compose,
                        lambda result: guard.check_bytes(order, result.data, "audio"))

    def draw(b: Brief, n: int) -> CoverArt:
        return providers.cover.draw(b, lyrics)

    cover = run.guarded("cover", providers.cover.kind, brief, max_regenerations, draw,
                        lambda result: guard.check_bytes(order, result.png, "cover art"))
    files, boilerplate = _render(order, token, lyrics, audio, cover, providers, generated_at, c2pa,
                                  public_base_url)
    return _publish(order, publisher or LocalPublisher(out_dir), token, files, boilerplate, run.timings, go_live)


def _check_lyrics(order: Order, lyrics: Lyrics) -> None:
    guard.check_text(order, lyrics.title, "lyrics title")
    guard.check_text(order, lyrics.text, "lyrics")
    guard.check_text(order, lyrics.model, "lyrics model")


def _render(order: Order, token: str, lyrics: Lyrics, audio: AudioClip, cover: CoverArt, providers: Providers,
            generated_at: datetime, c2pa: C2paSettings, public_base_url: str
            ) -> tuple[dict[str, bytes], frozenset[str]]:
    """Media and page as name → bytes, in memory (nothing is written until the guard has read it all), and
    the words of the same page rendered with placeholders for every order text: the template's own words."""
    # what made each stage (a trained model or the built-in procedural generator): every disclosure follows
    disclosure = Disclosure.of(providers.kinds())
    media = prepare_media(art=cover, audio=audio, photo=order.cover_photo_bytes(), c2pa=c2pa, disclosure=disclosure)
    page = GiftPage(
        token=token,
        public=order.public(),
        lyrics=lyrics,
        audio=media.audio,
        cover=media.cover,
        cover_fallback=media.cover_fallback,
        social=media.social,
        generated_at=generated_at,
        providers=providers.kinds(),
        extra_files=list(media.extra_files),
    )
    files = {"index.html": render_gift_page(page, public_base_url=public_base_url).encode()}
    for media_file in media.files:
        if media_file.name in files:
            raise GiftboardError(f"two gift files are both named {media_file.name}")
        files[media_file.name] = media_file.data
    placeholders = replace(
        page,
        public=replace(page.public, recipient_display_name="Recipient", from_display_name="Sender", public_message=""),
        lyrics=replace(lyrics, title="Title", text="Lyrics"),
    )
    return files, guard.boilerplate_words(render_gift_page(placeholders, public_base_url=public_base_url))


def _publish(order: Order, publisher: Publisher, token: str, files: dict[str, bytes], boilerplate: frozenset[str],
             timings: list[ProviderTiming], go_live: GoLive | None = None) -> PublishedGift:
    """Stage, guard every file name and every byte as staged, and only then let the page go live."""

    def scan(name: str, data: bytes) -> None:
        guard.check_files(order, {name: data}, boilerplate=boilerplate)

    published = publisher.publish(token, files, scan=scan, go_live=go_live)
    return PublishedGift(token=published.token, url_path=published.url_path, files=published.files, timings=timings)
