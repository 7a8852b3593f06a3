"""Pattern detectors for personal data in free text: emails, phone numbers, URLs, card numbers, street addresses.

Each detector returns spans `(start, end)` in the text it was given, so the minimiser can cut them out and
the guard can ask whether any exist. Phones use `phonenumbers` with `Leniency.POSSIBLE` over explicit regions
(the default leniency misses common formats); POSSIBLE also matches years and times, so a phone needs at
least seven digits and must not look like a date.
"""

from __future__ import annotations

import re
import unicodedata

from phonenumbers import Leniency, PhoneNumberMatcher

from builder.gifts.normalise import decode_entities, digits, without_invisibles

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


# --- the form the patterns read ---------------------------------------------------------------------------
# A phone spelled in words, digits mixed with words, an email as "name at domain dot example" or through
# HTML entities, letters spread by spaces: `clean` rewrites them into the plain forms the patterns know,
# keeping the text's script (it is also what a provider is sent).

_UNITS = {"zero": "0", "oh": "0", "o": "0", "nought": "0", "naught": "0", "nil": "0", "one": "1", "two": "2",
          "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
          "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
         "eighty": "8", "ninety": "9"}
_REPEAT = {"double": 2, "triple": 3, "treble": 3}
_SCALE = {"hundred": 2, "thousand": 3}
_NUMBER_WORDS = (*_UNITS, *_TEENS, *_TENS, *_REPEAT, *_SCALE, "plus")
_NUMBER_TOKEN = rf"(?:\d+|(?:{'|'.join(sorted(_NUMBER_WORDS, key=len, reverse=True))})(?![^\W\d_]))"
_NUMBER_RUN = re.compile(rf"(?i)(?<![^\W\d_]){_NUMBER_TOKEN}(?:[\s,.\-/()]*(?:and\s+)?{_NUMBER_TOKEN})+")
_TOKEN = re.compile(rf"(?i){_NUMBER_TOKEN}")
MIN_SPELLED_DIGITS = 5  # shorter runs ("one or two", "twenty twenty") stay words

_TLDS = (r"com|org|net|edu|gov|mil|int|io|co|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|br|jp|cn|in|ru|au"
         r"|ca|us|eu|info|biz|app|dev|me|ly|gg|xyz|site|online|link|page|mail|email|example|test|invalid")
_AT = r"(?:\s*[\(\[\{<]\s*(?:at|@)\s*[\)\]\}>]\s*|\s*@\s*|\s+at\s+)"
_DOT = r"(?:\s*[\(\[\{<]\s*(?:dot|\.)\s*[\)\]\}>]\s*|\s+dot\s+|\s+\.\s+|\.)"  # "org. Next": a full stop
_LABEL = r"[^\W_][\w\-+]*"
SPOKEN_EMAIL = re.compile(rf"(?i)(?<![\w.@])({_LABEL}(?:{_DOT}{_LABEL})*){_AT}({_LABEL}(?:{_DOT}{_LABEL})+)(?![\w@])")
SPOKEN_DOMAIN = re.compile(
    rf"(?i)(?<![\w.])({_LABEL}(?:(?:\s*[\(\[\{{<]\s*(?:dot|\.)\s*[\)\]\}}>]\s*|\s+dot\s+|\s+\.\s+){_LABEL})*)"
    rf"(?:\s*[\(\[\{{<]\s*(?:dot|\.)\s*[\)\]\}}>]\s*|\s+dot\s+|\s+\.\s+)({_TLDS})(?![\w])"
)
_DOT_SPLIT = re.compile(rf"(?i){_DOT}")
_SPREAD_LETTERS = re.compile(r"(?<![^\W_])[^\W_](?: [^\W_]){2,}(?![^\W_])")  # "m a y a @ e x a m p l e . c o m"


