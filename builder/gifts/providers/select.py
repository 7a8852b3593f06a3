"""Choose each stage's adapter from the environment (DESIGN.md section 5)."""

from __future__ import annotations

from collections.abc import Mapping

from builder.gifts.providers.base import Providers
from builder.gifts.providers.chat import ChatLyricsProvider
from builder.gifts.providers.http import Timeouts
from builder.gifts.providers.offline import OfflineAudio, OfflineCover, OfflineLyrics
from builder.gifts.providers.predictions import PredictionsAudioProvider


def select_providers(env: Mapping[str, str]) -> Providers:
    """Chat Completions lyrics when GIFT_LYRICS_BASE_URL is set, predictions audio when GIFT_AUDIO_BASE_URL is
    set, offline otherwise; cover art is always drawn offline. Optional: GIFT_LYRICS_MODEL, GIFT_AUDIO_MODEL,
    GIFT_PROVIDER_CONNECT_TIMEOUT_S, GIFT_LYRICS_TIMEOUT_S, GIFT_AUDIO_TIMEOUT_S, GIFT_AUDIO_POLL_S."""
    connect = _seconds(env, "GIFT_PROVIDER_CONNECT_TIMEOUT_S", 5.0)
    lyrics_base = env.get("GIFT_LYRICS_BASE_URL", "").strip()
    audio_base = env.get("GIFT_AUDIO_BASE_URL", "").strip()
    lyrics = (
        ChatLyricsProvider(
            base_url=lyrics_base,
            api_key=env.get("GIFT_LYRICS_API_KEY", ""),
            model=env.get("GIFT_LYRICS_MODEL", "").strip() or "gpt-4o-mini",
            timeouts=Timeouts(connect_s=connect, total_s=_seconds(env, "GIFT_LYRICS_TIMEOUT_S", 60.0)),
        )
        if lyrics_base
        else OfflineLyrics()
    )
    audio = (
        PredictionsAudioProvider(
            base_url=audio_base,
            api_key=env.get("GIFT_AUDIO_API_KEY", ""),
            model=env.get("GIFT_AUDIO_MODEL", "").strip(),
            timeouts=Timeouts(connect_s=connect, total_s=_seconds(env, "GIFT_AUDIO_TIMEOUT_S", 300.0)),
            poll_interval_s=_seconds(env, "GIFT_AUDIO_POLL_S", 1.0),
        )
        if audio_base
        else OfflineAudio()
    )
    return Providers(lyrics=lyrics, audio=audio, cover=OfflineCover())


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default
