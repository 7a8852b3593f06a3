"""One protocol per generation stage, and the set of providers a pipeline run uses.

Providers see only a `Brief` (public fields plus a minimised story) and earlier public outputs. They raise
`ProviderError` with `retryable` and a `category`; their messages never hold keys or order data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from builder.gifts.contracts import AudioClip, Brief, CoverArt, Lyrics

PredictionCallback = Callable[[str], None]


def lyrics_digest(lyrics: Lyrics) -> str:
    """What a remote audio job was made for: a hash of the lyrics (title and text), never the text itself."""
    return hashlib.sha256(f"{lyrics.title}\0{lyrics.text}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PriorJob:
    """A remote audio job an earlier attempt of this order started (or may have started)."""

    intent: str  # the Idempotency-Key its create was sent with
    lyrics_hash: str  # `lyrics_digest` of the lyrics it was made for
    prediction_id: str = ""  # "" when the create's outcome is unknown (no answer was recorded)


@dataclass(frozen=True)
class JobJournal:
    """Where a remote provider records its paid jobs, durably, so a retry never pays twice.

    `intend(intent, lyrics_hash)` is called and must be recorded *before* a create is sent (the intent id is
    the create's `Idempotency-Key`); `created(prediction_id)` once the provider answered. `prior` is what an
    earlier attempt recorded: reused only for the same lyrics.
    """

    prior: PriorJob | None = None
    intend: Callable[[str, str], None] = field(default=lambda intent, lyrics_hash: None)
    created: PredictionCallback = field(default=lambda prediction_id: None)

    def fresh(self) -> JobJournal:
        """The same journal without the prior job (a regeneration wants new audio for the same lyrics)."""
        return replace(self, prior=None)

    def reusable(self, lyrics: Lyrics) -> PriorJob | None:
        """The prior job when it was made for these lyrics; None for other lyrics (their audio would not match)."""
        prior = self.prior
        return prior if prior is not None and prior.lyrics_hash == lyrics_digest(lyrics) else None


class LyricsProvider(Protocol):
    kind: str  # provider kind for the disclosure and timings, e.g. "offline", "chat-completions"

    def write(self, brief: Brief) -> Lyrics: ...


class AudioProvider(Protocol):
    kind: str

    def compose(
        self,
        brief: Brief,
        lyrics: Lyrics,
        *,
        journal: JobJournal | None = None,
    ) -> AudioClip:
        """Make the song. A remote provider records an intent in `journal` before it creates a paid job and
        the job's id once it exists; a retry finds that job (same lyrics only) before anything new is paid."""
        ...


class CoverArtProvider(Protocol):
    kind: str

    def draw(self, brief: Brief, lyrics: Lyrics) -> CoverArt: ...


@dataclass(frozen=True)
class Providers:
    lyrics: LyricsProvider
    audio: AudioProvider
    cover: CoverArtProvider

    def kinds(self) -> dict[str, str]:
        """stage → provider kind, for the page's disclosure."""
        return {"lyrics": self.lyrics.kind, "audio": self.audio.kind, "cover": self.cover.kind}
