"""The private order: a strict pydantic model at the boundary, and the one parser `gift submit` and intake share.

Secret fields are `SecretStr` so a stray `repr`, log line or traceback shows `**********`. Errors name
fields and constraints, never the values that failed them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from builder.errors import OrderError
from builder.gifts.contracts import PublicGift, Style

Occasion = Literal[
    "birthday", "anniversary", "wedding", "graduation", "thank-you", "new-baby", "retirement", "just-because"
]
Genre = Literal["pop", "folk", "rock", "jazz", "acoustic", "country", "lullaby", "hip-hop"]
Mood = Literal["warm", "joyful", "tender", "nostalgic", "playful", "epic"]
Tempo = Literal["slow", "medium", "fast"]

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_STORY_CHARS = 4000
MAX_MESSAGE_CHARS = 500

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and newlines are fine in free text
_LINE_BREAK = re.compile(r"[\r\n\t\u2028\u2029]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")

def _no_controls(value: str, *, single_line: bool) -> str:
    if _CONTROL.search(value) or (single_line and _LINE_BREAK.search(value)):
        raise ValueError("must not contain control characters" + (" or line breaks" if single_line else ""))
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _one_line(value: str) -> str:
    return _not_blank(_no_controls(value, single_line=True))


def _one_line_secret(value: SecretStr) -> SecretStr:
    _one_line(value.get_secret_value())
    return value


# names are one non-blank line: the rule lives on the types, so every name field gets it
DisplayName = Annotated[str, Field(min_length=1, max_length=60), AfterValidator(_one_line)]
PersonName = Annotated[SecretStr, Field(min_length=1, max_length=120), AfterValidator(_one_line_secret)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


class Buyer(_Strict):
    name: PersonName
    email: Annotated[SecretStr, Field(min_length=3, max_length=254)]

    @field_validator("email")
    @classmethod
    def _email(cls, value: SecretStr) -> SecretStr:
        if not _EMAIL.match(value.get_secret_value()):
            raise ValueError("must be an email address")
        return value


class Recipient(_Strict):
    display_name: DisplayName
    full_name: PersonName


class OrderStyle(_Strict):
    genre: Genre
    mood: Mood
    tempo: Tempo


class Order(_Strict):
    """A gift order as the buyer sent it (DESIGN.md section 5). Only `public()` may reach a gift page."""

    idempotency_key: Annotated[SecretStr, Field(min_length=1, max_length=200)]
    buyer: Buyer
    recipient: Recipient
    from_display_name: DisplayName
    occasion: Occasion
    style: OrderStyle
    story: Annotated[SecretStr, Field(max_length=MAX_STORY_CHARS)]
    public_message: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] = ""
    cover_photo: Annotated[str | None, Field(repr=False)] = None  # base64; may carry EXIF/GPS until media strips it

    @field_validator("idempotency_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not _KEY.match(value.get_secret_value()):
            raise ValueError("may only contain letters, digits and _ . : -")
        return value

    @field_validator("story")
    @classmethod
    def _story(cls, value: SecretStr) -> SecretStr:
        _no_controls(value.get_secret_value(), single_line=False)
        return value

    @field_validator("public_message")
    @classmethod
    def _message(cls, value: str) -> str:
        return _no_controls(value, single_line=False)  # plain text: `<` is fine, the template escapes it

    @field_validator("cover_photo")
    @classmethod
    def _photo(cls, value: str | None) -> str | None:
        if value is not None:
            _decode_photo(value)
        return value

    def cover_photo_bytes(self) -> bytes | None:
        """The uploaded photo, decoded (still carrying its original metadata: hand it to media, nowhere else)."""
        return None if self.cover_photo is None else _decode_photo(self.cover_photo)

    def public(self) -> PublicGift:
        """The public fields: the only order data a gift page may show."""
        return PublicGift(
            recipient_display_name=self.recipient.display_name,
            from_display_name=self.from_display_name,
            occasion=self.occasion,
            style=Style(genre=self.style.genre, mood=self.style.mood, tempo=self.style.tempo),
            public_message=self.public_message,
            has_cover_photo=self.cover_photo is not None,
        )


def _decode_photo(value: str) -> bytes:
    if len(value) > (MAX_PHOTO_BYTES * 4) // 3 + 8:
        raise ValueError("must be at most 10 MB")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise ValueError("must be at most 10 MB")
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if not (is_webp or data.startswith(_IMAGE_MAGIC)):
        raise ValueError("must be a JPEG, PNG or WebP image")
    return data


def private_values(order: Order) -> list[str]:
    """Every private value of an order, as given: for the guard and for leak tests. Never log the result."""
    values = [
        order.idempotency_key.get_secret_value(),
        order.buyer.name.get_secret_value(),
        order.buyer.email.get_secret_value(),
        order.recipient.full_name.get_secret_value(),
        order.story.get_secret_value(),
    ]
    return [value for value in values if value.strip()]


def private_names(order: Order) -> list[str]:
    """Name parts that are private: parts of the buyer's name and the recipient's full name that the
    buyer did not choose to show as a display name (the recipient's surname, the buyer's names)."""
    shown = {part.casefold() for name in (order.recipient.display_name, order.from_display_name)
             for part in re.findall(r"\w+", name)}
    parts: list[str] = []
    for name in (order.buyer.name.get_secret_value(), order.recipient.full_name.get_secret_value()):
        for part in re.findall(r"\w+", name):
            if part.casefold() not in shown and part not in parts:
                parts.append(part)
    return parts


def parse_order(raw: bytes | str | dict[str, Any]) -> Order:
    """Validate an order from JSON (bytes or str) or a dict. Raises OrderError listing every field error
    as `field.path: message`; messages never contain the submitted values."""
    try:
        if isinstance(raw, dict):
            return Order.model_validate(raw)
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise OrderError(["body: must be UTF-8 JSON"]) from None
        return Order.model_validate_json(raw.removeprefix("\ufeff"))  # a BOM some editors write
    except ValidationError as error:
        raise OrderError(_field_errors(error)) from None


_SAFE_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


def _field_errors(error: ValidationError) -> list[str]:
    messages = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(_location_part(part) for part in item["loc"]) or "body"
        messages.append(f"{path}: {_message(item)}")
    return messages


def _location_part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return part if _SAFE_KEY.match(part) else "<field>"  # unknown keys are input too


def _message(item: Any) -> str:
    kind, ctx = item["type"], item.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("too_long", "string_too_long"):
        return f"must be at most {ctx.get('max_length', '?')} characters"
    if kind in ("too_short", "string_too_short"):
        return "required" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "json_invalid":
        return "not valid JSON"
    if kind == "value_error":
        return str(ctx.get("error", "invalid"))  # our own validators' messages: they name no values
    if kind in ("string_type", "model_type", "dict_type", "model_attributes_type"):
        return "must be " + ("a string" if kind == "string_type" else "an object")
    return json.dumps(kind)  # a pydantic type code; never its input
