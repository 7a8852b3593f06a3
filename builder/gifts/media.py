"""Gift media: provider output and the buyer's photo become the files a gift page publishes.

Images: cleaned (photo.py), stamped (stamp.py), encoded with explicit arguments and the IPTC marking
(marking.py), then signed with C2PA (content_credentials.py). Audio: re-encoded as a small MP3
(audio_encoding.py), tagged with a disclosure (audio_tags.py), then signed. File names are fixed
(`cover.webp`, `song.mp3`, …): they never carry names.

The buyer's photo is not AI-generated, so when it is the cover it is published clean and unmarked; the
social card is always drawn from the generated cover art and carries the stamp and the marking.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from builder.errors import MediaError
from builder.gifts.audio_encoding import encode_mp3
from builder.gifts.audio_tags import tag_audio
from builder.gifts.content_credentials import C2paSettings, sign_media
from builder.gifts.contracts import AudioClip, CoverArt, MediaFile
from builder.gifts.disclosure import OFFLINE, Disclosure
from builder.gifts.marking import EXTENSIONS, MIME_TYPES, ImageFormat, encode_image
from builder.gifts.photo import clean_image, fit_within
from builder.gifts.stamp import social_card, stamp_ai_badge

COVER_SIZE = 960  # longest side of the main cover (2× a 480 CSS px column)
COVER_SMALL_SIZE = 480
MAX_ART_BYTES = 20 * 1024 * 1024
AUDIO_FORMATS = ("wav", "mp3", "flac")  # what providers may send; the page always gets song.mp3


@dataclass(frozen=True)
class GiftMedia:
    """The media files of one gift page, by role; `extra_files` holds the smaller srcset variant."""

    cover: MediaFile  # cover.webp
    cover_fallback: MediaFile  # cover.jpg
    social: MediaFile  # social.jpg, 1200×630
    audio: MediaFile  # song.<ext>
    cover_is_photo: bool
    extra_files: list[MediaFile] = field(default_factory=list)

    @property
    def files(self) -> list[MediaFile]:
        """Every file to publish beside index.html."""
        return [self.cover, self.cover_fallback, *self.extra_files, self.social, self.audio]


def prepare_media(*, art: CoverArt, audio: AudioClip, photo: bytes | None, c2pa: C2paSettings,
                  disclosure: Disclosure = OFFLINE) -> GiftMedia:
    """Turn cover art, audio and the optional buyer photo into sanitised, disclosed, signed gift files; each
    file's marking says what made it (`disclosure`: a trained model or the built-in procedural generator)."""
    art_image = clean_image(art.png, max_bytes=MAX_ART_BYTES)
    cover_type, badge = disclosure.source_type("cover"), disclosure.badge("cover")
    if photo is not None:
        cover_files = photo_variants(photo)
    else:
        cover_files = cover_art_variants(art_image, c2pa=c2pa, digital_source_type=cover_type,
                                         software_agent=art.provider, badge=badge)
    social = social_image(art_image, c2pa=c2pa, digital_source_type=cover_type, software_agent=art.provider,
                          badge=badge)
    return GiftMedia(
        cover=cover_files[0], cover_fallback=cover_files[1], extra_files=cover_files[2:], social=social,
        audio=audio_file(audio, c2pa=c2pa, disclosure=disclosure), cover_is_photo=photo is not None,
    )


def photo_variants(photo: bytes) -> list[MediaFile]:
    """The buyer's photo as cover.webp, cover.jpg and cover-480.webp: clean pixels, no metadata at all."""
    image = clean_image(photo)
    return _variants(image, digital_source_type=None, stamp=None)


def cover_art_variants(art: Image.Image, *, c2pa: C2paSettings, digital_source_type: str,
                       software_agent: str = "", badge: str = OFFLINE.badge("cover")) -> list[MediaFile]:
    """Generated cover art, stamped with `badge`, marked in XMP and signed: cover.webp, cover.jpg, cover-480.webp."""
    files = _variants(art, digital_source_type=digital_source_type, stamp=badge)
    return [_signed(f, c2pa, digital_source_type, software_agent) for f in files]


def social_image(art: Image.Image, *, c2pa: C2paSettings, digital_source_type: str, software_agent: str = "",
                 badge: str = OFFLINE.badge("cover")) -> MediaFile:
    """The 1200×630 social.jpg: cover art, a generic headline (no names), the stamp, the marking and C2PA."""
    data = encode_image(social_card(art, badge), "JPEG", digital_source_type=digital_source_type, quality=80)
    return _signed(MediaFile("social.jpg", data, "image/jpeg"), c2pa, digital_source_type, software_agent)


def audio_file(audio: AudioClip, *, c2pa: C2paSettings, disclosure: Disclosure = OFFLINE) -> MediaFile:
    """song.mp3: the provider's audio re-encoded (nothing of its tags or frames survives), tagged with the
    disclosure, then signed."""
    extension = audio.extension.lower().lstrip(".")
    if extension not in AUDIO_FORMATS:
        raise MediaError(f"audio format {extension!r} is not supported (wav, mp3 or flac)")
    encoded = encode_mp3(audio.data)
    tagged = tag_audio(encoded.data, "mp3", disclosure)
    song = _signed(MediaFile("song.mp3", tagged, "audio/mpeg"), c2pa, disclosure.source_type("audio"), audio.provider)
    return MediaFile(song.name, song.data, song.mime, seconds=encoded.duration_s)


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of an encoded image we produced (read from its header)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _variants(image: Image.Image, *, digital_source_type: str | None, stamp: str | None) -> list[MediaFile]:
    large, small = fit_within(image, COVER_SIZE), fit_within(image, COVER_SMALL_SIZE)
    if stamp:  # stamped per size, so the badge stays legible at each one
        large, small = stamp_ai_badge(large, stamp), stamp_ai_badge(small, stamp)
    return [
        _encoded("cover", large, "WEBP", digital_source_type),
        _encoded("cover", large, "JPEG", digital_source_type),
        _encoded(f"cover-{COVER_SMALL_SIZE}", small, "WEBP", digital_source_type),
    ]


def _encoded(stem: str, image: Image.Image, image_format: ImageFormat, digital_source_type: str | None) -> MediaFile:
    data = encode_image(image, image_format, digital_source_type=digital_source_type)
    return MediaFile(f"{stem}.{EXTENSIONS[image_format]}", data, MIME_TYPES[image_format])


def _signed(file: MediaFile, c2pa: C2paSettings, digital_source_type: str, software_agent: str) -> MediaFile:
    data = sign_media(file.data, file.mime, c2pa, title=file.name, digital_source_type=digital_source_type,
                      software_agent=software_agent)
    return MediaFile(file.name, data, file.mime)
