"""One protocol per generation stage, and the set of providers a pipeline run uses.

Providers see only a `Brief` (public fields plus a minimised story) and earlier public outputs. They raise
`ProviderError` with `retryable` and a `category`; their messages never hold keys or order data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from builder.gifts.contracts import AudioClip, Brief, CoverArt, Lyrics

PredictionCallback = Callable[[str], None]


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
        known_prediction_id: str | None = None,
        on_prediction_created: PredictionCallback | None = None,
    ) -> AudioClip:
        """Make the song. A remote job reports its id through `on_prediction_created` as soon as it exists;
        a retry passes it back as `known_prediction_id` so the job is looked up before a new one starts."""
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
