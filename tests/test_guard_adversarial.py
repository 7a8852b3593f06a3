"""The guard against a buyer (or a model) who disguises a private value, through the path that publishes:
`gift submit` then `gift work`, asserting the order is held and no published byte holds anything private.

One property test per obfuscation class (each draws its own disguises of the order's private values with
obfuscators written here, independent of the guard's own tables), a table of handwritten adversarial
messages, and the other side: common words that are also the order's surnames ("White", "Rose", "Hope",
"Young", "May"), used as words, are published. Deterministic under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.cli import main
from builder.gifts.guard import minimise
from builder.gifts.order import parse_order
from builder.jobs.folder_ledger import FolderLedger as Ledger
from tests.fakes.chat_api import ChatCompletionsFake, ChatConfig
from tests.gift_orders import order_dict
from tests.support.privacy import without_generated_ids

BUYER = {"name": "Jonathan White", "email": "jon.white@mailbox.test"}
RECIPIENT = {"display_name": "Maya", "full_name": "Maya Kowalczyk-Iwińska"}
STORY = ("Maya Kowalczyk-Iwińska grew up in Gdańsk by the sea. Her phone is +44 20 7946 0958 and her email "
         "maya.k@post.test. She loves sailing, old maps and terrible puns.")
SURNAMES = ["Kowalczyk", "Iwińska", "White"]  # White is also a common word: disguised, it is a name
NAMES = [*SURNAMES, "Jonathan", "Jonathan White", "Maya Kowalczyk"]
EMAILS = ["jon.white@mailbox.test", "maya.k@post.test"]
PHONE = "020 7946 0958"
PHONE_DIGITS = "2079460958"
PLAIN_SECRETS = ["Kowalczyk", "Iwińska", "Iwinska", "Jonathan", "jon.white", "mailbox.test", "maya.k", "post.test",
                 "7946", "0958", "Gdańsk"]
WRAPPERS = ["{}", "Love from the {} family", "Happy birthday, Maya! From {}", "For {}, with love", "xoxo {} xoxo",
            "Dear Maya ({}), enjoy the song"]
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])


# --- the real path: submit, work, look at what was published ------------------------------------------


def order_with(message: str, key: str) -> dict:
    message = message.replace("{key}", key)  # a message quoting the order's own reference
    return order_dict(idempotency_key=key, buyer=BUYER, recipient=RECIPIENT, story=STORY, public_message=message)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, captured.err


def submit(capsys: pytest.CaptureFixture[str], path: Path, ledger: Path) -> str:
    out, err = cli(capsys, "gift", "submit", str(path), "--ledger", str(ledger))
    assert_no_secret(out + err, "gift submit's output")
    return out.strip().splitlines()[-1]


def run_orders(root: Path, capsys: pytest.CaptureFixture[str], messages: list[str]) -> dict[str, tuple[str, Path]]:
    """Submit one order per message with the real CLI, work them all, and return message → (state, page)."""
    ledger, out = root / "ledger", root / "site"
    refs = []
    for index, message in enumerate(messages):
        path = root / f"order-{index}.json"
        path.write_text(json.dumps(order_with(message, f"pay_adv_{index}"), ensure_ascii=False), encoding="utf-8")
        refs.append(submit(capsys, path, ledger))
    printed = cli(capsys, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out))
    printed += cli(capsys, "gift", "list", "--json", "--ledger", str(ledger))
    assert_no_secret("".join(printed), "stdout/stderr")
    records = {record.ref: record for record in Ledger(ledger).records()}
    return {message: (records[ref].state, out / "gifts" / records[ref].token) for message, ref in zip(
        messages, refs, strict=True)}


def published_bytes(root: Path) -> list[tuple[Path, bytes]]:
    site = root / "site"
    return [(p, p.read_bytes()) for p in site.rglob("*") if p.is_file()] if site.exists() else []


def assert_no_secret(text: str, where: str) -> None:
    folded = unicodedata.normalize("NFKC", without_generated_ids(text)).casefold()
    for secret in PLAIN_SECRETS:
        assert secret.casefold() not in folded, f"a private value is in {where}"


def assert_held_and_nothing_published(root: Path, capsys: pytest.CaptureFixture[str], messages: list[str]) -> None:
    results = run_orders(root, capsys, messages)
    for message, (state, page) in results.items():
        assert state == "held", f"published a disguised private value: {message!r}"
        assert Ledger(root / "ledger").records()
        assert not page.exists()
    for path, data in published_bytes(root):
        for message in messages:
            assert message.encode() not in data, path
        assert_no_secret(data.decode("utf-8", "replace"), str(path))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFT_ENVELOPE_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("GIFT_C2PA", "off")


# --- obfuscators, written independently of the guard's tables -----------------------------------------

HOMOGLYPHS = {  # Cyrillic, Greek, Armenian, Cherokee, Latin-extended look-alikes
    "a": "аɑα", "c": "сϲ", "d": "ԁ", "e": "еҽ", "g": "ɡ", "h": "һ", "i": "іι", "j": "ј", "k": "ĸκ", "l": "ӏⅼ",
    "n": "ո", "o": "оοօ", "p": "рρ", "q": "ԛ", "s": "ѕ", "u": "υս", "v": "νѵ", "w": "ԝѡ", "x": "хχ", "y": "уү",
    "z": "ᴢ", "A": "АΑᎪ", "B": "ВΒᏴ", "C": "СϹᏟ", "E": "ЕΕᎬ", "H": "НΗᎻ", "I": "ІΙӀ", "J": "ЈᎫ", "K": "КΚᏦ",
    "M": "МΜᎷ", "N": "Ν", "O": "ОΟ", "P": "РΡᏢ", "S": "ЅᏚ", "T": "ТΤᎢ", "W": "ᎳԜ", "X": "ХΧ", "Y": "УΥ", "Z": "ΖᏃ",
}
FILLERS = ["\u3164", "\u115f", "\u1160", "\uffa0", "\u034f", "\ufe0f", "\ufe00", "\U000e0100", "\u180b", "\u17b4"]
SEPARATORS = [" ", "-", ".", "_"]
UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NAMED_ENTITIES = {"@": ["&commat;", "&#64;", "&#x40;"], ".": ["&period;", "&#46;", "&#x2E;"]}


def letters(value: str) -> list[int]:
    return [i for i, ch in enumerate(value) if ch.isalpha()]


@st.composite
def look_alikes(draw: st.DrawFn, value: str) -> str:
    """Some letters swapped for another script's look-alike, or for a mathematical or full-width form."""
    chars = list(value)
    swappable = [i for i in letters(value) if chars[i] in HOMOGLYPHS or chars[i].isascii()]
    for i in draw(st.lists(st.sampled_from(swappable), min_size=1, max_size=4, unique=True)):
        ch = chars[i]
        kind = draw(st.sampled_from(["script", "script", "bold", "fullwidth"]) if ch in HOMOGLYPHS else
                    st.sampled_from(["bold", "fullwidth"]))
        if kind == "script":
            chars[i] = draw(st.sampled_from(HOMOGLYPHS[ch]))
        elif kind == "bold" and ch.isascii():
            chars[i] = chr((0x1D400 if ch.isupper() else 0x1D41A) + ord(ch.lower()) - ord("a"))
        elif ch.isascii():
            chars[i] = chr(ord(ch) + 0xFEE0)
    return "".join(chars)


