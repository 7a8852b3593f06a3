"""Text skeletons for leak checks: both sides of every comparison go through the same function.

The skeleton of a text (`fold`) is what it looks like, not how it was typed: HTML entities decoded (nested ones
too), Unicode NFKC, every format (Cf) character and invisible filler removed (zero-width and bidi controls,
soft hyphen, Hangul fillers, combining grapheme joiner, variation selectors, Arabic tatweel), look-alike letters
of other scripts mapped to the Latin letter they imitate (Unicode's confusables data, UTS #39, as shipped by
`confusable-homoglyphs`), case folded with Turkish dotted/dotless i folded alike, accents stripped, whitespace
collapsed. ASCII letters are never mapped to each other ("rn" stays "rn", "0" stays "0"): that would fold the
digits of phone numbers and collide ordinary words.

`words` splits a text into tokens carrying what the guard needs to tell a name from a word: where it starts,
whether it was capitalised, starts a sentence, is possessive, or was disguised (a look-alike, an invisible
character, an entity, letters spread across separators).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

# invisible characters that are not Cf: fillers, the grapheme joiner, variation selectors, tatweel, blank glyphs
_FILLERS = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u0640\u2800\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};?)")
_MAX_ENTITY_ROUNDS = 4  # "&amp;amp;#64;" and deeper nestings

# combining marks of the Latin, Greek, Cyrillic, Hebrew, Arabic, Indic and kana blocks (a regex is C-speed)
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963\u0981-\u0983\u09bc-\u09d7"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u302a-\u302f\u3099\u309a\ufe20-\ufe2f]"
)


def _scanned_planes() -> range:
    """Planes 0, 1 and 14 hold every Cf character Unicode has assigned (tags and language tags in 14)."""
    return range(0x20000)


@cache
def _invisible() -> frozenset[str]:
    found = {chr(cp) for cp in _scanned_planes() if unicodedata.category(chr(cp)) == "Cf"}
    found.update(chr(cp) for cp in range(0xE0000, 0xE1000) if unicodedata.category(chr(cp)) in ("Cf", "Mn"))
    found.update(_FILLERS)
    return frozenset(found)


def _ascii_prototype(source: str, target: str) -> str:
    """The Latin letters or digits a confusable imitates, in the case it shows; '' when it imitates no ASCII."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", target.replace("\u200e", ""))
                    if not unicodedata.combining(ch))
    if not (plain.isascii() and plain.isalnum()):
        return ""
    if source.isupper() and plain == "l":  # confusables.txt maps capital I to l; a capital shows as I
        return "i"
    return plain.casefold()


def _prototype_of(ch: str, data: dict[str, list[dict[str, str]]], *, follow: bool = True) -> str:
    """A letter's ASCII prototype, taken from its capital first so both cases of a letter map alike
    (confusables.txt maps Cyrillic В to B but в to a small capital). A letter whose prototype is not ASCII
    is read through the letters confusable with it once more, and a small capital as its letter (ĸ, ᴋ and κ
    are one class there, whose capital Κ is K)."""
    upper, lower = ch.upper(), ch.lower()
    for form in (upper, ch, lower):
        if len(form) != 1 or form.isascii():
            continue
        for entry in data.get(form, ()):
            prototype = _ascii_prototype(form, entry["c"])
            if prototype:
                return prototype
    name = unicodedata.name(ch, "")
    small_capital = re.fullmatch(r"LATIN LETTER SMALL CAPITAL ([A-Z])", name)
    if small_capital:
        return small_capital.group(1).lower()
    if follow:
        for form in (upper, ch, lower):
            for entry in data.get(form, ()) if len(form) == 1 else ():
                other = entry["c"].replace("\u200e", "")
                if len(other) == 1 and other != ch and not other.isascii():
                    prototype = _prototype_of(other, data, follow=False)
                    if prototype:
                        return prototype
    return ""


@cache
def _table() -> dict[int, str | None]:
    """str.translate table: invisibles removed, non-ASCII look-alikes to ASCII, Turkish i's to i."""
    data = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    sources = {ch for key in data if len(key) == 1 and not key.isascii()
               for ch in (key, key.lower(), key.upper()) if len(ch) == 1 and not ch.isascii()}
    table: dict[int, str | None] = {}
    for source in sources:
        prototype = _prototype_of(source, data)
        if prototype:
            table[ord(source)] = prototype
    table.update({ord("ı"): "i", ord("İ"): "i"})
    table.update(dict.fromkeys(map(ord, _invisible())))
    return table


