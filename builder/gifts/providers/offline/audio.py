"""A real, playable song synthesised locally: a chord progression per genre, a seeded melody, bass and (for
some genres) a kick drum, 20–40 s of mono 16-bit PCM at 22.05 kHz. Pure Python and fast: each note is one
period of a waveform repeated by list multiplication, and voices are mixed with `map(operator.add, …)`.

The song follows its lyrics (`song_timing`): a bar of intro, then each stanza in turn (a line a bar, or two
lines a bar below 100 bpm; the chorus on its own melody), instrumental bars when the words are too few for
20 s, and a closing chord; stanzas that would run past 40 s are left out of the music."""

from __future__ import annotations

import io
import math
import random
import re
import wave
from array import array
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import add, mul, rshift

from builder.gifts.contracts import AudioClip, Brief, Lyrics

KIND = "offline"
RATE = 22050
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
MIN_SECONDS, MAX_SECONDS = 20.0, 40.0
_LABEL = re.compile(r"\[([^\[\]]{1,40})\]")


@dataclass(frozen=True)
class TimedSection:
    label: str  # "Intro", "Verse 1", "Chorus", …, "Instrumental", "Ending"
    lines: int  # lyric lines sung over it
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SongTiming:
    """Where each stanza of the lyrics falls in the offline song; `duration_s` is the song's exact length."""

    sections: tuple[TimedSection, ...]
    duration_s: float
    bpm: int


def tempo_bpm(genre: str, tempo: str) -> int:
    return TEMPO_BPM.get(tempo, 104) - (12 if genre == "lullaby" else 0)


def song_timing(genre: str, tempo: str, lyrics_text: str) -> SongTiming:
    """The arrangement of a song for these lyrics (see the module docstring), in whole bars of 4 beats."""
    bpm = tempo_bpm(genre, tempo)
    bar_s = 4 * round(RATE * 60 / bpm) / RATE
    stanzas = _stanzas(lyrics_text)
    lines_per_bar = 1 if bpm >= 100 and (2 + sum(n for _, n in stanzas)) * bar_s <= MAX_SECONDS else 2
    plan: list[tuple[str, int, int]] = [("Intro", 0, 1)]  # (label, lines, bars)
    for label, lines in stanzas:
        bars = max(1, math.ceil(lines / lines_per_bar))
        if (sum(b for _, _, b in plan) + bars + 1) * bar_s > MAX_SECONDS:
            break  # the rest of the words are not sung
        plan.append((label, lines, bars))
    while (sum(b for _, _, b in plan) + 1) * bar_s < MIN_SECONDS:
        plan.append(("Instrumental", 0, 1))
    plan.append(("Ending", 0, 1))
    sections, start = [], 0
    for label, lines, bars in plan:
        sections.append(TimedSection(label, lines, start * bar_s, (start + bars) * bar_s))
        start += bars
    return SongTiming(tuple(sections), start * bar_s, bpm)


def _stanzas(text: str) -> list[tuple[str, int]]:
    """(label, number of lines) per blank-line-separated stanza."""
    result = []
    for number, block in enumerate(re.split(r"\n\s*\n", text.replace("\r", "").strip()), start=1):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        label = f"Stanza {number}"
        if lines and (match := _LABEL.fullmatch(lines[0])):
            label, lines = match.group(1).strip(), lines[1:]
        if lines:
            result.append((label, len(lines)))
    return result


def compose_offline_audio(brief: Brief, lyrics_text: str = "") -> AudioClip:
    """Deterministic per brief (seed, genre, mood, tempo) and lyrics (their stanzas set the arrangement)."""
    rng = random.Random(brief.seed)
    genre, mood = brief.style.genre, brief.style.mood
    timing = song_timing(genre, brief.style.tempo, lyrics_text)
    beat = round(RATE * 60 / timing.bpm)
    scale = MINOR if mood in MINOR_MOODS else MAJOR
    root = MOOD_ROOT.get(mood, 48) + rng.choice((0, 2, -3))
    progression = PROGRESSIONS.get(genre, PROGRESSIONS["pop"])
    harmonics = HARMONICS.get(genre, HARMONICS["pop"])
    phrases = [_phrase(rng, progression) for _ in range(2)]  # verse and chorus melodies
    kick = genre in KICK_GENRES
    rendered: dict[tuple[int, int], list[int]] = {}
    samples: list[int] = []
    for section in timing.sections[:-1]:
        phrase = 1 if section.label.lower().startswith("chorus") else 0  # the chorus has its own melody
        bars = round((section.end_s - section.start_s) / (4 * beat / RATE))
        for bar in range(bars):
            key = (phrase, bar % 4)
            if key not in rendered:
                rendered[key] = _bar(root, scale, progression[bar % 4], phrases[phrase][bar % 4], harmonics, beat,
                                     kick)
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

    def compose(self, brief: Brief, lyrics: Lyrics, *, journal: object = None) -> AudioClip:
        del journal  # procedural: no remote job, nothing paid
        return compose_offline_audio(brief, lyrics.text)