def _insert(draw: st.DrawFn, value: str, alphabet: st.SearchStrategy[str], most: int = 3) -> str:
    chars = list(value)
    inside = [i for i in range(1, len(chars)) if chars[i - 1].isalnum() and chars[i].isalnum()]
    for i in sorted(draw(st.lists(st.sampled_from(inside), min_size=1, max_size=most, unique=True)), reverse=True):
        chars.insert(i, draw(alphabet))
    return "".join(chars)


@st.composite
def format_characters(draw: st.DrawFn, value: str) -> str:
    """Any Unicode format (Cf) character inside the word: zero-width, bidi, tags, soft hyphen."""
    return _insert(draw, value, st.characters(categories=["Cf"]).filter(lambda ch: ch not in "\u202e\u202d"))


@st.composite
def fillers(draw: st.DrawFn, value: str) -> str:
    return _insert(draw, value, st.sampled_from(FILLERS))


@st.composite
def tatweel(draw: st.DrawFn, value: str) -> str:
    return _insert(draw, value, st.just("\u0640"), most=4)


@st.composite
def spread_letters(draw: st.DrawFn, value: str) -> str:
    """Every letter apart ("m a y a", "m-a-y-a"), or the word cut into pieces ("Kow-al-czyk")."""
    word = draw(st.sampled_from(value.split()))
    separator = draw(st.sampled_from(SEPARATORS))
    if draw(st.booleans()):
        spread = separator.join(word)
    else:
        cuts = sorted(draw(st.lists(st.integers(1, len(word) - 1), min_size=1, max_size=3, unique=True)))
        spread = separator.join(word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True))
    return value.replace(word, spread)


