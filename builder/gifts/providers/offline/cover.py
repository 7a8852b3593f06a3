"""Cover art drawn with Pillow: a mood palette as a diagonal gradient, soft seeded shapes and sound-wave rings.
1024×1024 PNG, no text and no metadata (media adds the disclosure stamp and marking)."""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw, ImageFilter

from builder.gifts.contracts import Brief, CoverArt, Lyrics

KIND = "offline"
SIZE = 1024
PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {  # top, bottom, accents…
    "warm": ((252, 196, 120), (196, 82, 62), (255, 236, 190), (240, 140, 90)),
    "joyful": ((255, 214, 90), (240, 90, 140), (120, 220, 255), (255, 255, 255)),
    "tender": ((246, 212, 226), (150, 160, 215), (255, 245, 250), (200, 180, 235)),
    "nostalgic": ((224, 196, 150), (92, 84, 120), (250, 232, 200), (170, 120, 110)),
    "playful": ((120, 230, 200), (250, 120, 180), (255, 240, 120), (110, 150, 255)),
    "epic": ((40, 50, 110), (10, 10, 30), (255, 180, 80), (120, 200, 255)),
}


def draw_offline_cover(brief: Brief) -> CoverArt:
    """Deterministic per brief: palette by mood, composition by seed and genre."""
    rng = random.Random(brief.seed ^ 0xC0FE)
    top, bottom, *accents = PALETTES.get(brief.style.mood, PALETTES["warm"])
    image = _gradient(top, bottom, angle=rng.uniform(-0.4, 0.4))
    glow = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(glow)
    for _ in range(rng.randint(5, 9)):
        radius = rng.randint(60, 260)
        x, y = rng.randint(0, SIZE), rng.randint(0, SIZE)
        color = (*rng.choice(accents), rng.randint(40, 110))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
    glow = glow.convert("RGBa").filter(ImageFilter.GaussianBlur(28)).convert("RGBA")  # premultiplied: no dark halos
    image = Image.alpha_composite(image.convert("RGBA"), glow)
    rings = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    ring_draw = ImageDraw.Draw(rings)
    cx, cy = SIZE // 2 + rng.randint(-120, 120), SIZE // 2 + rng.randint(-120, 120)
    spacing = {"slow": 46, "medium": 34, "fast": 24}.get(brief.style.tempo, 34)
    for index in range(1, 14):
        r = index * spacing + rng.randint(-4, 4)
        ring_draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(255, 255, 255, max(20, 150 - index * 10)), width=3)
    _waveform(ring_draw, rng, brief.style.genre)
    image = Image.alpha_composite(image, rings).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return CoverArt(png=buffer.getvalue(), provider=KIND)


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], *, angle: float) -> Image.Image:
    big = SIZE * 3 // 2
    margin = (big - SIZE) // 2
    mask = Image.linear_gradient("L").resize((big, big)).rotate(math.degrees(angle), resample=Image.Resampling.BILINEAR)
    mask = mask.crop((margin, margin, margin + SIZE, margin + SIZE))  # rotated inside a larger square: no corners
    return Image.composite(Image.new("RGB", (SIZE, SIZE), bottom), Image.new("RGB", (SIZE, SIZE), top), mask)


def _waveform(draw: ImageDraw.ImageDraw, rng: random.Random, genre: str) -> None:
    """A row of bars near the bottom, like a song's waveform; spikier for louder genres."""
    loud = genre in ("rock", "hip-hop", "pop")
    baseline, bars = int(SIZE * 0.82), 48
    width = SIZE // bars
    for index in range(bars):
        height = int((rng.random() ** (0.6 if loud else 1.4)) * (140 if loud else 90)) + 6
        x = index * width + width // 4
        draw.rounded_rectangle((x, baseline - height, x + width // 2, baseline + height // 3), radius=4,
                               fill=(255, 255, 255, 170))


class OfflineCover:
    kind = KIND

    def draw(self, brief: Brief, lyrics: Lyrics) -> CoverArt:
        del lyrics  # the art follows the style, not the words
        return draw_offline_cover(brief)