def _strip_marks(text: str) -> str:
    if text.isascii():
        return text
    return _MARKS.sub("", unicodedata.normalize("NFKD", text))


def decode_entities(text: str) -> str:
    """HTML entities decoded, named, decimal and hex, nested ones ("&amp;#64;") too."""
    for _ in range(_MAX_ENTITY_ROUNDS):
        if "&" not in text:
            break
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


_OVERRIDE = re.compile("\u202e([^\u202c\n\u2029]*)")


def display_order(text: str) -> str:
    """Runs after U+202E RIGHT-TO-LEFT OVERRIDE are shown reversed ("\u202eikslawok" reads "kowalski")."""
    if "\u202e" not in text:
        return text
    return _OVERRIDE.sub(lambda m: m.group(1)[::-1], text)  # the override goes: reordering once is enough


def fold(text: str, *, entities: bool = True) -> str:
    """The skeleton: what a text looks like, single spaces between words. `entities=False` for text whose
    HTML-unescaped form is checked on its own (a file's bytes): binary data is full of stray ampersands."""
    if entities:
        text = decode_entities(text)
    if not text.isascii():
        table = _table()  # before NFKC too: it turns some look-alikes into other letters (lunate sigma ϲ to ς)
        text = unicodedata.normalize("NFKC", text.translate(table))
        text = _strip_marks(text.casefold()).translate(table)
    else:
        text = text.casefold()
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """The skeleton of one character ('' for an invisible one), without the whitespace collapse."""
    if ch.isascii():
        return ch.casefold()
    table = _table()
    piece = unicodedata.normalize("NFKC", ch.translate(table))
    return _strip_marks(piece.casefold()).translate(table)


def squash(folded: str) -> str:
    """A folded text with every space and punctuation mark removed (defeats altered spacing)."""
    return _NON_WORD.sub("", folded)


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() and ch.isascii())


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """`fold` (entities aside) without the whitespace collapse, plus for each folded character the index it
    came from."""
    out: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        piece = fold_char(ch)
        out.append(piece)
        where.extend([index] * len(piece))
    return "".join(out), where


def without_invisibles(text: str) -> str:
    """NFKC with format characters and fillers removed: the text as a reader sees it, its script kept."""
    invisible = dict.fromkeys(map(ord, _invisible()))
    return unicodedata.normalize("NFKC", text).translate(invisible) if not text.isascii() else text


# --- words ------------------------------------------------------------------------------------------------

_SENTENCE_END = set(".!?…:;\n\r\u2028\u2029")
_QUOTES = set("\"'“”‘’«»‹›()[]{}¡¿-–—*_~")
_APOSTROPHES = "'’ʼ`´"
_PIECE_JOINERS = set("-_.·‧•*~/|+'’")
_JOINABLE_GAP = 3  # "m a y a", "m-a-y-a", "m. a. y. a.": at most this many separator characters


@dataclass(frozen=True)
class Word:
    """One word of a text as the guard reads it."""

    skeleton: str
    start: int  # in the entity-decoded text
    end: int
    capitalised: bool
    sentence_start: bool
    possessive: bool
    disguised: bool  # look-alike letters of another script, invisible characters, entities, full-width forms
    joined: bool = False  # letters or pieces put together across separators
    plain: bool = True  # ASCII letters and digits only, as typed (no accent either)


@dataclass(frozen=True)
class Reading:
    """A text split into words, with the decoded text the positions refer to."""

    text: str
    words: tuple[Word, ...]

    def gap(self, left: Word, right: Word) -> str:
        return self.text[left.end : right.start]


def _decode_marked(text: str) -> tuple[str, list[bool]]:
    """`decode_entities`, remembering which characters an entity produced."""
    marks = [False] * len(text)
    for _ in range(_MAX_ENTITY_ROUNDS):
        if "&" not in text:
            break
        out: list[str] = []
        new_marks: list[bool] = []
        last = 0
        for match in _ENTITY.finditer(text):
            decoded = html.unescape(match.group())
            if decoded == match.group():
                continue
            out.append(text[last : match.start()])
            new_marks.extend(marks[last : match.start()])
            out.append(decoded)
            new_marks.extend([True] * len(decoded))
            last = match.end()
        if last == 0:
            break
        out.append(text[last:])
        new_marks.extend(marks[last:])
        text, marks = "".join(out), new_marks
    return text, marks


