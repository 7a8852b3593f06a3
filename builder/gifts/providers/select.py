"""Choose each stage's adapter from the provider settings (DESIGN.md section 5)."""

from __future__ import annotations

from collections.abc import Mapping

from builder.gifts.providers.base import Providers
from builder.gifts.providers.chat import ChatLyricsProvider
from builder.gifts.providers.http import Timeouts
from builder.gifts.providers.offline import OfflineAudio, OfflineCover, OfflineLyrics
from builder.gifts.providers.predictions import PredictionsAudioProvider
from builder.settings import ProviderSettings, load_settings


def select_providers(settings: ProviderSettings | Mapping[str, str]) -> Providers:
    """Chat Completions lyrics when GIFT_LYRICS_BASE_URL is set, predictions audio when GIFT_AUDIO_BASE_URL is
    set, offline otherwise; cover art is always drawn offline. A mapping of variables (tests) is read with
    `builder.settings.load_settings` first."""
    if not isinstance(settings, ProviderSettings):
        settings = load_settings(settings).providers
    connect = settings.connect_timeout_s
    lyrics = (
        ChatLyricsProvider(
            base_url=settings.lyrics_base_url,
            api_key=settings.lyrics_api_key,
            model=settings.lyrics_model,
            timeouts=Timeouts(connect_s=connect, total_s=settings.lyrics_timeout_s),
        )
        if settings.lyrics_base_url
        else OfflineLyrics()
    )
    audio = (
        PredictionsAudioProvider(
            base_url=settings.audio_base_url,
            api_key=settings.audio_api_key,
            model=settings.audio_model,
            timeouts=Timeouts(connect_s=connect, total_s=settings.audio_timeout_s),
            poll_interval_s=settings.audio_poll_s,
        )
        if settings.audio_base_url
        else OfflineAudio()
    )
    return Providers(lyrics=lyrics, audio=audio, cover=OfflineCover())