def turkish_upper(text: str) -> str:
    return text.replace("i", "İ").replace("ı", "I").upper()


@st.composite
def turkish_case(draw: st.DrawFn, value: str) -> str:
    """Dotted and dotless i as a Turkish keyboard (or case mapping) writes them."""
    form = draw(st.sampled_from(["upper", "dotless", "dotted"]))
    if form == "upper":
        return turkish_upper(value)
    if form == "dotless":
        return value.replace("i", "ı")
    return turkish_upper(value).lower()  # İ lower-cased: i and a combining dot


@st.composite
def entities(draw: st.DrawFn, value: str) -> str:
    """Characters as HTML entities (decimal, hex, named), sometimes encoded twice."""
    chars = list(value)
    for i in draw(st.lists(st.sampled_from(range(len(chars))), min_size=1, max_size=4, unique=True)):
        ch = chars[i]
        forms = [f"&#{ord(ch)};", f"&#x{ord(ch):x};", f"&#X{ord(ch):X};", *NAMED_ENTITIES.get(ch, [])]
        entity = draw(st.sampled_from(forms))
        chars[i] = entity.replace("&", "&amp;", 1) if draw(st.booleans()) else entity
    return "".join(chars)


@st.composite
def phone_in_words(draw: st.DrawFn) -> str:
    """The story's phone number in words, digits mixed with words, "oh" for zero, "double"/"triple"."""
    groups = PHONE.split()
    spoken = []
    for group in groups:
        out: list[str] = []
        i = 0
        while i < len(group):
            digit = group[i]
            run = len(group[i:]) - len(group[i:].lstrip(digit))
            if run >= 2 and draw(st.booleans()):
                count = min(run, 3)
                out.append(("double " if count == 2 else "triple ") + UNITS[int(digit)])
                i += count
                continue
            word = draw(st.sampled_from(["oh", "zero", "o", "0"] if digit == "0" else [UNITS[int(digit)], digit]))
            out.append(word)
            i += 1
        spoken.append(" ".join(out))
    if draw(st.booleans()):
        spoken[0] = "plus four four " + spoken[0].split(" ", 1)[1] if " " in spoken[0] else spoken[0]
    joiner = draw(st.sampled_from([" ", ", ", " - ", "  "]))
    return joiner.join(spoken)


@st.composite
def spoken_email(draw: st.DrawFn, value: str) -> str:
    """name at domain dot example, in its bracketed and shouted forms."""
    at = draw(st.sampled_from([" at ", " [at] ", " (at) ", " {at} ", " AT ", " <at> ", " @ ", "[@]"]))
    dot = draw(st.sampled_from([" dot ", " [dot] ", " (dot) ", " DOT ", "[.]", " . ", "."]))
    local, domain = value.split("@")
    return local.replace(".", dot) + at + domain.replace(".", dot)


CLASSES: dict[str, Callable[[], st.SearchStrategy[str]]] = {
    "look-alike letters": lambda: st.sampled_from(NAMES).flatmap(look_alikes),
    "format characters": lambda: st.sampled_from(NAMES).flatmap(format_characters),
    "fillers": lambda: st.sampled_from(NAMES).flatmap(fillers),
    "spread letters": lambda: st.sampled_from(NAMES).flatmap(spread_letters),
    "turkish case": lambda: st.sampled_from(["Iwińska", "White", "Jonathan White"]).flatmap(turkish_case),
    "tatweel": lambda: st.sampled_from(NAMES).flatmap(tatweel),
    "entities": lambda: st.sampled_from(NAMES + EMAILS).flatmap(entities),
    "phone in words": lambda: phone_in_words(),
    "spoken email": lambda: st.sampled_from(EMAILS).flatmap(spoken_email),
    "combined": lambda: st.sampled_from(NAMES).flatmap(look_alikes).flatmap(format_characters),
}


def messages(disguise: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    one = st.tuples(st.sampled_from(WRAPPERS), disguise).map(lambda pair: pair[0].format(pair[1]))
    return st.lists(one, min_size=3, max_size=3, unique=True)


@pytest.mark.parametrize("kind", list(CLASSES))
def test_each_obfuscation_class_is_held_and_nothing_published(
    kind: str, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], env: None
) -> None:
    @SLOW
    @given(batch=messages(CLASSES[kind]()))
    def check(batch: list[str]) -> None:
        assert_held_and_nothing_published(tmp_path_factory.mktemp("adversarial"), capsys, batch)

    check()