def _plain_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def read(text: str) -> Reading:
    """Split a text into words on its skeleton, invisible characters inside a word ignored."""
    decoded, from_entity = _decode_marked(text)
    words: list[Word] = []
    start = -1
    pieces: list[str] = []
    disguised = False
    plain = True
    first = ""

    def close(end: int) -> None:
        nonlocal start, pieces, disguised, first, plain
        if start >= 0 and pieces:
            words.append(Word(
                skeleton="".join(pieces),
                start=start,
                end=end,
                capitalised=first.isupper() or first.istitle(),
                sentence_start=_starts_sentence(decoded, start),
                possessive=_possessive(decoded, end),
                disguised=disguised,
                plain=plain and not disguised,
            ))
        start, pieces, disguised, first, plain = -1, [], False, "", True

    hidden_before = False  # an invisible character right before a word disguises it too
    for index, ch in enumerate(decoded):
        piece = fold_char(ch)
        if piece and piece.isalnum():
            if start < 0:
                start, first, disguised = index, ch, hidden_before
            pieces.append(piece)
            if from_entity[index] or (not ch.isascii() and piece != _accent_fold(ch)):
                disguised = True  # an accented letter of the name's own script is no disguise
            if not ch.isascii():
                plain = False
        elif not piece and not ch.isspace():
            hidden_before = True
            if start >= 0:
                disguised = True
            continue
        else:
            close(index)
        hidden_before = False
    close(len(decoded))
    return Reading(decoded, tuple(words))


@lru_cache(maxsize=65536)
def _accent_fold(ch: str) -> str:
    """A character case folded with its accents stripped, and nothing else (no NFKC, no look-alikes)."""
    return _strip_marks(ch.casefold()).replace("ı", "i")


def _starts_sentence(text: str, start: int) -> bool:
    index = start - 1
    while index >= 0 and (text[index] in _QUOTES or text[index] in " \t" or fold_char(text[index]) == ""):
        index -= 1
    if index < 0:
        return True
    ch = text[index]
    if ch in _SENTENCE_END:
        return True
    return not (ch.isalnum() or ch in ",&+/")  # after an emoji or a symbol: a new phrase


def _possessive(text: str, end: int) -> bool:
    rest = text[end : end + 3]
    return bool(rest) and rest[0] in _APOSTROPHES and (len(rest) == 1 or not rest[1].isalpha() or
                                                      (rest[1] in "sS" and (len(rest) == 2 or not rest[2].isalnum())))


def joined_words(reading: Reading, longest: int = 12) -> list[Word]:
    """Words put together across short separators: runs of single letters ("m a y a", "m-a-y-a", "m_a_y_a"),
    and two to `longest` pieces ("Ex-am-ple", "Exa mple"). Each joined word says how it was joined."""
    words = reading.words
    found: list[Word] = []
    i = 0
    while i < len(words):  # runs of single letters, as long as they go
        j = i
        while (j + 1 < len(words) and len(words[j].skeleton) == 1 and len(words[j + 1].skeleton) == 1
               and _joinable(reading.gap(words[j], words[j + 1]))):
            j += 1
        if j > i:
            found.append(_join(words[i : j + 1]))
            i = j + 1
        else:
            i += 1
    for i in range(len(words)):
        for k in range(2, longest + 1):
            piece = words[i : i + k]
            if len(piece) < k or not _piece_gap(reading.gap(piece[-2], piece[-1])):
                break
            found.append(_join(piece))
    return found


def _joinable(gap: str) -> bool:
    """Between single letters: up to three separator characters, one of them not a space ("m - a"), no line
    break."""
    return 0 < len(gap) <= _JOINABLE_GAP and "\n" not in gap and len(gap.replace(" ", "")) <= 1


def _piece_gap(gap: str) -> bool:
    """Between pieces of a word: up to three spaces of any kind, or one or two joiners ("Ex-am-ple", "O'Brien",
    "ex.ample", a non-breaking hyphen)."""
    if not gap or len(gap) > _JOINABLE_GAP or "\n" in gap:
        return False
    return gap.isspace() or (len(gap) <= 2 and all(ch in _PIECE_JOINERS or unicodedata.category(ch) == "Pd"
                                                   for ch in gap))


def _join(piece: list[Word]) -> Word:
    first, last = piece[0], piece[-1]
    return Word(
        skeleton="".join(w.skeleton for w in piece),
        start=first.start,
        end=last.end,
        capitalised=first.capitalised,
        sentence_start=first.sentence_start,
        possessive=last.possessive,
        disguised=any(w.disguised for w in piece),
        joined=True,
        plain=all(w.plain for w in piece),
    )
