"""Audio disclosure tags: whatever metadata a provider left is removed, then the disclosure is written.

A provider's file may carry its own tags (some models put the prompt there, and prompts hold the private
story), so tags are rebuilt from nothing, saying what made the music and the lyrics (disclosure.py): a WAV
keeps only its `fmt `, `fact` and `data` chunks and gets a RIFF INFO list plus an ID3 chunk; an MP3 or FLAC
loses every tag and gets a comment. Never the prompt.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from mutagen.flac import FLAC
from mutagen.id3 import COMM, ID3, TCON, TXXX, ID3NoHeaderError
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

from builder.errors import MediaError
from builder.gifts.disclosure import MODEL, OFFLINE, Disclosure

SOFTWARE = "Giftboard"
_KEEP_WAV_CHUNKS = (b"fmt ", b"fact", b"data")


@dataclass(frozen=True)
class _Tags:
    comment: str
    source_type: str
    genre: str


def _tags(disclosure: Disclosure) -> _Tags:
    genre = "AI-generated" if disclosure.maker("audio") == MODEL else "Procedurally generated"
    return _Tags(disclosure.audio_comment(), disclosure.source_type("audio"), genre)


def tag_audio(data: bytes, extension: str, disclosure: Disclosure = OFFLINE) -> bytes:
    """Strip every existing tag from a WAV/MP3/FLAC file and write only the disclosure; MediaError otherwise."""
    kind = extension.lower().lstrip(".")
    tags = _tags(disclosure)
    if kind == "wav":
        return _tag_wav(data, tags)
    if kind == "mp3":
        return _tag_mp3(data, tags)
    if kind == "flac":
        return _tag_flac(data, tags)
    raise MediaError(f"audio format {kind!r} cannot carry a disclosure tag (wav, mp3 and flac can)")


def _tag_wav(data: bytes, tags: _Tags) -> bytes:
    chunks = _riff_chunks(data)
    if not any(chunk_id == b"data" for chunk_id, _ in chunks) or not any(cid == b"fmt " for cid, _ in chunks):
        raise MediaError("the audio is not a playable WAV file (no fmt or data chunk)")
    body = b"WAVE" + b"".join(_chunk(cid, payload) for cid, payload in chunks if cid in _KEEP_WAV_CHUNKS)
    body += _chunk(b"LIST", b"INFO" + _chunk(b"ICMT", _zstr(tags.comment))
                   + _chunk(b"ISFT", _zstr(SOFTWARE)) + _chunk(b"IGNR", _zstr(tags.genre)))
    stream = io.BytesIO(b"RIFF" + struct.pack("<I", len(body)) + body)
    try:
        wave = WAVE(stream)
        wave.add_tags()
        _id3_frames(wave.tags, tags)
        stream.seek(0)
        wave.save(stream)
    except MediaError:
        raise
    except Exception:  # mutagen's error families
        raise MediaError("the audio is not a WAV file that can be tagged") from None
    return stream.getvalue()


def _tag_mp3(data: bytes, tags: _Tags) -> bytes:
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
    id3 = ID3()
    _id3_frames(id3, tags)
    try:
        id3.save(stream, v1=0, v2_version=4)
    except Exception:  # mutagen's error families
        raise MediaError("the audio is not an MP3 file that can be tagged") from None
    return stream.getvalue()


def _tag_flac(data: bytes, tags: _Tags) -> bytes:
    stream = io.BytesIO(data)
    try:
        flac = FLAC(stream)
        # keep stream info, seek table and the comment block we rewrite; drop pictures, cue sheets, app data
        flac.metadata_blocks = [block for block in flac.metadata_blocks if block.code in (0, 3, 4)]
        if flac.tags is None:
            flac.add_tags()
        flac.tags.clear()  # type: ignore[union-attr]
        flac.tags["COMMENT"] = tags.comment  # type: ignore[index]
        flac.tags["DIGITALSOURCETYPE"] = tags.source_type  # type: ignore[index]
        flac.tags["GENRE"] = tags.genre  # type: ignore[index]
        stream.seek(0)
        flac.save(stream, deleteid3=True, padding=lambda info: 0)
    except Exception:  # mutagen's error families: the file is not a FLAC we can rewrite safely
        raise MediaError("the audio is not a readable FLAC file") from None
    return stream.getvalue()


def _id3_frames(id3: ID3 | None, tags: _Tags) -> None:
    if id3 is None:
        raise MediaError("the audio could not take ID3 tags")
    id3.add(COMM(encoding=3, lang="eng", desc="", text=[tags.comment]))
    id3.add(TXXX(encoding=3, desc="DigitalSourceType", text=[tags.source_type]))
    id3.add(TCON(encoding=3, text=[tags.genre]))


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