# --- handwritten adversarial orders ------------------------------------------------------------------------

HANDWRITTEN = [
    "Love from the Kоwalczyk family",  # Cyrillic о
    "Love, Jοnathan",  # Greek omicron
    "Ꮃhite family forever",  # Cherokee W
    "𝐊𝐨𝐰𝐚𝐥𝐜𝐳𝐲𝐤",  # mathematical bold
    "Ｋｏｗａｌｃｚｙｋ",  # full width
    "Kowal\u200bczyk",  # zero-width space
    "Kowal\u2060czyk",  # word joiner
    "Kow\u00adalczyk",  # soft hyphen
    "Kowal\u200dczyk\u200c",  # zero-width joiners
    "\u202enahtanoJ",  # right-to-left override: stored backwards, shown as Jonathan
    "Kowal\u2066czyk\u2069",  # isolate
    "Kowal\U000e0041czyk",  # a tag character
    "Kowal\u3164czyk",  # Hangul filler
    "K\u115fowalczyk",  # Hangul choseong filler
    "Kowal\uffa0czyk",  # half-width Hangul filler
    "Kowal\u034fczyk",  # combining grapheme joiner
    "Kowal\ufe0fczyk",  # variation selector
    "K o w a l c z y k",
    "k-o-w-a-l-c-z-y-k",
    "K.o.w.a.l.c.z.y.k",
    "k_o_w_a_l_c_z_y_k",
    "Kow-al-czyk",
    "Kowal czyk",
    "J. White sends love",  # an initial and a common-word surname
    "with love from Jon White",  # next to a shown name
    "Mrs White says hi",
    "the White's song",
    "IWIŃSKA",
    "İWİŃSKA",
    "ıwınska",
    "Iwińska\u0640",
    "Kowa\u0640\u0640lczyk",  # Arabic tatweel
    "call oh two oh, seven nine four six, oh nine five eight",
    "ring zero two zero seven nine four six zero nine five eight",
    "ring 020 seven nine four six 0958",
    "plus four four two oh seven nine four six oh nine five eight",
    "o two o double seven... no: 020 7946 0958",
    "maya dot k at post dot test",
    "maya.k [at] post [dot] test",
    "maya.k (at) post (dot) test",
    "maya.k AT post DOT test",
    "maya.k&#64;post.test",
    "maya.k&#x40;post&#x2e;test",
    "maya.k&amp;#64;post.test",
    "maya.k&commat;post&period;test",
    "Ko&#119;alczyk",
    "Ko&amp;#119;alczyk",
    "&#75;&#111;&#119;&#97;&#108;&#99;&#122;&#121;&#107;",
    "jon . white @ mailbox . test",
    "j o n . w h i t e @ m a i l b o x . t e s t",
    "ref: {key}",  # the order's own reference (payment id)
    "Kоwal\u200bczyk",  # two classes at once
    "ring O2O 7946 O958",  # letters for digits
    "ⓚⓞⓦⓐⓛⓒⓩⓨⓚ",  # enclosed letters
    "ᴋᴏᴡᴀʟᴄᴢʏᴋ",  # small capitals
    "K\u0336o\u0336w\u0336a\u0336l\u0336czyk",  # combining strokes
    "ᴶᵒⁿᵃᵗʰᵃⁿ",  # modifier letters
    "Kowal\u00a0czyk",  # a no-break space inside
    "Kow\u2011al\u2011czyk",  # non-breaking hyphens
]


def test_handwritten_adversarial_orders_are_held_and_nothing_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None
) -> None:
    assert_held_and_nothing_published(tmp_path, capsys, HANDWRITTEN)


# --- common words that are also surnames, used as words: published ------------------------------------

WORD_BUYER = {"name": "Jonathan Hope White", "email": "jh@mailbox.test"}
WORD_RECIPIENT = {"display_name": "Maya", "full_name": "Maya Rose Young May"}
WORD_STORY = "Maya loves the sea and old maps."
PHRASES = [
    "hope you have a wonderful day", "a white rose for you", "stay young at heart", "may all your dreams come true",
    "roses are red and white lace is lovely", "we hope the white snow falls", "you may be young but you are wise",
    "young at heart, forever", "white clouds over a young sea", "may the rose bloom", "a rose by any other name",
    "hope is the thing with feathers", "wishing you a white christmas", "never too young to dance",
]


