"""The order model: strict validation, every field error at once, and private values that never show."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from builder.errors import OrderError
from builder.gifts.order import MAX_PHOTO_BYTES, parse_order, private_names, private_values
from tests.gift_orders import STORY, order_dict, order_json, sample_order


def _png_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_design_example_order_parses_from_bytes_str_and_dict() -> None:
    for raw in (order_json(), order_json().decode(), order_dict(), "\ufeff".encode() + order_json()):
        order = parse_order(raw)
        assert order.recipient.display_name == "Maya"
        assert order.style.genre == "folk"


def test_private_fields_are_hidden_in_repr_and_str() -> None:
    order = sample_order()
    shown = repr(order) + str(order)
    for secret in ("Jonathan Example", "jon@example.org", "Maya Example", "Baker Street", "pay_3PqR8xK2"):
        assert secret not in shown


def test_public_view_holds_only_public_fields() -> None:
    public = sample_order(cover_photo=_png_b64()).public()
    assert public.recipient_display_name == "Maya"
    assert public.from_display_name == "Jon"
    assert public.occasion == "birthday"
    assert (public.style.genre, public.style.mood, public.style.tempo) == ("folk", "warm", "medium")
    assert public.public_message == "Happy birthday, Maya!"
    assert public.has_cover_photo is True
    assert "Example" not in repr(public)


def test_every_field_error_is_reported_at_once_with_its_path() -> None:
    bad = order_dict(
        occasion="funeral",
        style={"genre": "polka", "mood": "warm", "tempo": "medium"},
        buyer={"name": "", "email": "not-an-email"},
        nickname="Mo",
    )
    with pytest.raises(OrderError) as caught:
        parse_order(json.dumps(bad))
    errors = caught.value.field_errors
    assert any(e.startswith("occasion: must be one of 'birthday'") for e in errors)
    assert any(e.startswith("style.genre: must be one of") for e in errors)
    assert "buyer.name: required" in errors
    assert "buyer.email: must be an email address" in errors
    assert "nickname: unknown field" in errors
    assert len(errors) == 5


def test_field_errors_never_echo_the_submitted_values() -> None:
    bad = order_dict(
        buyer={"name": "Zebulon Secretname\u0007", "email": "zeb-secret-at-nowhere"},
        story="Q" * 4001,
        idempotency_key="key with spaces SECRETKEY",
        public_message=7,
    )
    with pytest.raises(OrderError) as caught:
        parse_order(bad)
    text = str(caught.value)
    for value in ("Secretname", "zeb-secret", "QQQQ", "SECRETKEY", "input_value", "7"):
        assert value not in text
    assert "story: must be at most 4000 characters" in text
    assert "public_message: must be a string" in text


def test_missing_fields_are_named() -> None:
    with pytest.raises(OrderError) as caught:
        parse_order(order_dict(recipient=None, occasion=None))
    assert {"recipient: required", "occasion: required"} <= set(caught.value.field_errors)


def test_public_message_is_plain_text_and_may_contain_angle_brackets() -> None:
    order = sample_order(public_message="<script>alert(1)</script> 3 < 4 & you're <3")
    assert order.public_message.startswith("<script>")


def test_public_message_longer_than_500_characters_is_rejected() -> None:
    with pytest.raises(OrderError, match=r"public_message: must be at most 500 characters"):
        parse_order(order_dict(public_message="x" * 501))


def test_display_names_reject_line_breaks_and_control_characters() -> None:
    with pytest.raises(OrderError) as caught:
        parse_order(order_dict(from_display_name="Jon\nDoe", recipient={"display_name": "\x1b[31m",
                                                                            "full_name": "Maya Example"}))
    assert len(caught.value.field_errors) == 2


def test_invalid_json_and_non_utf8_bodies_are_order_errors() -> None:
    with pytest.raises(OrderError, match="body: not valid JSON"):
        parse_order(b'{"idempotency_key": ')
    with pytest.raises(OrderError, match="body: must be UTF-8 JSON"):
        parse_order(b"\xff\xfe{}")
    with pytest.raises(OrderError, match="body: must be an object"):
        parse_order(b"[]")


def test_cover_photo_must_be_base64_of_a_jpeg_png_or_webp() -> None:
    photo = sample_order(cover_photo=_png_b64()).cover_photo_bytes()
    assert photo is not None and photo.startswith(b"\x89PNG")
    with pytest.raises(OrderError, match="cover_photo: must be base64"):
        parse_order(order_dict(cover_photo="%%%not base64%%%"))
    with pytest.raises(OrderError, match="cover_photo: must be a JPEG, PNG or WebP image"):
        parse_order(order_dict(cover_photo=base64.b64encode(b"%PDF-1.7 not an image").decode()))


def test_cover_photo_over_10_mb_is_rejected() -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(MAX_PHOTO_BYTES)
    with pytest.raises(OrderError, match="cover_photo: must be at most 10 MB"):
        parse_order(order_dict(cover_photo=base64.b64encode(big).decode()))


def test_private_values_and_names_list_what_must_never_be_published() -> None:
    order = sample_order()
    assert set(private_values(order)) == {"pay_3PqR8xK2", "Jonathan Example", "jon@example.org", "Maya Example",
                                          STORY}
    assert private_names(order) == ["Jonathan", "Example"]  # "Maya" and "Jon" are the chosen display names
