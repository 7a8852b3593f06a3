"""The privacy guard: minimise what a provider sees, and refuse any output that would publish private input.

Two kinds of check:
- `check_text` is for text that goes onto a page (lyrics, titles, public fields): private values, copies of
  the story, and PII patterns (emails, phones, URLs, card numbers).
- `check_bytes` is the last line of defence over every published file (HTML, JSON, images, audio): private
  values and story copies in any decoding of the bytes. Generic patterns are not applied there, because
  pages rightly hold URLs (schema.org, IPTC) and binary data is full of digit runs; every piece of text put
  into a file has passed `check_text` first.
Both sides of every comparison are skeletons (normalise.py: entities, NFKC, invisibles, look-alikes, case);
the patterns read text with numbers in words and spoken addresses undone (pii.clean). A name part that is a
common word is held only where it is used as a name (the "names that are also words" section).
A violation raises `GuardViolation(category)`; the category is one of `CATEGORIES`, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib.resources import files
from urllib.parse import unquote

from builder.errors import GuardViolation
from builder.gifts import containers, pii
from builder.gifts.contracts import Brief, Style
from builder.gifts.normalise import (
    Reading,
    Word,
    digits,
    display_order,
    fold,
    fold_with_map,
    joined_words,
    read,
    squash,
)
from builder.gifts.order import Order, private_names, private_values

CATEGORIES = ("private_value", "story_copy", "pii_email", "pii_phone", "pii_card", "pii_url")
STORY_RUN_WORDS = 8
SHINGLE = 32  # squashed characters: a copy with its spacing altered, about seven words
SHINGLE_STEP = 4
MIN_SQUASHED = 6  # shorter values are matched as whole words only
MIN_BINARY_NAME = 5  # short name parts occur by chance in binary data
MAX_HINT_CHARS = 1200
_SEED_LABEL = b"giftboard/gift-seed/v1"
_SOFT_GAPS = re.compile(r"[\s\-_·'’]+")  # squashing across these, not across . , ! ? ("Maya! White roses")


@dataclass(frozen=True)
class _Needles:
    """What to look for, folded once per order."""

    values: tuple[str, ...]  # folded full values (names, emails, key)
    heads: tuple[str, ...]  # each value's first word: a fast filter before the regex
    squashed: tuple[str, ...]  # squashed values matched anywhere (not those with a common-word name part)
    squashed_near: tuple[tuple[str, str], ...]  # those with a common-word part: squashed across spaces and
    # joiners only, and fully (a fast filter)
    joined_values: frozenset[str]  # every squashed value, for words joined across separators
    names: tuple[str, ...]  # folded private name parts that are not common words, matched as whole words
    common_names: frozenset[str]  # private name parts that are also common words: matched where used as names
    ambiguous_names: frozenset[str]  # every name part and squashed value with i and l made one letter
    nearby_names: frozenset[str]  # private name parts that are not words, shown name words: neighbours of names
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
    """What a provider may see: public fields plus the story, its disguises undone (the same normalisation
    the guard checks with), with emails, phones, addresses, card numbers, URLs, long numbers and the buyer's
    and recipient's private names removed."""
    hint = _minimise_story(order)
    if _text_hit(_needles(order), hint, story=False) or _pattern_hit(hint):
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
    needles = _needles(order)
    raw = read(order.story.get_secret_value())  # disguised names first: cleaning (NFKC) would undo the disguise
    story = pii.clean(_cut(raw.text, _name_spans(needles, raw, disguised_only=True), " "), eager=True)
    for finder in (pii.emails, pii.urls, pii.cards, pii.phones, pii.addresses, pii.long_numbers):
        story = _cut(story, finder(story), "")
    buyer, recipient = order.buyer.name.get_secret_value(), order.recipient.full_name.get_secret_value()
    story = _replace_name(story, buyer, order.from_display_name)
    story = _replace_name(story, recipient, order.recipient.display_name)
    story = _replace_name(story, order.idempotency_key.get_secret_value(), "")
    for part in needles.names:
        story = _replace_name(story, part, "")
    story = _cut(story, _name_spans(needles, read(story)), " ")
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
    """Replace a name wherever it occurs, ignoring case, accents, width and look-alikes, as a whole word."""
    needle = fold(name)
    if not needle:
        return text
    folded, where = fold_with_map(text)
    pattern = _word_pattern(needle)
    spans = [(where[m.start()], where[m.end() - 1] + 1) for m in pattern.finditer(folded)]
    return _cut(text, spans, f" {replacement} " if replacement else " ")


