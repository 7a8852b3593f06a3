"""The privacy guard: minimise what a provider sees, and refuse any output that would publish private input.

Two kinds of check:
- `check_text` is for text that goes onto a page (lyrics, titles, public fields): private values, copies of
  the story, and PII patterns (emails, phones, URLs, card numbers).
- `check_bytes` is the last line of defence over every published file (HTML, JSON, images, audio): private
  values and story copies in any decoding of the bytes. Generic patterns are not applied there, because
  pages rightly hold URLs (schema.org, IPTC) and binary data is full of digit runs; every piece of text put
  into a file has passed `check_text` first.
A violation raises `GuardViolation(category)`; the category is one of `CATEGORIES`, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import unquote

from builder.errors import GuardViolation
from builder.gifts import containers, pii
from builder.gifts.contracts import Brief, Style
from builder.gifts.normalise import digits, fold, fold_with_map, squash
from builder.gifts.order import Order, private_names, private_values

CATEGORIES = ("private_value", "story_copy", "pii_email", "pii_phone", "pii_card", "pii_url")
STORY_RUN_WORDS = 8
SHINGLE = 32  # squashed characters: a copy with its spacing altered, about seven words
SHINGLE_STEP = 4
MIN_SQUASHED = 6  # shorter values are matched as whole words only
MIN_BINARY_NAME = 5  # short name parts occur by chance in binary data
MAX_HINT_CHARS = 1200
_SEED_LABEL = b"giftboard/gift-seed/v1"


@dataclass(frozen=True)
class _Needles:
    """What to look for, folded once per order."""

    values: tuple[str, ...]  # folded full values (names, emails, key)
    squashed: tuple[str, ...]
    names: tuple[str, ...]  # folded private name parts, matched as whole words
    phones: tuple[str, ...]  # digits of phone numbers found in private values
    story_grams: frozenset[tuple[str, ...]]
    story_shingles: frozenset[str]
    words_text: re.Pattern[str] | None  # values and names as one pattern, for text
    words_binary: re.Pattern[str] | None  # the same without short name parts, for binary data


# --- minimising -------------------------------------------------------------------------------------------


def order_seed(order: Order) -> int:
    """A seed deterministic per order: an HMAC of the idempotency key under a fixed label."""
    mac = hmac.new(_SEED_LABEL, order.idempotency_key.get_secret_value().encode(), hashlib.sha256)
    return int.from_bytes(mac.digest()[:8], "big")


def reseed(brief: Brief, regeneration: int) -> Brief:
    """The brief for the n-th regeneration: same content, a different (still deterministic) seed."""
    if regeneration == 0:
        return brief
    mac = hmac.new(_SEED_LABEL, f"{brief.seed}:{regeneration}".encode(), hashlib.sha256)
    return replace(brief, seed=int.from_bytes(mac.digest()[:8], "big"))


def minimise(order: Order) -> Brief:
    """What a provider may see: public fields plus the story with emails, phones, addresses, card numbers,
    URLs, long numbers and the buyer's and recipient's private names removed."""
    hint = _minimise_story(order)
    needles = _needles(order)
    folded = fold(hint)
    if _private_hit(needles, folded, binary=False, story=False) or _pattern_hit(hint):
        hint = ""  # the minimiser missed something: send no story rather than a leaky one
    return Brief(
        recipient_display_name=order.recipient.display_name,
        from_display_name=order.from_display_name,
        occasion=order.occasion,
        style=Style(genre=order.style.genre, mood=order.style.mood, tempo=order.style.tempo),
        story_hint=hint,
        seed=order_seed(order),
    )


def _minimise_story(order: Order) -> str:
    story = order.story.get_secret_value()
    for finder in (pii.emails, pii.urls, pii.cards, pii.phones, pii.addresses, pii.long_numbers):
        story = _cut(story, finder(story), "")
    buyer, recipient = order.buyer.name.get_secret_value(), order.recipient.full_name.get_secret_value()
    story = _replace_name(story, buyer, order.from_display_name)
    story = _replace_name(story, recipient, order.recipient.display_name)
    story = _replace_name(story, order.idempotency_key.get_secret_value(), "")
    for part in private_names(order):
        story = _replace_name(story, part, "")
    story = re.sub(r"[ \t]+([,.;:!?])", r"\1", story)
    story = re.sub(r"\s+", " ", story).strip()
    if len(story) > MAX_HINT_CHARS:
        story = story[:MAX_HINT_CHARS].rsplit(" ", 1)[0]
    return story


def _cut(text: str, spans: Iterable[tuple[int, int]], replacement: str) -> str:
    merged: list[list[int]] = []
    for start, end in sorted(spans):  # overlapping spans (one phone found by several regions) become one
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + replacement + text[end:]
    return text


def _replace_name(text: str, name: str, replacement: str) -> str:
    """Replace a name wherever it occurs, ignoring case, accents and width, as a whole word."""
    needle = fold(name)
    if not needle:
        return text
    folded, where = fold_with_map(text)
    pattern = _word_pattern(needle)
    spans = [(where[m.start()], where[m.end() - 1] + 1) for m in pattern.finditer(folded)]
    return _cut(text, spans, f" {replacement} " if replacement else " ")


@lru_cache(maxsize=1024)
def _word_pattern(needle: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(part) for part in needle.split(" "))
    if _spaced(needle[:1]) and _spaced(needle[-1:]):
        return re.compile(rf"(?<!\w){body}(?!\w)")
    return re.compile(body)  # scripts that attach words or particles (Chinese, Japanese, Korean, Thai): substring


def _spaced(ch: str) -> bool:
    """Whether a character's script separates words with spaces, so a name is matched as a whole word."""
    return not ("\u0e00" <= ch <= "\u0eff" or "\u2e80" <= ch <= "\ud7ff" or "\uf900" <= ch <= "\ufaff")


