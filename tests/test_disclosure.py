"""A truthful disclosure per stage: what the real pipeline publishes says a model made what a model made and the
built-in procedural generator made the rest, in all four forms, read back the way other tools read them:
IPTC DigitalSourceType in the images' XMP (Pillow), JSON-LD `digitalSourceType` (the page's script), the C2PA
`c2pa.created` actions (c2pa's reader) and the visible words; plus the song's own ID3 tag (mutagen)."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mutagen.mp3 import MP3
from PIL import Image

from builder.gifts.content_credentials import C2paSettings, digital_source_types, read_manifest
from builder.gifts.dev_certificates import ensure_dev_chain
from builder.gifts.disclosure import ALGORITHMIC, COMPOSITE_WITH_TRAINED, TRAINED
from builder.gifts.pipeline import produce_gift
from builder.gifts.providers import select_providers
from builder.gifts.publisher import new_gift_token
from tests.fakes.chat_api import ChatCompletionsFake
from tests.fakes.predictions_api import PredictionsConfig, PredictionsFake
from tests.gift_orders import sample_order

WHEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GENERATED_IMAGES = ("cover.webp", "cover.jpg", "cover-480.webp", "social.jpg")


@dataclass
class Published:
    folder: Path
    html: str
    ld: dict[str, Any]

    def xmp_source_type(self, name: str) -> tuple[str, str]:
        """(IPTC DigitalSourceType, description) from the image's XMP packet."""
        with Image.open(self.folder / name) as image:
            xmp = image.info["xmp"]
        xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
        source = re.search(r'Iptc4xmpExt:DigitalSourceType="([^"]+)"', xmp)
        description = re.search(r'<rdf:li xml:lang="x-default">([^<]+)</rdf:li>', xmp)
        assert source and description, name
        return source.group(1), description.group(1)

    def c2pa_source_types(self, name: str, mime: str, anchors: bytes) -> list[str]:
        manifest = read_manifest((self.folder / name).read_bytes(), mime, trust_anchors_pem=anchors)
        assert manifest is not None and manifest["_validation_state"] == "Trusted", name
        return digital_source_types(manifest)

    def id3_source_type(self) -> tuple[str, str]:
        tags = MP3(self.folder / "song.mp3").tags
        assert tags is not None
        return str(tags.getall("TXXX:DigitalSourceType")[0].text[0]), str(tags.getall("COMM")[0].text[0])

    @property
    def visible(self) -> str:
        """The page's words as a reader sees them (tags gone, entities decoded, spaces collapsed)."""
        import html

        body = self.html.split("<body>", 1)[1]
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[C2paSettings, bytes]:
    from cryptography import x509

    chain, key = ensure_dev_chain(tmp_path_factory.mktemp("c2pa"))
    root = x509.load_pem_x509_certificates(chain)[-1]
    from cryptography.hazmat.primitives.serialization import Encoding

    return C2paSettings(enabled=True, source="development", chain_pem=chain, key_pem=key), root.public_bytes(
        Encoding.PEM)


def _publish(tmp_path: Path, signing: C2paSettings, *, lyrics: str = "", audio: str = "",
             photo: bool = False) -> Published:
    env = {"GIFT_AUDIO_POLL_S": "0.01"}
    if lyrics:
        env |= {"GIFT_LYRICS_BASE_URL": lyrics, "GIFT_LYRICS_API_KEY": "sk-test"}
    if audio:
        env |= {"GIFT_AUDIO_BASE_URL": audio, "GIFT_AUDIO_API_KEY": "sk-test"}
    order = sample_order(cover_photo=_photo()) if photo else sample_order()
    token = new_gift_token()
    produce_gift(order, token, out_dir=tmp_path, providers=select_providers(env), generated_at=WHEN, c2pa=signing)
    folder = tmp_path / "gifts" / token
    page = (folder / "index.html").read_text()
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1))
    return Published(folder, page, ld)


