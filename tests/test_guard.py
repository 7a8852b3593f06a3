"""The guard: what providers may see, and what may never come back onto a page or into a file."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from builder.errors import GuardViolation
from builder.gifts.guard import (
    CATEGORIES,
    boilerplate_words,
    check_bytes,
    check_files,
    check_public_fields,
    check_text,
    minimise,
    order_seed,
    reseed,
)
from tests.gift_orders import sample_order

ORDER = sample_order()


def _category(text: str) -> str:
    try:
        check_text(ORDER, text, "lyrics")
    except GuardViolation as violation:
        assert violation.category in CATEGORIES
        return violation.category
    return ""


def _bytes_category(data: bytes) -> str:
    try:
        check_bytes(ORDER, data, "file")
    except GuardViolation as violation:
        return violation.category
    return ""


# --- minimising -------------------------------------------------------------------------------------------


def test_minimised_brief_has_no_contact_details_address_card_or_private_names() -> None:
    brief = minimise(ORDER)
    hint = brief.story_hint
    for gone in ("maya.ex", "mailbox.org", "7946", "0958", "Baker Street", "NW1", "4111", "Jonathan", "Example"):
        assert gone not in hint
    assert "sailing on the lake" in hint  # the story's substance survives
    assert hint.startswith("Maya")  # the recipient's full name became their display name
    assert (brief.recipient_display_name, brief.from_display_name, brief.occasion) == ("Maya", "Jon", "birthday")


def test_minimising_ignores_case_accents_and_width_of_names() -> None:
    order = sample_order(
        recipient={"display_name": "Zoé", "full_name": "Zoé Brontë"},
        story="ZOE BRONTE and zoé brontë both love Ｂｒｏｎｔë cake; bronte-style poems too.",
    )
    hint = minimise(order).story_hint
    assert "bront" not in hint.casefold() and "ｂｒｏｎｔ" not in hint.casefold()
    assert "cake" in hint


def test_seed_is_deterministic_per_order_and_regenerations_change_it() -> None:
    assert minimise(ORDER).seed == minimise(sample_order()).seed == order_seed(ORDER)
    assert order_seed(sample_order(idempotency_key="pay_other")) != order_seed(ORDER)
    brief = minimise(ORDER)
    assert reseed(brief, 0) == brief
    assert len({reseed(brief, n).seed for n in range(4)}) == 4
    assert reseed(brief, 1) == reseed(brief, 1)


def test_a_story_the_minimiser_cannot_clean_is_not_sent_at_all() -> None:
    order = sample_order(story="write to jon (at) example (dot) org: jon@example.org.zz " * 3)
    assert "@" not in minimise(order).story_hint


# --- checking text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "A song for MAYA EXAMPLE",
        "m a y a   e x a m p l e",
        "Dear Exámple family",
        "EX\u200bAMPLE",  # zero-width space inside
        "Ｅｘａｍｐｌｅ",  # full-width
        "jonathan sings",
        "P A Y _ 3 P Q R 8 X K 2",
    ],
)
def test_private_values_are_caught_in_any_case_spacing_accent_or_width(text: str) -> None:
    assert _category(text) == "private_value"


def test_phone_from_the_story_is_caught_by_its_digits() -> None:
    assert _category("ring 020-7946-0958 tonight") == "private_value"
    assert _category("ring (0) 2 0 7 9 4 6 0 9 5 8") == "private_value"


def test_eight_word_runs_copied_from_the_story_are_caught_with_altered_spacing() -> None:
    assert _category("and she LOVES sailing on the lake every single summer") == "story_copy"
    assert _category("sh e lo ves sai ling on the la ke ev ery sin gle sum mer with her old") == "story_copy"
    assert _category("she loves sailing on the lake") == ""  # six words is a theme, not a copy


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("mail me at someone @ else . test", "pii_email"),
        ("call +1 (415) 555-0134", "pii_phone"),
        ("ruf 030 1234567 an", "pii_phone"),
        ("see https://songs.test/x", "pii_url"),
        ("visit www.songs.test", "pii_url"),
        ("card 4012 8888 8888 1881", "pii_card"),
    ],
)
def test_pii_patterns_are_caught_in_generated_text(text: str, category: str) -> None:
    assert _category(text) == category


def test_ordinary_lyrics_pass() -> None:
    lyrics = (
        "A Song for Maya\n[Verse 1]\nIn 2019 we met at 10:30 by the sea\nGolden light on the windowsill\n"
        "[Chorus]\nSo here's to you, Maya, here's to you\nFrom Jon, with all my heart, 1 2 3"
    )
    assert _category(lyrics) == ""


def test_a_violation_names_its_category_never_the_value() -> None:
    with pytest.raises(GuardViolation) as caught:
        check_text(ORDER, "hello maya example", "lyrics")
    assert str(caught.value) == "guard: private_value"
    assert "example" not in repr(caught.value).casefold()


def test_public_fields_are_checked_too() -> None:
    check_public_fields(ORDER)
    with pytest.raises(GuardViolation, match="pii_email"):
        check_public_fields(sample_order(public_message="Reach me at jon.other@mail.test"))
    with pytest.raises(GuardViolation, match="private_value"):
        check_public_fields(sample_order(public_message="Love, the EXAMPLE family"))


def test_a_full_name_equal_to_the_display_name_is_not_a_leak() -> None:
    order = sample_order(recipient={"display_name": "Maya", "full_name": "Maya"})
    check_text(order, "A song for Maya", "title")


# --- checking bytes ---------------------------------------------------------------------------------------


def _png(**text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value, zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_clean_media_passes() -> None:
    assert _bytes_category(_png(Software="Giftboard")) == ""


def test_compressed_png_text_is_searched() -> None:
    data = _png(Description="for maya EXAMPLE")
    assert b"EXAMPLE" not in data  # invisible to a plain byte search
    assert _bytes_category(data) == "private_value"


@pytest.mark.parametrize("codec", ["utf-8", "latin-1", "utf-16-le", "utf-16-be"])
def test_private_values_are_found_inside_binary_data_in_any_text_encoding(codec: str) -> None:
    payload = "Jonathan Exämple" if codec != "latin-1" else "Jonathan Example"
    data = bytes(range(256)) * 8 + b"\x00" + payload.encode(codec) + b"\x00" + zlib.compress(b"x" * 4000)
    assert _bytes_category(data) == "private_value"


def test_riff_info_chunk_in_audio_is_searched() -> None:
    text = "maya ex@mailbox.org".encode("utf-16-le")
    chunk = b"LIST" + struct.pack("<I", len(text) + 12) + b"INFOICMT" + struct.pack("<I", len(text)) + text
    assert _bytes_category(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40) + chunk) == "private_value"


def test_html_and_json_escapes_do_not_hide_values() -> None:
    assert _bytes_category(b"<p>Maya &#69;xample</p>") == "private_value"
    assert _bytes_category(json.dumps({"name": "Jonathan Exämple"}).encode()) == "private_value"  # \u00e4
    assert _bytes_category(b'<a href="https://x.test/?for=maya%20Ex%C3%A4mple">') == "private_value"


def test_the_story_copied_into_a_page_is_caught() -> None:
    page = "<p>she loves sailing on the lake every single summer with her old golden dog</p>"
    assert _bytes_category(page.encode()) == "story_copy"


def test_file_names_are_checked() -> None:
    with pytest.raises(GuardViolation, match="private_value"):
        check_files(ORDER, {"maya-example.png": b"x"})
    check_files(ORDER, {"cover.webp": b"x", "index.html": b"<p>A song for Maya</p>"})


def _jpeg(**save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 40)).save(buffer, format="JPEG", **save)
    return buffer.getvalue()


def test_jpeg_comment_xmp_and_bytes_after_the_image_are_searched() -> None:
    assert _bytes_category(_jpeg()) == ""
    assert _bytes_category(_jpeg(comment="Zoë for Jonathan Exämple".encode())) == "private_value"
    xmp = '<x:xmpmeta><dc:creator>JONATHAN  EXAMPLE</dc:creator></x:xmpmeta>'.encode("utf-16-le")
    assert _bytes_category(_jpeg(xmp=xmp)) == "private_value"
    assert _bytes_category(_jpeg() + "jon@example.org".encode("utf-16-be")) == "private_value"


def test_webp_xmp_chunk_is_searched() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buffer, format="WEBP", xmp=b"<dc:title>maya example</dc:title>")
    assert _bytes_category(buffer.getvalue()) == "private_value"


def test_plain_text_inside_audio_samples_is_still_found() -> None:
    samples = bytes(4000) + b"pay_3PqR8xK2" + bytes(4000)
    riff = b"RIFF" + struct.pack("<I", 4 + 8 + len(samples)) + b"WAVE" + b"data" + struct.pack("<I", len(samples))
    assert _bytes_category(riff + samples) == "private_value"


@pytest.mark.parametrize(
    "message",
    ["Happy 30th! 1994-2024", "our 10 year anniversary, 2014 – 2024", "since 25.11.2016", "Love you 3000",
     "See you at 8.30 on 24.12.2026", "<script>alert(1)</script> xoxo <3", "Room 101, 2 pm"],
)
def test_ordinary_public_messages_with_numbers_are_not_mistaken_for_pii(message: str) -> None:
    check_public_fields(sample_order(public_message=message))


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "pt_BR", "ja_JP"])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_minimising_faker_stories_removes_contact_details_addresses_and_surnames(locale: str, seed: int) -> None:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    first, last, buyer = fake.first_name(), fake.last_name(), f"{fake.first_name()} {fake.last_name()}"
    street, phone, email = fake.street_address(), fake.phone_number(), fake.email()
    story = f"{first} {last} lives at {street}, {fake.postcode()}. Call {phone} or mail {email}. {fake.paragraph()}"
    order = sample_order(
        buyer={"name": buyer, "email": fake.email()},
        recipient={"display_name": first, "full_name": f"{first} {last}"},
        story=story + f" Love, {buyer}.",
    )
    hint = minimise(order).story_hint
    assert first in hint and "@" not in hint
    assert not re.search(r"\d(?:[\s\-./]?\d){4}", hint)  # no phone, postcode or account number
    for private in (last, buyer, street, email):
        assert private.casefold() not in hint.casefold()


def test_name_parts_that_are_words_of_the_page_template_are_not_leaks_but_full_names_are() -> None:
    order = sample_order(recipient={"display_name": "Maya", "full_name": "Maya Procedura"}, story="A quiet story.")
    page = b"<p>made by a procedura generator</p>"
    with pytest.raises(GuardViolation):
        check_bytes(order, page, "page")
    template = "<p>made by a procedura generator</p>"
    check_bytes(order, page, "page", boilerplate=boilerplate_words(template))
    with pytest.raises(GuardViolation, match="private_value"):
        check_bytes(order, b"<p>for MAYA procedura</p>", "page", boilerplate=boilerplate_words(template))


def test_a_surname_that_is_a_common_word_is_not_searched_alone_in_files_but_the_full_name_is() -> None:
    order = sample_order(recipient={"display_name": "Maya", "full_name": "Maya Hand"}, story="A quiet story.")
    check_bytes(order, b"<p>nobody wrote or performed them by hand</p>", "page")
    with pytest.raises(GuardViolation, match="private_value"):
        check_bytes(order, b"<p>for MAYA hand</p>", "page")


def test_names_in_other_scripts_are_matched_as_words_or_substrings_as_the_script_needs() -> None:
    cyrillic = sample_order(recipient={"display_name": "Маша", "full_name": "Маша Иванова"}, story="Тихая история.")
    check_text(cyrillic, "Песня для Маши и Ивановых друзей", "lyrics")  # another word that starts the same
    with pytest.raises(GuardViolation):
        check_text(cyrillic, "Песня для ИВАНОВА", "lyrics")
    japanese = sample_order(recipient={"display_name": "陽子", "full_name": "陽子 佐藤"}, story="静かな話。")
    with pytest.raises(GuardViolation):
        check_text(japanese, "佐藤さんへの歌", "lyrics")  # particles attach to the name


def test_mp3_id3_tags_in_utf16_are_searched() -> None:
    from mutagen.id3 import ID3, TIT2

    tags = ID3()
    tags.add(TIT2(encoding=1, text="for Jonathan Example"))  # encoding 1: UTF-16 with a BOM
    buffer = io.BytesIO()
    tags.save(buffer)
    frames = b"\xff\xfb\x90\x00" + bytes(300_000)
    assert _bytes_category(frames) == ""
    assert _bytes_category(buffer.getvalue() + frames) == "private_value"


def test_flac_vorbis_comments_are_searched() -> None:
    comment = "ARTIST=Jonathan Exämple".encode()
    vorbis = struct.pack("<I", 4) + b"test" + struct.pack("<I", 1) + struct.pack("<I", len(comment)) + comment
    blocks = b"\x00" + (34).to_bytes(3, "big") + bytes(34) + b"\x84" + len(vorbis).to_bytes(3, "big") + vorbis
    assert _bytes_category(b"fLaC" + blocks + bytes(50_000)) == "private_value"