# --- checking ---------------------------------------------------------------------------------------------


def check_public_fields(order: Order) -> None:
    """The buyer's public fields go onto the page as typed: check them like generated text."""
    public = order.public()
    for where, text in (
        ("recipient display name", public.recipient_display_name),
        ("from display name", public.from_display_name),
        ("public message", public.public_message),
    ):
        check_text(order, text, where)


def check_text(order: Order, text: str, where: str) -> None:
    """Raise GuardViolation if text meant for a page holds a private value, a story copy or a PII pattern.
    `where` names the place for the caller's own records; it never enters the exception."""
    del where  # the category is all a violation may say
    category = _private_hit(_needles(order), fold(text), binary=False) or _pattern_hit(text)
    if category:
        raise GuardViolation(category)


def boilerplate_words(text: str) -> frozenset[str]:
    """The folded words of text that carries no order data (a page rendered with placeholders): single-word
    name parts found among them are the template talking (surname "Song" on "A song for Maya"), not a leak."""
    return frozenset(re.findall(r"\w+", fold(text)))


def check_bytes(order: Order, data: bytes, where: str, *, boilerplate: frozenset[str] = frozenset()) -> None:
    """Raise GuardViolation if any decoding of a file's bytes holds a private value or a story copy.
    Text files are also checked HTML- and JSON-unescaped; binary files through every text run in their
    metadata (ASCII, Latin-1, UTF-8, UTF-16 either way), ASCII/UTF-8 runs in their coded payload, and their
    compressed text chunks inflated (see containers.py). Name parts in `boilerplate` are not searched
    (full names, emails, phones and story copies always are)."""
    del where
    needles = _needles(order)
    if boilerplate and boilerplate.intersection(needles.names):
        needles = _without_names(needles, boilerplate)
    texts, binary = _texts_of(data)
    for text in texts:
        category = _private_hit(needles, fold(text), binary=binary)
        if category:
            raise GuardViolation(category)


def check_files(order: Order, files: dict[str, bytes], *, boilerplate: frozenset[str] = frozenset()) -> None:
    """Check a whole publication: every file name and every file's bytes."""
    for name, data in files.items():
        check_bytes(order, name.encode(), "file name", boilerplate=boilerplate)
        check_bytes(order, data, "file", boilerplate=boilerplate)


def _pattern_hit(text: str) -> str:
    if pii.emails(text, spaced=True):
        return "pii_email"
    if pii.cards(text):
        return "pii_card"
    if pii.phones(text):
        return "pii_phone"
    if pii.urls(text):
        return "pii_url"
    return ""


def _private_hit(needles: _Needles, folded: str, *, binary: bool, story: bool = True) -> str:
    if not folded:
        return ""
    squashed = squash(folded)
    words = needles.words_binary if binary else needles.words_text
    candidates = needles.values + needles.names
    if words is not None and any(n in folded for n in candidates) and words.search(folded):  # `in` is a fast filter
        return "private_value"
    if any(value in squashed for value in needles.squashed):
        return "private_value"
    if needles.phones:
        for run in pii.PHONE_LIKE.finditer(folded):
            run_digits = digits(run.group())
            if any(phone in run_digits for phone in needles.phones):
                return "private_value"
    if story and needles.story_grams and not binary:  # binary data: the shingles below catch copies
        words_found = re.findall(r"\w+", folded)
        n = STORY_RUN_WORDS
        if any(tuple(words_found[i : i + n]) in needles.story_grams for i in range(len(words_found) - n + 1)):
            return "story_copy"
    if story and needles.story_shingles:
        shingles = needles.story_shingles
        if any(squashed[i : i + SHINGLE] in shingles for i in range(0, len(squashed) - SHINGLE + 1, SHINGLE_STEP)):
            return "story_copy"
    return ""


def _needles(order: Order) -> _Needles:
    return _needles_for(
        tuple(private_values(order)),
        tuple(private_names(order)),
        order.story.get_secret_value(),
        (order.recipient.display_name, order.from_display_name),
    )


