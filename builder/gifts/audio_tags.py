"""Audio disclosure tags: whatever metadata a provider left is removed, then an AI disclosure is written.

A provider's file may carry its own tags (some models put the prompt there, and prompts hold the private
story), so tags are rebuilt from nothing: a WAV keeps only its `fmt `, `fact` and `data` chunks and gets a
RIFF INFO list plus an ID3 chunk; an MP3 or FLAC loses every tag and gets a comment. Never the prompt.
"""

from __future__ import annotations

import io
import struct

from mutagen.flac import FLAC
from mutagen.id3 import COMM, ID3, TCON, TXXX, ID3NoHeaderError
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

from builder.errors import MediaError
from builder.gifts.contracts import DIGITAL_SOURCE_TYPE

SOFTWARE = "Giftboard"
_KEEP_WAV_CHUNKS = (b"fmt ", b"fact", b"data")


def disclosure_comment(digital_source_type: str = DIGITAL_SOURCE_TYPE) -> str:
    """The human-readable disclosure stored in audio comments."""
    return f"AI-generated music (lyrics and audio made with AI). IPTC digital source type: {digital_source_type}"


def tag_audio(data: bytes, extension: str, digital_source_type: str = DIGITAL_SOURCE_TYPE) -> bytes:
    """Strip every existing tag from a WAV/MP3/FLAC file and write only the AI disclosure; MediaError otherwise."""
    kind = extension.lower().lstrip(".")
    if kind == "wav":
        return _tag_wav(data, digital_source_type)
    if kind == "mp3":
        return _tag_mp3(data, digital_source_type)
    if kind == "flac":
        return _tag_flac(data, digital_source_type)
    raise MediaError(f"audio format {kind!r} cannot carry a disclosure tag (wav, mp3 and flac can)")


def _tag_wav(data: bytes, digital_source_type: str) -> bytes:
    chunks = _riff_chunks(data)
    if not any(chunk_id == b"data" for chunk_id, _ in chunks) or not any(cid == b"fmt " for cid, _ in chunks):
        raise MediaError("the audio is not a playable WAV file (no fmt or data chunk)")
    body = b"WAVE" + b"".join(_chunk(cid, payload) for cid, payload in chunks if cid in _KEEP_WAV_CHUNKS)
    body += _chunk(b"LIST", b"INFO" + _chunk(b"ICMT", _zstr(disclosure_comment(digital_source_type)))
                   + _chunk(b"ISFT", _zstr(SOFTWARE)) + _chunk(b"IGNR", _zstr("AI-generated")))
    stream = io.BytesIO(b"RIFF" + struct.pack("<I", len(body)) + body)
    try:
        wave = WAVE(stream)
        wave.add_tags()
        _id3_frames(wave.tags, digital_source_type)
        stream.seek(0)
        wave.save(stream)
    except MediaError:
        raise
    except Exception:  # mutagen's error families
        raise MediaError("the audio is not a WAV file that can be tagged") from None
    return stream.getvalue()


def _tag_mp3(data: bytes, digital_source_type: str) -> bytes:
    stream = io.BytesIO(data)
    try:
        MP3(stream)
    except Exception:  # mutagen raises its own families; any of them means "not an MP3 we can tag"
        raise MediaError("the audio is not a readable MP3 file") from None
    stream.seek(0)
    try:
        ID3(stream).delete(stream)  # removes ID3v2 and ID3v1
    except ID3NoHeaderError:
        pass
    stream.seek(0)
    data = _drop_trailing_tags(stream.getvalue())
    stream = io.BytesIO(data)
    tags = ID3()
    _id3_frames(tags, digital_source_type)
    try:
        tags.save(stream, v1=0, v2_version=4)
    except Exception:  # mutagen's error families
        raise MediaError("the audio is not an MP3 file that can be tagged") from None
    return stream.getvalue()


def _tag_flac(data: bytes, digital_source_type: str) -> bytes:
    stream = io.BytesIO(data)
    try:
        flac = FLAC(stream)
        # keep stream info, seek table and the comment block we rewrite; drop pictures, cue sheets, app data
        flac.metadata_blocks = [block for block in flac.metadata_blocks if block.code in (0, 3, 4)]
        if flac.tags is None:
            flac.add_tags()
        flac.tags.clear()  # type: ignore[union-attr]
        flac.tags["COMMENT"] = disclosure_comment(digital_source_type)  # type: ignore[index]
        flac.tags["DIGITALSOURCETYPE"] = digital_source_type  # type: ignore[index]
        flac.tags["GENRE"] = "AI-generated"  # type: ignore[index]
        stream.seek(0)
        flac.save(stream, deleteid3=True, padding=lambda info: 0)
    except Exception:  # mutagen's error families: the file is not a FLAC we can rewrite safely
        raise MediaError("the audio is not a readable FLAC file") from None
    return stream.getvalue()


def _id3_frames(tags: ID3 | None, digital_source_type: str) -> None:
    if tags is None:
        raise MediaError("the audio could not take ID3 tags")
    tags.add(COMM(encoding=3, lang="eng", desc="", text=[disclosure_comment(digital_source_type)]))
    tags.add(TXXX(encoding=3, desc="DigitalSourceType", text=[digital_source_type]))
    tags.add(TCON(encoding=3, text=["AI-generated"]))


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MediaError("the audio is not a WAV file")
    chunks: list[tuple[bytes, bytes]] = []
    offset = 12
    end = min(len(data), 8 + struct.unpack_from("<I", data, 4)[0])
    while offset + 8 <= end:
        chunk_id, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        payload = data[offset + 8: offset + 8 + size]
        if len(payload) != size:
            raise MediaError("the WAV file is truncated")
        chunks.append((chunk_id, payload))
        offset += 8 + size + (size & 1)
    return chunks


def _chunk(chunk_id: bytes, payload: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def _zstr(text: str) -> bytes:
    return text.encode("ascii", "replace") + b"\0"


def _drop_trailing_tags(data: bytes) -> bytes:
    """Remove an APEv2 footer or a leftover ID3v1 block at the end of an MP3 (mutagen's ID3 ignores APE)."""
    if data[-128:-125] == b"TAG":
        data = data[:-128]
    if data[-32:-24] == b"APETAGEX":
        size = struct.unpack_from("<I", data, len(data) - 20)[0]
        flags = struct.unpack_from("<I", data, len(data) - 12)[0]
        data = data[: len(data) - size - (32 if flags & 0x80000000 else 0)]
    return data
