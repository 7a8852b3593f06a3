"""A real, playable song synthesised locally: a chord progression per genre, a seeded melody, bass and (for
some genres) a kick drum, 20–40 s of mono 16-bit PCM at 22.05 kHz. Pure Python and fast: each note is one
period of a waveform repeated by list multiplication, and voices are mixed with `map(operator.add, …)`."""

from __future__ import annotations

import io
import math
import random
import wave
from array import array
from functools import lru_cache
from itertools import repeat
from operator import add, mul, rshift

from builder.gifts.contracts import AudioClip, Brief, Lyrics

KIND = "offline"
RATE = 22050
TARGET_SECONDS = 28.0
TEMPO_BPM = {"slow": 76, "medium": 104, "fast": 132}
MOOD_ROOT = {"warm": 48, "joyful": 50, "tender": 53, "nostalgic": 45, "playful": 55, "epic": 50}  # MIDI notes
MINOR_MOODS = {"nostalgic", "epic"}
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = {  # scale degrees (0-based) of each bar's chord
    "pop": (0, 4, 5, 3), "folk": (0, 3, 0, 4), "rock": (0, 6, 3, 0), "jazz": (1, 4, 0, 5),
    "acoustic": (0, 5, 3, 4), "country": (0, 3, 4, 0), "lullaby": (0, 3, 0, 4), "hip-hop": (5, 3, 0, 4),
}
HARMONICS = {  # relative strengths of partials: the timbre
    "pop": (1.0, 0.5, 0.25), "folk": (1.0, 0.6, 0.3, 0.15), "rock": (1.0, 0.7, 0.5, 0.35, 0.2), "jazz": (1.0, 0.3),
    "acoustic": (1.0, 0.55, 0.3, 0.1), "country": (1.0, 0.6, 0.4, 0.2), "lullaby": (1.0, 0.15), "hip-hop": (1.0, 0.4),
}
KICK_GENRES = {"pop", "rock", "hip-hop", "country"}
ENV_BITS = 10