@lru_cache(maxsize=8)
def _needles_for(values: tuple[str, ...], names: tuple[str, ...], story: str, shown: tuple[str, ...]) -> _Needles:
    shown_words = {word for name in shown for word in fold(name).split()}
    found_emails = [story[a:b] for a, b in pii.emails(story)]
    full = [fold(v) for v in values if v != story] + [fold(e) for e in found_emails]
    full = [v for v in full if v and not set(v.split()) <= shown_words]
    folded_story = fold(story)
    words = re.findall(r"\w+", folded_story)
    n = STORY_RUN_WORDS
    grams = frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    squashed_story = squash(folded_story)
    shingles = frozenset(squashed_story[i : i + SHINGLE] for i in range(len(squashed_story) - SHINGLE + 1))
    values = tuple(dict.fromkeys(full))
    folded_names = tuple(dict.fromkeys(n for n in map(fold, names) if len(n) >= 2 and n not in shown_words))
    long_names = tuple(n for n in folded_names if not (n.isascii() and len(n) < MIN_BINARY_NAME))
    return _Needles(
        values=values,
        squashed=tuple(dict.fromkeys(s for s in map(squash, full) if len(s) >= MIN_SQUASHED)),
        names=folded_names,
        words_text=_alternation(values + folded_names),
        words_binary=_alternation(values + long_names),
        phones=tuple(pii.phone_numbers(story)),
        story_grams=grams,
        story_shingles=shingles,
    )


def _without_names(needles: _Needles, skip: frozenset[str]) -> _Needles:
    names = tuple(n for n in needles.names if n not in skip)
    long_names = tuple(n for n in names if not (n.isascii() and len(n) < MIN_BINARY_NAME))
    return replace(needles, names=names, words_text=_alternation(needles.values + names),
                   words_binary=_alternation(needles.values + long_names))


def _alternation(needles: tuple[str, ...]) -> re.Pattern[str] | None:
    if not needles:
        return None
    return re.compile("|".join(f"(?:{_word_pattern(n).pattern})" for n in sorted(needles, key=len, reverse=True)))


# --- decoding files ---------------------------------------------------------------------------------------

_LATIN1_RUN = re.compile(rb"[\x20-\x7e\xa0-\xff\t\n\r]{4,}")
_UTF8_RUN = re.compile(
    rb"(?:[\x20-\x7e\t\n\r]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}){4,}"
)
# UTF-16 runs of Latin, Greek/Cyrillic, kana and CJK characters, in both byte orders
_UTF16LE_RUN = re.compile(rb"(?s)(?:[\x20-\x7e]\x00|.[\x00-\x05]|.[\x30\x4e-\x9f\xac-\xd7\xff]){4,}")
_UTF16BE_RUN = re.compile(rb"(?s)(?:\x00[\x20-\x7e]|[\x00-\x05].|[\x30\x4e-\x9f\xac-\xd7\xff].){4,}")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _texts_of(data: bytes) -> tuple[list[str], bool]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _binary_texts(data), True
    unescaped = html.unescape(text)
    json_unescaped = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), unescaped)
    return [text, unescaped, json_unescaped, unquote(json_unescaped)], False  # unquote: names inside URLs


def _binary_texts(data: bytes) -> list[str]:
    """Text runs of a binary file: its metadata in every encoding, its coded payload as ASCII/UTF-8 only,
    and its compressed text chunks inflated. Runs are joined per encoding and decoded once (run by run is
    far slower)."""
    parts = containers.split(data)
    metadata = b"\n".join(parts.metadata)
    texts = [
        b"\n".join(_UTF8_RUN.findall(metadata)).decode("utf-8", "replace"),
        b"\n".join(_LATIN1_RUN.findall(metadata)).decode("latin-1"),
        b"\n\x00".join(_even(_UTF16LE_RUN.findall(metadata))).decode("utf-16-le", "replace"),
        b"\x00\n".join(_even(_UTF16BE_RUN.findall(metadata))).decode("utf-16-be", "replace"),
        _payload_text(b"\n".join(parts.payload)),
    ]
    for chunk in parts.inflated:
        texts.extend(_texts_of(chunk)[0])
    return texts


def _payload_text(payload: bytes) -> str:
    """The UTF-8 runs of a coded payload. A song is scanned twice per attempt (as the provider made it, and as
    published with its tags and credentials) with the same samples, so the runs of recent payloads are kept by
    digest: the scan is ~50 ms a song, the digest ~1 ms."""
    digest = hashlib.blake2b(payload, digest_size=16).digest()
    with _PAYLOAD_LOCK:
        text = _PAYLOAD_TEXTS.get(digest)
    if text is None:
        text = b"\n".join(_UTF8_RUN.findall(payload)).decode("utf-8", "replace")
        with _PAYLOAD_LOCK:  # worker threads share it
            _PAYLOAD_TEXTS[digest] = text
            while len(_PAYLOAD_TEXTS) > 8:
                _PAYLOAD_TEXTS.pop(next(iter(_PAYLOAD_TEXTS)))
    return text


_PAYLOAD_TEXTS: dict[bytes, str] = {}
_PAYLOAD_LOCK = threading.Lock()


def _even(runs: list[bytes]) -> list[bytes]:
    return [run[: len(run) // 2 * 2] for run in runs]
