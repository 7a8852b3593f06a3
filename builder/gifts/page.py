"""The gift page: one static, script-free HTML file whose only style is an inline block the CSP allows by hash.

Plain text from the order (names, the public message, lyrics) is never markup: Jinja escapes it, and the
JSON-LD block is serialised with `<`, `>` and `&` as `\\u003c`-style escapes so no text can close the
script element. Social tags and the `<title>` are generic: link previews travel further than the link.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import mutagen
from jinja2 import Environment, TemplateError
from markupsafe import Markup

from builder.errors import BuildError
from builder.gifts.contracts import GiftPage, MediaFile
from builder.gifts.disclosure import MODEL, PROCEDURAL, Disclosure
from builder.gifts.media import image_size
from builder.templating import make_environment, template_error

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates" / "gift"
SOCIAL_TITLE = "A song made for you"
SOCIAL_DESCRIPTIONS = {
    MODEL: "A personal song with lyrics, music and cover art made with AI.",
    PROCEDURAL: "A personal song with lyrics, music and cover art made by a procedural generator.",
    "mixed": "A personal song with lyrics, music and cover art made with AI and a procedural generator.",
}
OCCASION_LINES = {
    "birthday": "A birthday song",
    "anniversary": "An anniversary song",
    "wedding": "A wedding song",
    "graduation": "A graduation song",
    "thank-you": "A thank-you song",
    "new-baby": "A song for a new arrival",
    "retirement": "A retirement song",
    "just-because": "A song, just because",
}
PROVIDER_LABELS = {
    "offline": "Giftboard's built-in generator (procedural, no AI model, runs offline)",
    "chat-completions": "a large language model (Chat Completions API)",
    "predictions": "a music generation model (predictions API)",
}
_PART_LABEL = re.compile(r"\[[^\[\]]{1,40}\]")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@dataclass(frozen=True)
class _Image:
    name: str
    mime: str
    width: int
    height: int


def render_gift_page(page: GiftPage, *, public_base_url: str = "") -> str:
    """The gift's index.html; `public_base_url` (GIFT_GIFTS_BASE_URL) makes og:image absolute."""
    if public_base_url and not re.fullmatch(r"https?://[^\s\"'<>]+", public_base_url):
        raise BuildError("GIFT_GIFTS_BASE_URL must be an http(s) URL")
    css = _stylesheet("gift.css")
    cover, fallback = _image(page.cover), _image(page.cover_fallback or page.cover)
    small = next((_image(f) for f in page.extra_files if f.name.startswith("cover-") and f.mime == page.cover.mime),
                 None)
    cover_is_photo = page.public.has_cover_photo
    context: dict[str, Any] = {
        "csp": content_security_policy(css),
        "css": Markup(css),  # noqa: S704 - our own stylesheet file, hashed into the CSP as-is
        "json_ld": Markup(json_ld(page)),  # noqa: S704 - serialised with <, >, & escaped
        "social": _social_tags(page, public_base_url),
        "gift": page.public,
        "lyrics": page.lyrics,
        "stanzas": stanzas(page.lyrics.text),
        "audio": page.audio,
        "cover": cover,
        "cover_small": small,
        "fallback": fallback,
        "cover_alt": (f"A photo chosen by {page.public.from_display_name}" if cover_is_photo
                      else f"Cover art {page.disclosure.made('cover')} for this song, marked "
                           f"{page.disclosure.badge('cover')}"),
        "occasion_line": OCCASION_LINES.get(page.public.occasion, "A song"),
        "duration": _duration(page.audio),
        "duration_s": _seconds(page.audio),
        "audio_size": f"{max(1, round(len(page.audio.data) / 1024))} KB",
        "style_line": _style_line(page),
        "generated_iso": _utc(page.generated_at).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generated_human": _human_time(page.generated_at),
        "disclosure": disclosure_rows(page),
        "made_sentence": made_sentence(page.disclosure, with_cover=not cover_is_photo),
        "badge": "Made with AI" if page.disclosure.any_model(_stages(page)) else "Made by software",
        "credentials_line": _credentials_line(page),
    }
    return _render("page.html", context)