def publish_words(root: Path, capsys: pytest.CaptureFixture[str], texts: list[str]) -> dict[str, tuple[str, Path]]:
    ledger, out = root / "ledger", root / "site"
    refs = []
    for index, text in enumerate(texts):
        path = root / f"order-{index}.json"
        data = order_dict(idempotency_key=f"pay_words_{index}", buyer=WORD_BUYER, recipient=WORD_RECIPIENT,
                          story=WORD_STORY, public_message=text)
        path.write_text(json.dumps(data), encoding="utf-8")
        refs.append(submit(capsys, path, ledger))
    cli(capsys, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out))
    records = {record.ref: record for record in Ledger(ledger).records()}
    return {text: (records[ref].state, out / "gifts" / records[ref].token) for text, ref in zip(texts, refs,
                                                                                                strict=True)}


def sentence(parts: list[str], capitalise: bool, shout: bool) -> str:
    text = ". ".join(p[0].upper() + p[1:] if capitalise else p for p in parts) + "!"
    return text.upper() if shout else text


@SLOW
@given(parts=st.lists(st.sampled_from(PHRASES), min_size=1, max_size=3, unique=True), capitalise=st.booleans(),
       shout=st.booleans())
def test_common_words_that_are_also_surnames_are_published_when_used_as_words(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], env: None, parts: list[str],
    capitalise: bool, shout: bool
) -> None:
    text = sentence(parts, capitalise, shout)
    root = tmp_path_factory.mktemp("words")
    ((state, page),) = publish_words(root, capsys, [text]).values()
    assert state == "published", f"held a message that uses common words as words: {text!r}"
    assert html.escape(text) in (page / "index.html").read_text()
    for _path, data in published_bytes(root):
        folded = data.decode("utf-8", "replace").casefold()
        for secret in ("jonathan", "jh@mailbox.test", "rose young may", "hope white"):
            assert secret not in folded


def test_the_same_words_used_as_names_are_held(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    as_names = ["Love from the White family", "Mrs Young sends love", "Happy birthday from Jon White",
                "Maya Rose, we love you", "the Mays' garden", "for J. Hope", "Greetings from the Whites",
                "White's garden", "W h i t e", "Whіte", "Y-o-u-n-g"]
    found = publish_words(tmp_path, capsys, as_names)
    assert [text for text, (state, _page) in found.items() if state != "held"] == []
    assert published_bytes(tmp_path) == []


# --- what a remote model is sent ---------------------------------------------------------------------------


@SLOW
@given(disguised=st.lists(st.one_of(*(CLASSES[k]() for k in CLASSES if k != "turkish case")), min_size=2,
                          max_size=4))
def test_what_minimise_sends_to_a_remote_model_is_normalised_the_same_way(disguised: list[str]) -> None:
    story = "She loves the sea. " + " and ".join(disguised) + ". She sails every summer."
    order = parse_order(order_dict(buyer=BUYER, recipient=RECIPIENT, story=story))
    hint = minimise(order).story_hint
    for text in disguised:
        assert text not in hint
    skeleton = unicodedata.normalize("NFKC", hint).casefold()
    for secret in [*PLAIN_SECRETS, "white"]:
        assert secret.casefold() not in skeleton
    assert PHONE_DIGITS not in re.sub(r"\D", "", hint)


def test_a_remote_lyrics_model_never_sees_a_disguised_value_through_the_real_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = ("Maya Kоwalczyk (K o w a l c z y k) grew up in the north; call oh two oh seven nine four six oh nine "
             "five eight or write maya dot k at post dot test or Ko&#119;alczyk&#64;post.test. She loves sailing.")
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order_dict(idempotency_key="pay_remote", buyer=BUYER, recipient=RECIPIENT,
                                          story=story, public_message="Happy birthday!"), ensure_ascii=False))
    with ChatCompletionsFake(ChatConfig()) as fake:
        monkeypatch.setenv("GIFT_LYRICS_BASE_URL", fake.url)
        monkeypatch.setenv("GIFT_LYRICS_API_KEY", "sk-test")
        ledger = tmp_path / "ledger"
        submit(capsys, path, ledger)
        cli(capsys, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(tmp_path / "site"))
    prompts = "\n".join(fake.prompts)
    assert prompts and "sailing" in prompts  # the story's substance was sent
    assert_no_secret(prompts, "the prompt")
    assert "K o w a l" not in prompts and "oh two oh" not in prompts and " dot test" not in prompts
    assert [r.state for r in Ledger(ledger).records()] == ["published"]

