"""Gift media: uploads come out clean, AI media comes out stamped and marked, audio carries a disclosure."""

from __future__ import annotations

import io
import struct
import wave

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TXXX
from mutagen.mp3 import MP3
from mutagen.wave import WAVE
from PIL import Image, ImageCms, ImageDraw, PngImagePlugin

from builder.errors import MediaError
from builder.gifts.audio_tags import tag_audio
from builder.gifts.content_credentials import C2paSettings
from builder.gifts.contracts import AudioClip, CoverArt
from builder.gifts.disclosure import ALGORITHMIC
from builder.gifts.marking import encode_image
from builder.gifts.media import prepare_media
from builder.gifts.photo import MAX_PHOTO_BYTES, clean_image
from builder.gifts.stamp import SOCIAL_SIZE

OFF = C2paSettings.off("tests sign nothing here")
SECRETS = (b"SecretCam", b"WGS-84-secret", b"com-secret-marker", b"xmp-secret-marker", b"png-secret-marker",
           b"Maya Example")
GPS_IFD = 0x8825


def _artwork(size: tuple[int, int] = (800, 600)) -> Image.Image:
    image = Image.new("RGB", size, (236, 200, 170))
    draw = ImageDraw.Draw(image)
    for step in range(0, size[0], 40):
        draw.ellipse((step, step // 2, step + 160, step // 2 + 160), fill=(180, 90 + step % 120, 120))
    return image


def _icc_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _xmp(marker: str) -> bytes:
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:source="{marker}"/>'
            "</rdf:RDF></x:xmpmeta>").encode()


def dirty_jpeg() -> bytes:
    """A phone-like JPEG: EXIF with GPS and camera make, orientation 6, a COM comment, XMP and an ICC profile."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0), 18: "WGS-84-secret"})
    out = io.BytesIO()
    _artwork((800, 600)).save(out, "JPEG", exif=exif, comment=b"com-secret-marker", icc_profile=_icc_profile(),
                              xmp=_xmp("xmp-secret-marker"), quality=90)
    return out.getvalue()


def dirty_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "png-secret-marker Maya Example")
    info.add_itxt("XML:com.adobe.xmp", _xmp("xmp-secret-marker").decode())
    out = io.BytesIO()
    _artwork((640, 480)).save(out, "PNG", pnginfo=info, icc_profile=_icc_profile())
    return out.getvalue()


def assert_no_metadata(data: bytes) -> None:
    for marker in (*SECRETS, b"Exif", b"ICC_PROFILE", b"iCCP", b"acsp", b"http://ns.adobe.com/xap/1.0/", b"tEXt",
                   b"iTXt", b"x:xmpmeta"):
        assert marker not in data, f"{marker!r} survived"
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert not image.getexif(), "EXIF survived"
        assert not image.getexif().get_ifd(GPS_IFD), "GPS survived"
        assert not {"exif", "icc_profile", "comment", "xmp", "XML:com.adobe.xmp"} & set(image.info)
        if image.format == "JPEG":
            assert data.count(b"\xff\xd8") == 1, "an embedded thumbnail (a second JPEG) survived"


def test_dirty_jpeg_fixture_really_carries_the_metadata() -> None:
    data = dirty_jpeg()
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif().get_ifd(GPS_IFD)[18] == "WGS-84-secret"
        assert image.info["comment"] == b"com-secret-marker"
        assert image.info["icc_profile"] and b"xmp-secret-marker" in image.info["xmp"]


def test_photo_with_gps_comment_xmp_and_icc_comes_out_with_none_of_it() -> None:
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=dirty_jpeg(), c2pa=OFF)
    covers = [media.cover, media.cover_fallback, *media.extra_files]
    assert [f.name for f in covers] == ["cover.webp", "cover.jpg", "cover-480.webp"]
    for file in covers:
        assert_no_metadata(file.data)
        assert b"Iptc4xmpExt" not in file.data  # the buyer's photo is not AI-generated: no AI claim on it


def test_photo_orientation_is_applied_before_the_exif_is_dropped() -> None:
    image = clean_image(dirty_jpeg())
    assert image.size == (600, 800)  # stored 800×600 with orientation 6: upright it is portrait
    assert image.mode == "RGB" and image.info == {}


def test_png_text_xmp_and_icc_are_dropped() -> None:
    data = encode_image(clean_image(dirty_png()), "PNG")
    assert_no_metadata(data)
    for image_format in ("WEBP", "JPEG"):
        assert_no_metadata(encode_image(clean_image(dirty_png()), image_format))


def test_transparent_png_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    image = clean_image(_png(rgba))
    assert image.mode == "RGB" and image.getpixel((5, 5)) == (255, 255, 255)


def test_decompression_bomb_is_refused_cleanly() -> None:
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")  # 144 MP in a few kilobytes
    assert len(bomb.getvalue()) < 1_000_000
    with pytest.raises(MediaError, match="too many pixels"):
        clean_image(bomb.getvalue())


def test_photo_over_our_pixel_limit_is_refused_before_decoding() -> None:
    with pytest.raises(MediaError, match="too many pixels"):
        clean_image(_png(_artwork((400, 300))), max_pixels=100_000)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "not a JPEG, PNG or WebP"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "not a JPEG, PNG or WebP"),  # an image, but not an allowed format
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "not a JPEG, PNG or WebP"),
        (b"", "empty"),
    ],
    ids=["pdf", "gif", "svg", "empty"],
)
def test_non_image_upload_is_refused_with_a_clear_error(upload: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        clean_image(upload)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_uploads_give_a_clean_image_or_a_media_error_never_a_crash(data: st.DataObject) -> None:
    original = bytearray(_small_jpeg())
    for _ in range(data.draw(st.integers(1, 12))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(2, len(original)))
    try:
        image = clean_image(bytes(original[:cut]))
    except MediaError:
        return
    assert image.mode == "RGB" and image.info == {}


def test_truncated_jpeg_is_refused_as_damaged() -> None:
    with pytest.raises(MediaError, match="damaged"):
        clean_image(dirty_jpeg()[:2000])


def test_photo_over_ten_megabytes_is_refused() -> None:
    with pytest.raises(MediaError, match="larger than 10 MB"):
        clean_image(b"\xff\xd8" + b"\0" * MAX_PHOTO_BYTES)


def test_cover_art_is_stamped_marked_and_loses_the_providers_metadata() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "prompt: a song for Maya Example about her secret")
    art = io.BytesIO()
    _artwork((1024, 1024)).save(art, "PNG", pnginfo=info)
    media = prepare_media(art=CoverArt(art.getvalue(), "offline"), audio=_clip(), photo=None, c2pa=OFF)
    for file in (media.cover, media.cover_fallback, *media.extra_files, media.social):
        assert b"prompt" not in file.data and b"Maya Example" not in file.data
        with Image.open(io.BytesIO(file.data)) as image:
            xmp = image.info["xmp"]
            assert b"Iptc4xmpExt:DigitalSourceType" in xmp and ALGORITHMIC.encode() in xmp
            assert "exif" not in image.info and "icc_profile" not in image.info
    with Image.open(io.BytesIO(media.cover_fallback.data)) as cover:
        assert cover.size == (960, 960)
        assert _dark_share(cover.convert("RGB").crop((720, 880, 930, 940))) > 0.3  # the badge, bottom right
        assert _dark_share(cover.convert("RGB").crop((40, 40, 250, 100))) < 0.05


def test_social_image_is_1200_by_630_with_the_stamp_and_marking() -> None:
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=None, c2pa=OFF)
    assert media.social.name == "social.jpg" and media.social.mime == "image/jpeg"
    with Image.open(io.BytesIO(media.social.data)) as social:
        assert social.size == SOCIAL_SIZE
        assert ALGORITHMIC.encode() in social.info["xmp"]
        assert _dark_share(social.convert("RGB").crop((930, 560, 1170, 610))) > 0.3


def test_png_output_carries_xmp_and_text_chunks() -> None:
    data = encode_image(_artwork(), "PNG", digital_source_type=ALGORITHMIC)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.info["DigitalSourceType"] == ALGORITHMIC
        assert ALGORITHMIC.encode() in image.info["xmp"]


def test_media_file_names_are_fixed() -> None:
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=None, c2pa=OFF)
    assert sorted(f.name for f in media.files) == ["cover-480.webp", "cover.jpg", "cover.webp", "social.jpg",
                                                    "song.mp3"]


# --- audio ------------------------------------------------------------------------------------------------------


def test_wav_loses_provider_tags_and_gains_the_disclosure() -> None:
    dirty = _wav_with_info(b"prompt: a song for Maya Example, secret story")
    tagged = tag_audio(dirty, "wav")
    assert b"Maya Example" not in tagged and b"prompt" not in tagged
    assert b"ICMT" in tagged and ALGORITHMIC.encode() in tagged
    tags = WAVE(io.BytesIO(tagged)).tags
    assert tags is not None
    assert tags.getall("TXXX:DigitalSourceType")[0].text == [ALGORITHMIC]
    assert "made by a procedural generator" in str(tags.getall("COMM")[0].text[0])
    with wave.open(io.BytesIO(tagged)) as before, wave.open(io.BytesIO(dirty)) as after:
        assert before.getnframes() == after.getnframes() == 8000
        assert before.readframes(8000) == after.readframes(8000)


def test_mp3_loses_id3v1_and_id3v2_tags_and_gains_the_disclosure() -> None:
    dirty = fake_mp3("a song for Maya Example")
    tagged = tag_audio(dirty, "mp3")
    assert b"Maya Example" not in tagged and b"prompt" not in tagged
    mp3 = MP3(io.BytesIO(tagged))
    assert mp3.info.length > 0.5
    assert mp3.tags is not None and mp3.tags.getall("TXXX:DigitalSourceType")[0].text == [ALGORITHMIC]


def test_flac_loses_comments_and_gains_the_disclosure() -> None:
    tagged = tag_audio(fake_flac(b"PROMPT=a song for Maya Example"), "flac")
    assert b"Maya Example" not in tagged and b"PROMPT" not in tagged
    tags = FLAC(io.BytesIO(tagged)).tags
    assert tags is not None and tags["DIGITALSOURCETYPE"] == [ALGORITHMIC]


def test_audio_that_cannot_carry_a_disclosure_is_refused() -> None:
    with pytest.raises(MediaError, match="cannot carry a disclosure"):
        tag_audio(b"OggS" + b"\0" * 100, "ogg")
    with pytest.raises(MediaError, match="not a WAV"):
        tag_audio(b"not audio at all", "wav")


def _small_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(GPS_IFD)[18] = "WGS-84"
    out = io.BytesIO()
    _artwork((64, 48)).save(out, "JPEG", exif=exif, comment=b"c", icc_profile=_icc_profile())
    return out.getvalue()


def fake_flac(comment: bytes) -> bytes:
    """A FLAC header (STREAMINFO, no frames) followed by a Vorbis comment block holding `comment`."""
    fields = (44100 << 44) | (1 << 41) | (15 << 36)
    info = struct.pack(">HH", 4096, 4096) + bytes(6) + fields.to_bytes(8, "big") + bytes(16)
    vorbis = struct.pack("<I", 1) + b"x" + struct.pack("<II", 1, len(comment)) + comment
    return (b"fLaC" + bytes([0]) + len(info).to_bytes(3, "big") + info
            + bytes([0x80 | 4]) + len(vorbis).to_bytes(3, "big") + vorbis)


def fake_mp3(secret: str) -> bytes:
    """30 silent MPEG-1 layer III frames with an ID3v2 tag and an ID3v1 tag holding `secret`."""
    stream = io.BytesIO((b"\xff\xfb\x90\x00" + b"\0" * 413) * 30)
    tag = ID3()
    tag.add(TXXX(encoding=3, desc="prompt", text=[secret]))
    tag.save(stream)
    return stream.getvalue() + b"TAG" + secret.encode().ljust(125, b"\0")


def _dark_share(region: Image.Image) -> float:
    histogram = region.convert("L").histogram()
    return sum(histogram[:70]) / sum(histogram)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _wav_with_info(comment: bytes) -> bytes:
    plain = io.BytesIO()
    with wave.open(plain, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"".join(struct.pack("<h", (n * 37) % 20000 - 10000) for n in range(8000)))
    payload = comment + b"\0"
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")
    body = plain.getvalue()[8:] + b"LIST" + struct.pack("<I", len(info)) + info
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _clip() -> AudioClip:
    return AudioClip(data=_wav_with_info(b"provider"), mime="audio/wav", extension="wav", duration_s=1.0,
                     provider="offline")
