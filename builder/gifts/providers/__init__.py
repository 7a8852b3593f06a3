"""Generation providers: one protocol per stage, an offline default and two remote adapters."""

from builder.gifts.providers.base import AudioProvider, CoverArtProvider, LyricsProvider, Providers
from builder.gifts.providers.chat import ChatLyricsProvider
from builder.gifts.providers.offline import OfflineAudio, OfflineCover, OfflineLyrics
from builder.gifts.providers.predictions import PredictionsAudioProvider
from builder.gifts.providers.select import select_providers

__all__ = [
    "AudioProvider",
    "ChatLyricsProvider",
    "CoverArtProvider",
    "LyricsProvider",
    "OfflineAudio",
    "OfflineCover",
    "OfflineLyrics",
    "PredictionsAudioProvider",
    "Providers",
    "select_providers",
]
