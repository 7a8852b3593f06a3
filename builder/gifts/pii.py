"""Pattern detectors for personal data in free text: emails, phone numbers, URLs, card numbers, street addresses.

Each detector returns spans `(start, end)` in the text it was given, so the minimiser can cut them out and
the guard can ask whether any exist. Phones use `phonenumbers` with `Leniency.POSSIBLE` over explicit regions
(the default leniency misses common formats); POSSIBLE also matches years and times, so a phone needs at
least seven digits and must not look like a date.
"""

from __future__ import annotations

import re

from phonenumbers import Leniency, PhoneNumberMatcher

from builder.gifts.normalise import digits

Span = tuple[int, int]

PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "ES", "IT", "NL", "CA", "AU")
MIN_PHONE_DIGITS = 7

EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
EMAIL_SPACED = re.compile(r"[\w.+%-]+\s*@\s*[\w-]+(?:\s*\.\s*[\w-]+)+")  # "jon @ example . org"
URL = re.compile(
    r"(?i)\b(?:https?://|ftp://|www\.)\S+"
    r"|\b[a-z0-9][a-z0-9-]{0,62}\.(?:com|org|net|io|co|de|fr|uk|br|jp|in|info|biz|app|dev|me|ly|gg|xyz|site"
    r"|online|link|page|eu|us|ca|au|es|it|nl|ch|at|be)\b(?:/\S*)?"
)
CARD_RUN = re.compile(r"(?<!\d)\d(?:[ \-.]?\d){12,18}(?!\d)")
PHONE_LIKE = re.compile(r"(?<!\d)\+?\(?\d[\d\s().\-/]{5,}\d(?!\d)")
_DATE = re.compile(r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\s*$")

_EN_SUFFIX = (
    r"street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|terrace|close|crescent"
    r"|parkway|pkwy|square|sq|highway|hwy|circle|cir|trail|trl|alley|row|walk|mews|gardens|grove|hill|park|via"
    r"|loop|pike|plaza|ridge|run|spur|view|vista|bypass|crossing|expressway|freeway|harbor|junction|point"
)
ADDRESS = re.compile(
    r"(?ix)"
    rf"\b\d{{1,6}}[a-z]?\s+(?:[\w'.\-]+\s+){{0,4}}(?:{_EN_SUFFIX})\b\.?(?:,?\s*(?:apt|apartment|suite|unit|\#)\.?\s*\w+)?"
    r"|\b[\w.\-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|chaussee)\s+\d{1,5}\s?[a-z]?\b"
    r"|\b\d{1,5}(?:\s*(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|chemin|allée|place|impasse|quai|route"
    r"|cours|passage)\s+(?:[\w'’\-]+\s*){1,5}"
    r"|\b(?:rua|avenida|av\.|travessa|alameda|praça|estrada|rodovia|largo)\s+(?:[\w'’.\-]+\s+){0,5}?[\w'’.\-]+"
    r",?\s*(?:n[º°o.]?\s*)?\d{1,6}"
    r"|\b(?:apt|apartment|suite|flat)\.?\s*\#?\s*\d+\w?"
)
_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_NOT_YEAR = r"(?!(?:19|20)\d\d\b)"
# Street lines in any Latin-script language, by shape: "932 Melissa Burgs", "Glorieta Gonzalo Dávila 11",
# "Esplanada Cassiano, 19". Broad on purpose: a lost phrase in a story hint costs little.
STREET_SHAPE = re.compile(
    rf"\b{_NOT_YEAR}\d{{1,5}}[a-zA-Z]?,?\s+(?:[{_UPPER}][\w'’.\-]*\s*){{1,4}}"
    rf"|(?:\b[{_UPPER}][\w'’.\-]*,?\s+){{1,4}}(?:n[º°o.]\s*)?{_NOT_YEAR}\d{{1,4}}[a-zA-Z]?(?:\s*[-/]\s*\d{{1,4}})?\b"
)
# Japanese/Chinese addresses: a run of CJK text holding digits (丁目, 番, 号, room numbers)
CJK_ADDRESS = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff10-\uff19\d\-ー－]*\d[\u3040-\u30ff\u4e00-\u9fff\d\-ー－]*")
POSTCODE = re.compile(
    r"(?x)\b\d{5}-\d{3,4}\b"  # BR CEP, US ZIP+4
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"  # UK
    r"|〒?\s*\d{3}-\d{4}"  # JP
)
LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[\s\-./]?\d){4,}(?!\d)")  # five or more digits: ids, ZIPs, accounts


def luhn_ok(number: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(number)):
        value = int(ch)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def emails(text: str, *, spaced: bool = False) -> list[Span]:
    return [m.span() for m in (EMAIL_SPACED if spaced else EMAIL).finditer(text)]


def urls(text: str) -> list[Span]:
    return [m.span() for m in URL.finditer(text)]


def cards(text: str) -> list[Span]:
    return [m.span() for m in CARD_RUN.finditer(text) if luhn_ok(digits(m.group()))]


def _not_a_phone(raw: str) -> bool:
    """Dates and runs of years ("1994-2024") that POSSIBLE leniency accepts as numbers."""
    groups = re.findall(r"\d+", raw)
    years = all(len(g) == 4 and g[:2] in ("19", "20") for g in groups) and len(groups) <= 3
    return bool(_DATE.match(raw)) or years


def phones(text: str, *, min_digits: int = MIN_PHONE_DIGITS) -> list[Span]:
    spans: set[Span] = set()
    for region in PHONE_REGIONS:
        for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
            raw = match.raw_string
            if len(digits(raw)) >= min_digits and not _not_a_phone(raw):
                spans.add((match.start, match.end))
    return sorted(spans)


def phone_numbers(text: str) -> list[str]:
    """National significant numbers (digits only) of the phones in a text: the needles for leak checks."""
    found: set[str] = set()
    for region in PHONE_REGIONS:
        for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
            national = str(match.number.national_number)
            if len(national) >= MIN_PHONE_DIGITS and not _not_a_phone(match.raw_string):
                found.add(national)
    return sorted(found)


def addresses(text: str) -> list[Span]:
    found = [m.span() for pattern in (ADDRESS, POSTCODE, STREET_SHAPE) for m in pattern.finditer(text)]
    return found + [m.span() for m in CJK_ADDRESS.finditer(text) if _has_cjk(m.group())]


def _has_cjk(text: str) -> bool:
    return any("\u3040" <= ch <= "\u9fff" for ch in text)


def long_numbers(text: str) -> list[Span]:
    return [m.span() for m in LONG_NUMBER.finditer(text)]
