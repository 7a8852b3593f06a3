"""Plain data passed between the gift pipeline's stages (order → brief → provider output → media → page).

Only `Brief` and what is derived from it may cross the privacy boundary to a provider; everything here
except `Brief.story_hint` is public by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from builder.gifts.disclosure import Disclosure


@dataclass(frozen=True)
class Style:
    genre: str
    mood: str
    tempo: str


@dataclass(frozen=True)
class Brief:
    """What a provider is allowed to see: public fields plus a minimised story (PII removed)."""

    recipient_display_name: str
    from_display_name: str
    occasion: str
    style: Style
    story_hint: str = field(repr=False)  # minimised, but still the buyer's words: never in a repr or log
    seed: int  # deterministic per order, never derived from private values in a reversible way


@dataclass(frozen=True)
class Lyrics:
    title: str
    text: str
    provider: str  # provider kind, e.g. "offline" or "chat-completions"
    model: str = ""


@dataclass(frozen=True)
class AudioClip:
    data: bytes
    mime: str  # "audio/wav", "audio/mpeg", …
    extension: str  # "wav", "mp3", …
    duration_s: float
    provider: str
    prediction_id: str = ""


@dataclass(frozen=True)
class CoverArt:
    png: bytes
    provider: str


@dataclass(frozen=True)
class ProviderTiming:
    stage: str  # "lyrics" | "audio" | "cover"
    provider: str
    seconds: float
    outcome: str  # "ok" | error category


@dataclass(frozen=True)
class PublicGift:
    """The public fields of an order: the only order data a gift page may show."""

    recipient_display_name: str
    from_display_name: str
    occasion: str
    style: Style
    public_message: str
    has_cover_photo: bool


@dataclass(frozen=True)
class MediaFile:
    name: str  # file name inside the gift folder; never carries names from the order
    data: bytes
    mime: str
    seconds: float = 0.0  # audio: the decoded length (encoder padding trimmed), as a browser plays it


@dataclass(frozen=True)
class GiftPage:
    """Everything the gift page template needs, and the files published beside it."""

    token: str
    public: PublicGift
    lyrics: Lyrics
    audio: MediaFile
    cover: MediaFile
    cover_fallback: MediaFile | None
    social: MediaFile
    generated_at: datetime
    providers: dict[str, str]  # stage → provider kind, for the disclosure
    extra_files: list[MediaFile] = field(default_factory=list)

    @property
    def disclosure(self) -> Disclosure:
        """What made each stage (from its provider kind): every disclosure form on the page follows from it."""
        return Disclosure.of({"lyrics": self.lyrics.provider, "audio": "offline", "cover": "offline",
                              **self.providers})


@dataclass(frozen=True)
class PublishedGift:
    token: str
    url_path: str  # "gifts/<token>/"
    files: list[str]
    timings: list[ProviderTiming]
