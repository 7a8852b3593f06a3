"""The embedded default providers: deterministic per order, no network, honest that they are procedural."""

from builder.gifts.providers.offline.audio import OfflineAudio, compose_offline_audio
from builder.gifts.providers.offline.cover import OfflineCover, draw_offline_cover
from builder.gifts.providers.offline.lyrics import OfflineLyrics, write_offline_lyrics

__all__ = [
    "OfflineAudio",
    "OfflineCover",
    "OfflineLyrics",
    "compose_offline_audio",
    "draw_offline_cover",
    "write_offline_lyrics",
]