def render_removed_page() -> str:
    """The "this gift was removed" page left at a taken-down gift's address."""
    css = _stylesheet("removed.css")
    return _render("removed.html", {"csp": content_security_policy(css), "css": Markup(css)})  # noqa: S704


def render_gifts_index() -> str:
    """The page of the `gifts/` folder itself: says nothing, so no server lists the gift links inside it."""
    css = _stylesheet("removed.css")
    return _render("gifts-index.html", {"csp": content_security_policy(css), "css": Markup(css)})  # noqa: S704


def content_security_policy(css: str) -> str:
    """The page's CSP: nothing by default, its own images and audio, and exactly this inline stylesheet."""
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src 'self'; media-src 'self'; style-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def json_ld(page: GiftPage) -> str:
    """Schema.org MusicRecording with the IPTC digital source type of the song and of each of its parts (a
    composite when a model made some and the procedural generator others), safe to embed in a script element."""
    disclosure = page.disclosure
    cover_is_photo = page.public.has_cover_photo
    seconds = _seconds(page.audio)
    audio: dict[str, Any] = {"@type": "AudioObject", "contentUrl": page.audio.name,
                             "encodingFormat": page.audio.mime, "digitalSourceType": disclosure.source_type("audio")}
    image: dict[str, Any] = {"@type": "ImageObject", "contentUrl": (page.cover_fallback or page.cover).name}
    if not cover_is_photo:  # the buyer's photo was not generated: it gets no digital source type at all
        image["digitalSourceType"] = disclosure.source_type("cover")
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "MusicRecording",
        "name": page.lyrics.title,
        "genre": page.public.style.genre,
        "dateCreated": _utc(page.generated_at).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "digitalSourceType": disclosure.song_source_type(with_cover=not cover_is_photo),
        "creativeWorkStatus": "Made with AI" if disclosure.any_model(_stages(page))
                              else "Made by a procedural generator",
        "audio": audio,
        "image": image,
        "recordingOf": {"@type": "MusicComposition", "name": page.lyrics.title,
                        "lyrics": {"@type": "CreativeWork", "digitalSourceType": disclosure.source_type("lyrics")}},
    }
    if seconds:
        data["duration"] = audio["duration"] = f"PT{seconds}S"
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda match: _JSON_ESCAPES[match.group()], text)