def compose_offline_audio(brief: Brief) -> AudioClip:
    """Deterministic per brief (seed, genre, mood, tempo)."""
    rng = random.Random(brief.seed)
    genre, mood = brief.style.genre, brief.style.mood
    bpm = TEMPO_BPM.get(brief.style.tempo, 104) - (12 if genre == "lullaby" else 0)
    beat = round(RATE * 60 / bpm)
    bars = max(8, round(TARGET_SECONDS * bpm / 60 / 4))
    scale = MINOR if mood in MINOR_MOODS else MAJOR
    root = MOOD_ROOT.get(mood, 48) + rng.choice((0, 2, -3))
    progression = PROGRESSIONS.get(genre, PROGRESSIONS["pop"])
    harmonics = HARMONICS.get(genre, HARMONICS["pop"])
    phrases = [_phrase(rng, progression) for _ in range(2)]  # verse and chorus melodies
    kick = genre in KICK_GENRES
    rendered: dict[tuple[int, int], list[int]] = {}
    samples: list[int] = []
    for bar in range(bars - 1):
        phrase = 0 if (bar // 4) % 3 != 1 else 1  # verse, chorus, verse…
        key = (phrase, bar % 4)
        if key not in rendered:
            rendered[key] = _bar(root, scale, progression[bar % 4], phrases[phrase][bar % 4], harmonics, beat, kick)
        samples += rendered[key]
    samples += _ending(root, scale, harmonics, beat)
    pcm = array("h", samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(pcm.tobytes())
    return AudioClip(data=buffer.getvalue(), mime="audio/wav", extension="wav", duration_s=len(pcm) / RATE,
                     provider=KIND)


def _phrase(rng: random.Random, progression: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Four bars of four melody notes (scale degrees), leaning on each bar's chord tones."""
    bars = []
    for degree in progression:
        chord_tones = (degree, degree + 2, degree + 4)
        notes = [rng.choice(chord_tones) + 7 for _ in range(4)]
        notes[rng.randrange(1, 4)] += rng.choice((-1, 1))  # one passing note per bar
        bars.append(tuple(notes))
    return bars


def _midi(root: int, scale: tuple[int, ...], degree: int) -> int:
    octave, step = divmod(degree, len(scale))
    return root + 12 * octave + scale[step]


@lru_cache(maxsize=256)
def _period(midi: int, harmonics: tuple[float, ...], amplitude: int) -> tuple[int, ...]:
    """One period of a note with the given partials, as integer samples."""
    frequency = 440.0 * 2 ** ((midi - 69) / 12)
    length = max(2, round(RATE / frequency))
    norm = amplitude / sum(harmonics)
    return tuple(
        round(norm * sum(h * math.sin(2 * math.pi * (k + 1) * i / length) for k, h in enumerate(harmonics)))
        for i in range(length)
    )


def _tone(midi: int, harmonics: tuple[float, ...], amplitude: int, length: int) -> list[int]:
    period = _period(midi, harmonics, amplitude)
    return list(period * (length // len(period) + 1))[:length]


@lru_cache(maxsize=16)
def _envelope(length: int, attack: int, release_shape: float) -> tuple[int, ...]:
    """Attack then exponential-ish decay, scaled to 2**ENV_BITS."""
    full = 1 << ENV_BITS
    return tuple(
        full * i // attack if i < attack else int(full * math.exp(-release_shape * (i - attack) / length))
        for i in range(length)
    )


def _shaped(voice: list[int], envelope: tuple[int, ...]) -> list[int]:
    return list(map(rshift, map(mul, voice, envelope), repeat(ENV_BITS)))


def _mix(*voices: list[int]) -> list[int]:
    total = voices[0]
    for voice in voices[1:]:
        total = list(map(add, total, voice))
    return total


@lru_cache(maxsize=8)
def _kick(length: int) -> tuple[int, ...]:
    return tuple(
        round(5000 * math.exp(-i / (RATE * 0.05)) * math.sin(2 * math.pi * (50 + 90 * math.exp(-i / 800)) * i / RATE))
        for i in range(length)
    )


def _bar(root: int, scale: tuple[int, ...], degree: int, melody: tuple[int, ...], harmonics: tuple[float, ...],
         beat: int, kick: bool) -> list[int]:
    lead: list[int] = []
    for note in melody:
        lead += _note(_midi(root, scale, note), harmonics, beat)
    voices = [list(_pad(_midi(root, scale, degree), _midi(root, scale, degree + 2), _midi(root, scale, degree + 4),
                        harmonics, beat)), lead]
    if kick:
        drum = list(_kick(beat))
        silence = [0] * beat
        voices.append(drum + silence + drum + silence)
    return _mix(*voices)


@lru_cache(maxsize=32)
def _pad(first: int, third: int, fifth: int, harmonics: tuple[float, ...], beat: int) -> tuple[int, ...]:
    """A sustained chord with its bass note, for one bar."""
    length = beat * 4
    chord = [_tone(midi, harmonics, 2600, length) for midi in (first, third, fifth)]
    bass = _tone(first - 12, (1.0, 0.3), 4200, length)
    return tuple(_shaped(_mix(*chord, bass), _envelope(length, RATE // 20, 1.2)))


@lru_cache(maxsize=64)
def _note(midi: int, harmonics: tuple[float, ...], beat: int) -> tuple[int, ...]:
    """One melody note, a beat long, plucked."""
    return tuple(_shaped(_tone(midi, harmonics, 7000, beat), _envelope(beat, RATE // 100, 3.0)))


def _ending(root: int, scale: tuple[int, ...], harmonics: tuple[float, ...], beat: int) -> list[int]:
    length = beat * 4
    tones = [_tone(_midi(root, scale, offset), harmonics, 2600, length) for offset in (0, 2, 4, 7)]
    return _shaped(_mix(*tones), _envelope(length, RATE // 20, 4.0))


class OfflineAudio:
    kind = KIND

    def compose(self, brief: Brief, lyrics: Lyrics, *, known_prediction_id: str | None = None,
                on_prediction_created: object = None) -> AudioClip:
        del lyrics, known_prediction_id, on_prediction_created  # procedural: no words, no remote job
        return compose_offline_audio(brief)
