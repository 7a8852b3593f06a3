"""Procedural lyrics from public fields only: verses and a chorus picked from phrase banks by seed, occasion
and mood. It never reads the story hint, so it can neither leak nor copy it."""

from __future__ import annotations

import random

from builder.gifts.contracts import Brief, Lyrics

KIND = "offline"
MODEL = "procedural-lyrics-v2"

OCCASION_LINES: dict[str, tuple[str, ...]] = {
    "birthday": (
        "another year is yours to keep",
        "the candles glow, the table sings",
        "a brand new year is at the door",
        "we count the years in laughter now",
        "make a wish and hold it near",
    ),
    "anniversary": (
        "the years have grown a garden here",
        "two hearts keep time the same old way",
        "every year a brand new vow",
        "we wrote our story line by line",
        "still dancing in the kitchen light",
    ),
    "wedding": (
        "two paths have found a single road",
        "the bells ring out across the hill",
        "today the promise starts to grow",
        "hand in hand and heart to heart",
        "a thousand mornings side by side",
    ),
    "graduation": (
        "the tassel turns, the world is wide",
        "every page has led you here",
        "go and chase the open sky",
        "you earned the road that lies ahead",
        "the hallway lights are fading now",
    ),
    "thank-you": (
        "you carried more than you would say",
        "a kindness that I won't forget",
        "you showed up every time I called",
        "your steady hand, your open door",
        "this song is just a way to say",
    ),
    "new-baby": (
        "a tiny hand, a brand new name",
        "the world got softer overnight",
        "little one, the stars are near",
        "we count your breaths, we count our luck",
        "a lullaby for someone new",
    ),
    "retirement": (
        "the clock can rest, the days are yours",
        "you gave the years, now take the time",
        "a slower sun, a longer road",
        "the work is done, the garden calls",
        "here's to mornings with no alarm",
    ),
    "just-because": (
        "no reason but the one I've got",
        "an ordinary day made bright",
        "just because you're who you are",
        "I didn't need a date to say",
        "a little song for no good reason",
    ),
}
MOOD_IMAGES: dict[str, tuple[str, ...]] = {
    "warm": (
        "golden light on the windowsill",
        "a blanket and a cup of tea",
        "the hearth is glowing low and slow",
        "your laughter warms the winter air",
        "the porch light left on just for you",
    ),
    "joyful": (
        "the confetti in the summer breeze",
        "we're dancing barefoot on the lawn",
        "the radio is turned up loud",
        "the sun came out to sing along",
        "a hundred balloons in a bright blue sky",
    ),
    "tender": (
        "a whisper in the quiet hall",
        "the softest rain upon the glass",
        "I hold this moment like a flower",
        "the evening folds its gentle wings",
        "a candle burning, small and sure",
    ),
    "nostalgic": (
        "old photographs in a paper box",
        "the summers that we thought would last",
        "a song we played a hundred times",
        "the streetlights of the town we knew",
        "a faded ticket in my coat",
    ),
    "playful": (
        "a paper plane across the room",
        "we're laughing till we lose our breath",
        "a silly dance, a goofy grin",
        "the cat is wearing party hats",
        "we're racing shadows down the street",
    ),
    "epic": (
        "the mountains echo with your name",
        "a thunder rolling over the sea",
        "the banners rise above the plain",
        "a fire burning through the night",
        "we ride the storm and hold the line",
    ),
}
CHORUS_HOOKS: dict[str, tuple[str, ...]] = {
    "warm": ("so here's to you, {name}, here's to you", "{name}, you make the whole world feel like home"),
    "joyful": ("sing it loud for {name} tonight", "hey {name}, the day is yours"),
    "tender": ("{name}, I hope you always know", "softly, {name}, this one's for you"),
    "nostalgic": ("{name}, remember how we used to be", "back again to you, {name}, back again"),
    "playful": ("oh {name}, you're the best kind of trouble", "{name}, {name}, spin around"),
    "epic": ("{name}, the world will hear your name", "rise up, {name}, the sky is yours"),
}
OUTROS = (  # whole couplets, so the last two lines always read as one thought; varied, so a regeneration can
    # step around a word that happens to be a private surname
    ("and if the night gets long", "play this song from {sender}"),
    ("whatever the years may bring", "{sender} is with you through everything"),
    ("so when the sky goes grey", "let this song from {sender} play"),
    ("and if the world goes quiet too", "this song from {sender} is for you"),
    ("and when the road turns cold", "{sender}'s song is yours to hold"),
)
TITLES = ("A Song for {name}", "{name}'s Song", "Here's to {name}", "{Image} ({name})", "For {name}, With Love")


def write_offline_lyrics(brief: Brief) -> Lyrics:
    """Deterministic per brief: the same seed and public fields give the same song. Every line is printed
    once: two verses, one chorus (two different hook lines around it) and an outro couplet."""
    rng = random.Random(brief.seed)
    name, sender = brief.recipient_display_name, brief.from_display_name
    occasion = list(OCCASION_LINES.get(brief.occasion, OCCASION_LINES["just-because"]))
    images = list(MOOD_IMAGES.get(brief.style.mood, MOOD_IMAGES["warm"]))
    rng.shuffle(occasion)
    rng.shuffle(images)
    hooks = [hook.format(name=name) for hook in CHORUS_HOOKS.get(brief.style.mood, CHORUS_HOOKS["warm"])]
    rng.shuffle(hooks)
    outro = [line.format(sender=sender) for line in rng.choice(OUTROS)]
    sections = [
        ("Verse 1", [images[1], occasion[1], images[2], occasion[2]]),
        ("Chorus", [hooks[0], occasion[0], images[0], hooks[1]]),
        ("Verse 2", [occasion[3], images[3], occasion[4], images[4]]),
        ("Outro", outro),
    ]
    text = "\n\n".join(f"[{label}]\n" + "\n".join(_capital(line) for line in lines) for label, lines in sections)
    title = rng.choice(TITLES).format(name=name, Image=_capital(images[0].split(" in ")[0]))
    return Lyrics(title=title, text=text, provider=KIND, model=MODEL)


def _capital(line: str) -> str:
    return line[:1].upper() + line[1:]


class OfflineLyrics:
    kind = KIND

    def write(self, brief: Brief) -> Lyrics:
        return write_offline_lyrics(brief)