@lru_cache(maxsize=1024)
def _word_pattern(needle: str) -> re.Pattern[str]:
    body = r"(?:\s+|\s*-\s*|[_.·])".join(re.escape(part) for part in needle.split(" "))  # "maya-example"
    if _spaced(needle[:1]) and _spaced(needle[-1:]):
        return re.compile(rf"(?<!\w){body}(?!\w)")
    return re.compile(body)  # scripts that attach words or particles (Chinese, Japanese, Korean, Thai): substring


def _spaced(ch: str) -> bool:
    """Whether a character's script separates words with spaces, so a name is matched as a whole word."""
    return not ("\u0e00" <= ch <= "\u0eff" or "\u2e80" <= ch <= "\ud7ff" or "\uf900" <= ch <= "\ufaff")


# --- names that are also words ----------------------------------------------------------------------------


@cache
def common_words() -> frozenset[str]:
    """English words common enough that a name spelled the same is a leak only where used as a name
    (data/common_words.txt, generated by scripts/common_words.py)."""
    text = files("builder.gifts").joinpath("data/common_words.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


_TITLES = frozenset("mr mrs ms miss mx dr prof sir dame lady lord madam madame mme mlle herr frau sr sra".split())
_KIN = frozenset("family families household clan".split())
_JOINERS = set("-_.·‧•*~/|+")


def _used_as_name(word: Word, reading: Reading, needles: _Needles, capitals_mean_names: bool) -> bool:
    """A common word is a name here when disguised or joined, possessive ("White's"), capitalised
    mid-sentence, next to another name, after a title ("Mrs White") or before "family"."""
    if word.disguised or word.joined or word.possessive or not word.plain:  # "Whíte": an accent disguises a word
        return True
    if capitals_mean_names and word.capitalised and not word.sentence_start:
        return True
    before, after = _neighbours(reading, word)
    near = needles.nearby_names
    if (before is not None and before.skeleton in near) or (after is not None and after.skeleton in near):
        return True
    if before is not None and len(before.skeleton) == 1 and reading.gap(before, word).strip() == ".":
        return True  # an initial: "J. White"
    return (before is not None and before.skeleton in _TITLES) or (after is not None and after.skeleton in _KIN)


def _neighbours(reading: Reading, word: Word) -> tuple[Word | None, Word | None]:
    """The words right before and after, when only a space or a hyphen separates them."""
    words = reading.words
    index = next((i for i, w in enumerate(words) if w.start == word.start), None)
    if index is None:
        return None, None
    last = next((i for i in range(index, len(words)) if words[i].end == word.end), index)
    before = words[index - 1] if index > 0 and _close(reading.gap(words[index - 1], words[index])) else None
    after = words[last + 1] if last + 1 < len(words) and _close(reading.gap(words[last], words[last + 1])) else None
    return before, after


def _close(gap: str) -> bool:
    return gap.strip() in ("", "-", ".") and len(gap) <= 3


def _capitals_mean_names(reading: Reading) -> bool:
    """In text written in capitals or Title Case, a capital letter says nothing about names."""
    inner = [w for w in reading.words if not w.sentence_start and len(w.skeleton) > 1 and w.skeleton.isalpha()]
    if len(inner) < 3:
        return True
    return sum(w.capitalised for w in inner) / len(inner) < 0.5


def _joined_ok(word: Word, reading: Reading) -> bool:
    """A join across plain spaces of words that are all common ("good man") is two words, not a name."""
    if not word.joined:
        return True
    pieces = [w for w in reading.words if word.start <= w.start and w.end <= word.end]
    letters = [w.skeleton for w in pieces if len(w.skeleton) == 1]
    if len(letters) >= 2 or any(letter not in "aio" for letter in letters):  # "K o wal czyk"; not "a dam"
        return True
    gaps = [reading.gap(a, b) for a, b in itertools.pairwise(pieces)]
    if any(set(gap) & _JOINERS for gap in gaps):
        return True
    return not all(w.skeleton in common_words() for w in pieces)


def _name_spans(needles: _Needles, reading: Reading, *, disguised_only: bool = False) -> list[tuple[int, int]]:
    """Where a text names someone privately, beyond the whole-word search: joined-up and disguised names,
    and common-word names used as names."""
    if not (needles.names or needles.common_names or needles.joined_values):
        return []
    spans = []
    capitals = _capitals_mean_names(reading)
    for word in (*reading.words, *joined_words(reading)):
        if disguised_only and not word.disguised:
            continue
        key = word.skeleton
        if word.joined and (key in needles.joined_values or key in needles.names) and _joined_ok(word, reading):
            spans.append((word.start, word.end))
        elif key in needles.common_names and _used_as_name(word, reading, needles, capitals):
            spans.append((word.start, word.end))
        elif key.endswith("s") and _family_plural(word, key[:-1], needles, capitals):
            spans.append((word.start, word.end))
        elif word.disguised and _i_or_l(key) in needles.ambiguous_names:
            spans.append((word.start, word.end))  # Cyrillic palochka and its kin: an l or an I, read as either
    return spans


def _i_or_l(skeleton: str) -> str:
    return skeleton.replace("i", "l")


def _family_plural(word: Word, name: str, needles: _Needles, capitals_mean_names: bool) -> bool:
    """A family by its name: "the Whites", "the Kowalczyks' garden"."""
    if name not in needles.common_names and name not in needles.names:
        return False
    return word.possessive or (capitals_mean_names and word.capitalised and not word.sentence_start)


# --- checking ---------------------------------------------------------------------------------------------

FINDING_MESSAGES = {
    "private_value": "contains a private name or detail from the order",
    "story_copy": "copies a long passage of the private story",
    "pii_email": "contains an email address",
    "pii_phone": "contains a phone number",
    "pii_card": "contains a card number",
    "pii_url": "contains a link",
}


def public_field_findings(order: Order) -> list[tuple[str, str]]:
    """Every public field the guard would hold, as (field path, category): what a checkout form can show
    before payment. The category names what was found, never the value."""
    public = order.public()
    findings = []
    for field, text in (
        ("recipient.display_name", public.recipient_display_name),
        ("from_display_name", public.from_display_name),
        ("public_message", public.public_message),
    ):
        findings.extend((field, category) for category in text_categories(order, text))
    return findings


def names_a_private_person(order: Order, text: str) -> bool:
    """Whether text holds a private name (a name part or a full name), as opposed to another private value."""
    names_only = _needles_for(
        (order.buyer.name.get_secret_value(), order.recipient.full_name.get_secret_value()),
        tuple(private_names(order)),
        "",
        (order.recipient.display_name, order.from_display_name),
    )
    return bool(_text_hit(names_only, text, story=False))


def check_public_fields(order: Order) -> None:
    """The buyer's public fields go onto the page as typed: check them like generated text."""
    findings = public_field_findings(order)
    if findings:
        raise GuardViolation(findings[0][1])


def text_categories(order: Order, text: str) -> list[str]:
    """Every kind of violation in text meant for a page (a private value and a phone number, say)."""
    private = _text_hit(_needles(order), text)
    return ([private] if private else []) + _pattern_hits(text)


def text_category(order: Order, text: str) -> str:
    """The category of the first violation in text meant for a page, or ''."""
    return _text_hit(_needles(order), text) or _pattern_hit(text)


def check_text(order: Order, text: str, where: str) -> None:
    """Raise GuardViolation if text meant for a page holds a private value, a story copy or a PII pattern.
    `where` names the place for the caller's own records; it never enters the exception."""
    del where  # the category is all a violation may say
    category = text_category(order, text)
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
    compressed text chunks inflated (see containers.py). Name parts in `boilerplate` are not searched, nor
    single name parts that are common words (every text put into a file passed `check_text`, which reads
    how they are used); full names, emails, phones and story copies always are."""
    del where
    needles = _needles(order)
    if boilerplate and boilerplate.intersection(needles.names):
        needles = _without_names(needles, boilerplate)
    texts, binary = _texts_of(data)
    texts += [display_order(text) for text in texts if "\u202e" in text]
    for text in texts:
        category = _private_hit(needles, fold(text, entities=False), binary=binary)
        if category:
            raise GuardViolation(category)


def check_files(order: Order, files: dict[str, bytes], *, boilerplate: frozenset[str] = frozenset()) -> None:
    """Check a whole publication: every file name and every file's bytes."""
    for name, data in files.items():
        check_bytes(order, name.encode(), "file name", boilerplate=boilerplate)
        check_bytes(order, data, "file", boilerplate=boilerplate)


def _pattern_hit(text: str) -> str:
    """PII patterns, read on the text with its disguises undone (and its look-alikes mapped, if any)."""
    cleaned = pii.clean(text)
    views = [cleaned] if cleaned.isascii() else [cleaned, fold(cleaned)]
    for view in views:
        if pii.emails(view, spaced=True):
            return "pii_email"
        if pii.cards(view):
            return "pii_card"
        if pii.phones(view):
            return "pii_phone"
        if pii.urls(view):
            return "pii_url"
    return ""


def _pattern_hits(text: str) -> list[str]:
    """Every PII pattern kind in text (an email's domain is not also counted as a link)."""
    found: list[str] = []
    cleaned = pii.clean(text)
    for view in [cleaned] if cleaned.isascii() else [cleaned, fold(cleaned)]:
        emails = pii.emails(view, spaced=True)
        rest = _cut(view, emails, " ")
        cards = pii.cards(rest)
        rest = _cut(rest, cards, " ")  # a card number is not also a phone number
        for category, hit in (("pii_email", emails), ("pii_card", cards), ("pii_phone", pii.phones(rest)),
                              ("pii_url", pii.urls(rest))):
            if hit and category not in found:
                found.append(category)
    return found


def _text_hit(needles: _Needles, text: str, *, story: bool = True) -> str:
    """Text for a page: private values on its skeleton and on its cleaned form ("at"/"dot" addresses,
    numbers in words), then names however they are disguised or used; text under a right-to-left override is
    read both as stored (what a copy gives) and as shown."""
    for shown in dict.fromkeys((text, display_order(text))):
        reading = read(shown)
        views = (fold(reading.text), fold(pii.clean(reading.text, eager=True)))
        for view in dict.fromkeys(views):
            category = _private_hit(needles, view, binary=False, story=story)
            if category:
                return category
        if _name_spans(needles, reading):
            return "private_value"
    return ""


def _private_hit(needles: _Needles, folded: str, *, binary: bool, story: bool = True) -> str:
    if not folded:
        return ""
    squashed = squash(folded)
    words = needles.words_binary if binary else needles.words_text
    candidates = needles.heads + needles.names
    if words is not None and any(n in folded for n in candidates) and words.search(folded):  # `in` is a fast filter
        return "private_value"
    if any(value in squashed for value in needles.squashed):
        return "private_value"
    near = [soft for soft, hard in needles.squashed_near if hard in squashed]  # a cheap filter first
    if near and any(value in _SOFT_GAPS.sub("", folded) for value in near):
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
    cleaned_story = pii.clean(story)
    found_emails = [cleaned_story[a:b] for a, b in pii.emails(cleaned_story)]
    full = [fold(v) for v in values if v != story] + [fold(e) for e in found_emails]
    full = [v for v in full if v and not set(v.split()) <= shown_words]
    folded_story = fold(story)
    words = re.findall(r"\w+", folded_story)
    n = STORY_RUN_WORDS
    grams = frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    squashed_story = squash(folded_story)
    shingles = frozenset(squashed_story[i : i + SHINGLE] for i in range(len(squashed_story) - SHINGLE + 1))
    values = tuple(dict.fromkeys(full))
    all_names = tuple(dict.fromkeys(n for n in map(fold, names) if len(n) >= 2 and n not in shown_words))
    common = frozenset(n for n in all_names if n in common_words())
    folded_names = tuple(n for n in all_names if n not in common)
    long_names = tuple(n for n in folded_names if not (n.isascii() and len(n) < MIN_BINARY_NAME))
    loose = tuple(v for v in full if not common.intersection(re.findall(r"\w+", v)))
    return _Needles(
        values=values,
        heads=tuple(dict.fromkeys(v.split(" ")[0] for v in values)),
        squashed=tuple(dict.fromkeys(s for s in map(squash, loose) if len(s) >= MIN_SQUASHED)),
        squashed_near=tuple(dict.fromkeys((_SOFT_GAPS.sub("", v), squash(v)) for v in full
                                          if v not in loose and len(v) >= 4)),
        joined_values=frozenset(s for s in map(squash, full) if len(s) >= 2),
        names=folded_names,
        common_names=common,
        ambiguous_names=frozenset(_i_or_l(n) for n in (*all_names, *(squash(v) for v in full)) if len(n) >= 3),
        nearby_names=frozenset(folded_names) | frozenset(shown_words),  # "white rose": two words, not names
        words_text=_alternation(values + folded_names),
        words_binary=_alternation(values + long_names),
        phones=tuple(pii.phone_numbers(cleaned_story)),
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