def _photo() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 200)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_procedural_generator_is_never_called_ai(tmp_path: Path, signing: tuple[C2paSettings, bytes]) -> None:
    settings, anchors = signing
    gift = _publish(tmp_path, settings)
    for name in GENERATED_IMAGES:  # 1. IPTC in XMP
        assert gift.xmp_source_type(name) == (ALGORITHMIC, "Made by a procedural generator")
    assert gift.ld["digitalSourceType"] == ALGORITHMIC  # 2. JSON-LD, the song and each part
    assert gift.ld["audio"]["digitalSourceType"] == ALGORITHMIC
    assert gift.ld["recordingOf"]["lyrics"]["digitalSourceType"] == ALGORITHMIC
    assert gift.ld["image"]["digitalSourceType"] == ALGORITHMIC
    assert gift.ld["creativeWorkStatus"] == "Made by a procedural generator"
    assert gift.c2pa_source_types("song.mp3", "audio/mpeg", anchors) == [ALGORITHMIC]  # 3. C2PA
    for name in ("cover.webp", "cover.jpg", "social.jpg"):
        assert gift.c2pa_source_types(name, "image/jpeg" if name.endswith("jpg") else "image/webp",
                                      anchors) == [ALGORITHMIC]
    text = gift.visible  # 4. the words
    assert "The lyrics, music and cover art were made by a procedural generator, on 25 November 2026" in text
    assert "generated by AI" not in text and "Made with AI" not in text and "made with AI" not in gift.html
    assert "Made by software" in text
    assert gift.id3_source_type() == (ALGORITHMIC, "Music made by a procedural generator; lyrics made by a "
                                                   f"procedural generator. IPTC digital source type: {ALGORITHMIC}")


def test_model_lyrics_with_procedural_music_is_a_composite(tmp_path: Path,
                                                           signing: tuple[C2paSettings, bytes]) -> None:
    settings, anchors = signing
    with ChatCompletionsFake() as chat:
        gift = _publish(tmp_path, settings, lyrics=chat.url)
    assert gift.ld["digitalSourceType"] == COMPOSITE_WITH_TRAINED
    assert gift.ld["recordingOf"]["lyrics"]["digitalSourceType"] == TRAINED
    assert gift.ld["audio"]["digitalSourceType"] == ALGORITHMIC
    assert gift.ld["image"]["digitalSourceType"] == ALGORITHMIC
    assert gift.ld["creativeWorkStatus"] == "Made with AI"
    assert gift.xmp_source_type("cover.webp") == (ALGORITHMIC, "Made by a procedural generator")
    assert gift.c2pa_source_types("song.mp3", "audio/mpeg", anchors) == [ALGORITHMIC]
    text = gift.visible
    assert ("The lyrics were generated by AI; the music and cover art were made by a procedural generator, on"
            in text)
    assert "Lyrics Generated by AI: a large language model (Chat Completions API), model gpt-4o-mini" in text
    assert "Music Made by a procedural generator: Giftboard's built-in generator" in text
    assert gift.id3_source_type()[1].startswith("Music made by a procedural generator; lyrics generated by AI.")


def test_model_music_from_a_providers_mp3_says_generated_by_ai(tmp_path: Path,
                                                               signing: tuple[C2paSettings, bytes]) -> None:
    settings, anchors = signing
    with ChatCompletionsFake() as chat, PredictionsFake(PredictionsConfig(polls_to_finish=1, output="mp3")) as audio:
        gift = _publish(tmp_path, settings, lyrics=chat.url, audio=audio.url)
    assert gift.ld["audio"]["digitalSourceType"] == TRAINED
    assert gift.ld["recordingOf"]["lyrics"]["digitalSourceType"] == TRAINED
    assert gift.ld["digitalSourceType"] == COMPOSITE_WITH_TRAINED  # the cover art is still procedural
    assert gift.c2pa_source_types("song.mp3", "audio/mpeg", anchors) == [TRAINED]
    assert gift.id3_source_type() == (TRAINED, "Music generated by AI; lyrics generated by AI. "
                                               f"IPTC digital source type: {TRAINED}")
    for name in GENERATED_IMAGES:
        assert gift.xmp_source_type(name) == (ALGORITHMIC, "Made by a procedural generator")
    text = gift.visible
    assert ("The lyrics and music were generated by AI; the cover art was made by a procedural generator, on"
            in text)
    assert "Made with AI" in text


def test_a_song_made_only_by_models_is_trained_media_and_the_buyers_photo_claims_nothing(
        tmp_path: Path, signing: tuple[C2paSettings, bytes]) -> None:
    settings, anchors = signing
    with ChatCompletionsFake() as chat, PredictionsFake(PredictionsConfig(polls_to_finish=1)) as audio:
        gift = _publish(tmp_path, settings, lyrics=chat.url, audio=audio.url, photo=True)
    assert gift.ld["digitalSourceType"] == TRAINED  # lyrics and music by models; the cover is a photo
    assert "digitalSourceType" not in gift.ld["image"]
    assert gift.ld["creativeWorkStatus"] == "Made with AI"
    assert gift.c2pa_source_types("song.mp3", "audio/mpeg", anchors) == [TRAINED]
    with Image.open(gift.folder / "cover.webp") as photo:
        assert "xmp" not in photo.info  # not generated: no marking at all
    assert gift.xmp_source_type("social.jpg") == (ALGORITHMIC, "Made by a procedural generator")
    text = gift.visible
    assert "The lyrics and music were generated by AI, on" in text
    assert "the link preview image was made by a procedural generator" in text
