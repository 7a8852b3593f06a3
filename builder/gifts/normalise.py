"""Text folding for leak checks: both sides of every comparison go through the same function.

NFKC, diacritics stripped, casefolded, zero-width and soft-hyphen characters removed, whitespace collapsed.
`fold_with_map` does the same while remembering where each folded character came from, so a match in the
folded text can be cut out of the original.
"""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"))
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")


# combining marks of the Latin, Greek, Cyrillic, Hebrew, Arabic, Indic and kana blocks (a regex is C-speed)
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963\u0981-\u0983\u09bc-\u09d7"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u302a-\u302f\u3099\u309a\ufe20-\ufe2f]"
)


def _strip_marks(text: str) -> str:
    if text.isascii():
        return text
    return _MARKS.sub("", unicodedata.normalize("NFKD", text))


def fold(text: str) -> str:
    """The comparison form: accent-, case-, width- and spacing-insensitive, single spaces between words."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = _strip_marks(text).casefold()
    return _SPACE.sub(" ", text).strip()


def squash(folded: str) -> str:
    """A folded text with every space and punctuation mark removed (defeats altered spacing)."""
    return _NON_WORD.sub("", folded)


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() and ch.isascii())


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """`fold` without the whitespace collapse, plus for each folded character the index it came from."""
    out: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        piece = _strip_marks(unicodedata.normalize("NFKC", ch).translate(_INVISIBLE)).casefold()
        out.append(piece)
        where.extend([index] * len(piece))
    return "".join(out), where