def stanzas(text: str) -> list[dict[str, Any]]:
    """Lyrics as stanzas (split on blank lines): an optional `[Chorus]`-style label and lines; plain text."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    result: list[dict[str, Any]] = []
    for block in blocks:
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        label = ""
        if lines and _PART_LABEL.fullmatch(lines[0]):
            label, lines = lines[0][1:-1].strip(), lines[1:]
        if lines or label:
            result.append({"label": label, "lines": lines})
    return result


def disclosure_rows(page: GiftPage) -> list[dict[str, str]]:
    """What made each part of the gift (a model or the procedural generator), and which kind of provider."""
    providers, disclosure = page.providers, page.disclosure

    def made(stage: str, model: str = "") -> str:
        kind = providers.get(stage, page.lyrics.provider if stage == "lyrics" else "offline")
        made_by = disclosure.made(stage)
        return f"{made_by[:1].upper()}{made_by[1:]}: {_provider(kind, model)}"

    rows = [{"label": "Lyrics", "text": made("lyrics", page.lyrics.model)}, {"label": "Music", "text": made("audio")}]
    if page.public.has_cover_photo:
        rows.append({"label": "Cover", "text": f"A photo chosen by {page.public.from_display_name} (not generated);"
                                               f" the link preview image was {disclosure.made('cover')}"})
    else:
        rows.append({"label": "Cover art", "text": made("cover")})
    return rows


def made_sentence(disclosure: Disclosure, *, with_cover: bool) -> str:
    """"The lyrics were generated by AI; the music and cover art were made by a procedural generator": the
    parts grouped by what made them, in the order lyrics, music, cover art."""
    parts = [("lyrics", "lyrics"), ("audio", "music")] + ([("cover", "cover art")] if with_cover else [])
    groups: dict[str, list[tuple[str, str]]] = {}
    for stage, name in parts:
        groups.setdefault(disclosure.maker(stage), []).append((stage, name))
    clauses = []
    for members in groups.values():
        names = [name for _, name in members]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "were" if len(names) > 1 or names == ["lyrics"] else "was"
        clauses.append(f"the {listed} {verb} {disclosure.made(members[0][0])}")
    sentence = "; ".join(clauses)
    return sentence[:1].upper() + sentence[1:]


def _stages(page: GiftPage) -> tuple[str, ...]:
    """The generated parts the page shows (the buyer's photo is not one)."""
    return ("lyrics", "audio") if page.public.has_cover_photo else ("lyrics", "audio", "cover")


def _provider(kind: str, model: str = "") -> str:
    label = PROVIDER_LABELS.get(kind, f"an AI provider ({kind})")
    return f"{label}, model {model}" if model and kind != "offline" else label


def _credentials_line(page: GiftPage) -> str:
    generated = [page.audio, page.social] + ([] if page.public.has_cover_photo else [page.cover])
    if all(has_content_credentials(f) for f in generated):
        return ("The audio and generated images carry signed Content Credentials (C2PA) and IPTC metadata that "
                "declare how they were made.")
    return ("The audio and generated images carry IPTC metadata that declares how they were made; signed "
            "Content Credentials (C2PA) are not attached to this gift.")


def has_content_credentials(file: MediaFile) -> bool:
    """Whether a published file embeds a C2PA manifest (a JUMBF box labelled c2pa; a byte check, no parsing)."""
    return b"jumb" in file.data and b"c2pa" in file.data


def _social_tags(page: GiftPage, public_base_url: str) -> dict[str, str]:
    base = public_base_url.rstrip("/") + f"/gifts/{page.token}/" if public_base_url else ""
    makers = {page.disclosure.maker(stage) for stage in ("lyrics", "audio", "cover")}
    description = SOCIAL_DESCRIPTIONS[makers.pop() if len(makers) == 1 else "mixed"]
    alt = f"Cover art for a personal song, with a {page.disclosure.badge('cover')} badge"
    return {"title": SOCIAL_TITLE, "description": description, "image": base + page.social.name,
            "image_alt": alt, "url": base}


def _style_line(page: GiftPage) -> str:
    style = page.public.style
    return f"{style.mood.capitalize()} {style.genre.replace('-', ' ')}, {style.tempo} tempo"


def _seconds(audio: MediaFile) -> int:
    """The song's length in whole seconds as a player shows it (rounded down), or 0 when it cannot be read."""
    if audio.seconds:
        return int(audio.seconds)
    try:
        info = mutagen.File(io.BytesIO(audio.data))
        return int(info.info.length) if info is not None else 0
    except Exception:  # mutagen's error families; the length is optional
        return 0


def _duration(audio: MediaFile) -> str:
    """"m:ss" for the player caption (shown before anything plays), or nothing."""
    seconds = _seconds(audio)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds else ""


def _image(file: MediaFile) -> _Image:
    width, height = image_size(file.data)
    return _Image(file.name, file.mime, width, height)


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _human_time(moment: datetime) -> str:
    utc = _utc(moment)
    return f"{utc.day} {utc:%B %Y} at {utc:%H:%M} UTC"


@cache
def _environment() -> Environment:
    return make_environment(TEMPLATES_DIR)


@cache
def _stylesheet(name: str) -> str:
    """Our CSS with comments and redundant whitespace removed (the page's byte budget is 14 KB)."""
    text = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*([{};,>])\s*", r"\1", text)
    text = re.sub(r":\s+", ":", text)  # selectors never have a space after a colon; declarations need none
    return text.replace(";}", "}").strip()


def _render(name: str, context: dict[str, Any]) -> str:
    try:
        return _environment().get_template(name).render(context)
    except TemplateError as error:
        raise template_error(error) from None