def _spoken_digits(tokens: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.isdigit():
            out.append(token)
        elif token in ("plus",):
            out.append("+" if not out else "")
        elif token in _REPEAT and (following in _UNITS or (following.isdigit() and len(following) == 1)):
            out.append(_UNITS.get(following, following) * _REPEAT[token])
            i += 1
        elif token in _UNITS:
            out.append(_UNITS[token])
        elif token in _TEENS:
            out.append(_TEENS[token])
        elif token in _TENS:
            if following in _UNITS and _UNITS[following] != "0":
                out.append(_TENS[token] + _UNITS[following])
                i += 1
            else:
                out.append(_TENS[token] + "0")
        elif token in _SCALE:
            width = _SCALE[token]
            rest = _spoken_below_hundred(tokens[i + 1 : i + 3])
            if rest:
                out.append(rest[1].rjust(width, "0"))
                i += rest[0]
            else:
                out.append("0" * width)
        i += 1
    return "".join(out)


def _spoken_below_hundred(tokens: list[str]) -> tuple[int, str] | None:
    if not tokens:
        return None
    first = tokens[0]
    if first in _TEENS:
        return 1, _TEENS[first]
    if first in _TENS:
        if len(tokens) > 1 and tokens[1] in _UNITS and _UNITS[tokens[1]] != "0":
            return 2, _TENS[first] + _UNITS[tokens[1]]
        return 1, _TENS[first] + "0"
    if first in _UNITS and first not in ("oh", "o"):
        return 1, _UNITS[first]
    return None


def _numbers_in_words(text: str) -> str:
    def rewrite(match: re.Match[str]) -> str:
        tokens = [t.casefold() for t in _TOKEN.findall(match.group())]
        if all(t.isdigit() for t in tokens):
            return match.group()
        spoken = _spoken_digits(tokens)
        return spoken if len(digits(spoken)) >= MIN_SPELLED_DIGITS else match.group()

    return _NUMBER_RUN.sub(rewrite, text)


def _spoken_email(text: str, *, eager: bool) -> str:
    def rewrite(match: re.Match[str]) -> str:
        local, domain = match.group(1), match.group(2)
        spoken_at = not re.search(r"[\(\[\{<@]", match.group())  # a plain " at " between words
        spoken_dot = re.search(r"(?i)[\(\[\{<]|\bdot\b", match.group())
        if spoken_at and not spoken_dot and not eager:
            return match.group()  # "photos at example.com" is a link; "met at school.Then" a typo
        return ".".join(_DOT_SPLIT.split(local)) + "@" + ".".join(_DOT_SPLIT.split(domain))

    text = SPOKEN_EMAIL.sub(rewrite, text)
    return SPOKEN_DOMAIN.sub(lambda m: ".".join(_DOT_SPLIT.split(m.group(1))) + "." + m.group(2), text)


def _ascii_digits(text: str) -> str:
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


_DIGITISH = re.compile(r"(?<![^\W\d_])[0-9OoIl|]{3,}(?![^\W\d_])")
_AS_DIGIT = str.maketrans("OoIl|", "00111")


def _letters_for_digits(text: str) -> str:
    """O for 0 and l or I for 1 inside digit groups ("4l5 555 Ol34"): a group that is mostly digits."""
    def rewrite(match: re.Match[str]) -> str:
        group = match.group()
        return group.translate(_AS_DIGIT) if sum(ch.isdigit() for ch in group) * 2 >= len(group) else group

    return _DIGITISH.sub(rewrite, text)


def clean(text: str, *, eager: bool = False) -> str:
    """The text with its disguises undone (entities, invisibles, full-width and other-script digits, letters
    spread by spaces, numbers in words, "at"/"dot" addresses), its script and case kept. `eager` also reads
    "name at host.example" as an address ("photos at example.com" is a link to the patterns, but compared
    against the order's own addresses either reading must be caught)."""
    text = _ascii_digits(without_invisibles(decode_entities(text)))
    text = _SPREAD_LETTERS.sub(lambda m: m.group().replace(" ", ""), text)
    return _spoken_email(_numbers_in_words(_letters_for_digits(text)), eager=eager)
