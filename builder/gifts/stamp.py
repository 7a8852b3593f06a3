"""The visible disclosure: a badge drawn into the pixels ("Made with AI", or "Made by software" for the built-in
procedural generator), and the 1200×630 social card.

The social card shows the cover art, the badge and a generic line: it never carries a name, because link
previews travel further than the gift's link.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from builder.gifts.marking import AI_DISCLOSURE_TEXT
from builder.gifts.photo import cover_crop

SOCIAL_SIZE = (1200, 630)
SOCIAL_HEADLINE = "A song made for someone special"
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
              Path("/usr/share/fonts/truetype/liberation"))
_BOLD_FONTS = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf")
_INK = (255, 255, 255)
_BADGE = (28, 22, 36)


@cache
def _font_file() -> str | None:
    for folder in _FONT_DIRS:
        for name in _BOLD_FONTS:
            if (folder / name).is_file():
                return str(folder / name)
    return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    if path:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)  # Pillow's bundled font: the stamp never depends on the system


def stamp_ai_badge(image: Image.Image, text: str = AI_DISCLOSURE_TEXT) -> Image.Image:
    """A copy of `image` with a legible badge (default "Made with AI") in its bottom-right corner."""
    stamped = image.convert("RGB")
    width, height = stamped.size
    font = _font(max(12, round(min(width, height) * 0.045)))
    draw = ImageDraw.Draw(stamped, "RGBA")
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad_x, pad_y = round((bottom - top) * 0.7), round((bottom - top) * 0.45)
    margin = round(min(width, height) * 0.035)
    box_w, box_h = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    x0, y0 = width - margin - box_w, height - margin - box_h
    draw.rounded_rectangle((x0, y0, x0 + box_w, y0 + box_h), radius=box_h // 2, fill=(*_BADGE, 225),
                           outline=(255, 255, 255, 150), width=max(1, box_h // 18))
    draw.text((x0 + pad_x - left, y0 + pad_y - top), text, font=font, fill=_INK)
    return stamped


def social_card(art: Image.Image, badge: str = AI_DISCLOSURE_TEXT) -> Image.Image:
    """The 1200×630 link-preview image: the art, a soft shade, a generic headline and the AI badge (no names)."""
    width, height = SOCIAL_SIZE
    # blur at a quarter size and scale up: the same soft backdrop (mean pixel difference 0.1/255), ~3× faster
    small = cover_crop(art.convert("RGB"), (width // 4, height // 4)).filter(ImageFilter.GaussianBlur(18 / 4))
    backdrop = small.resize(SOCIAL_SIZE, Image.Resampling.BICUBIC)
    card = Image.blend(backdrop, Image.new("RGB", SOCIAL_SIZE, (30, 20, 40)), 0.45)
    square = cover_crop(art.convert("RGB"), (height - 120, height - 120))
    card.paste(square, (60, 60))
    draw = ImageDraw.Draw(card, "RGBA")
    draw.rectangle((60, 60, 60 + square.width - 1, 60 + square.height - 1), outline=(255, 255, 255, 120), width=2)
    text_x = 60 + square.width + 56
    heading = _font(54)
    lines = _wrap(SOCIAL_HEADLINE, heading, width - text_x - 60, draw)
    y = 170
    for line in lines:
        draw.text((text_x, y), line, font=heading, fill=_INK)
        y += 70
    draw.text((text_x, y + 20), "Lyrics, music and cover art", font=_font(30), fill=(245, 230, 220))
    return stamp_ai_badge(card, badge)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int,
          draw: ImageDraw.ImageDraw) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines
