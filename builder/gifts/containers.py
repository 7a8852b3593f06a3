"""Split media files into metadata and coded payload, so the guard reads the parts that can carry text closely.

Text hides in PNG text/ICC/EXIF chunks, RIFF INFO/XMP/C2PA chunks (WAV, WebP), JPEG APPn/COM segments, FLAC
metadata blocks, MP3 ID3/APE tags, and bytes appended after the end of an image. Compressed pixel data, PCM
samples and audio frames are "payload": the guard still reads them for plain ASCII/UTF-8 text, but not in
every encoding (random bytes decode as endless nonsense, which costs seconds and proves nothing). Unknown
formats are metadata from end to end.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RIFF_PAYLOAD = {b"data", b"VP8 ", b"VP8L", b"ALPH", b"ANMF"}
MAX_INFLATED = 8 * 1024 * 1024  # a text chunk that inflates further is read only this far (no zip bombs)


@dataclass
class Parts:
    metadata: list[bytes] = field(default_factory=list)
    payload: list[bytes] = field(default_factory=list)
    inflated: list[bytes] = field(default_factory=list)  # decompressed text chunks (PNG zTXt/iTXt/iCCP)


def split(data: bytes) -> Parts:
    """Metadata and payload of a PNG, RIFF (WAV, WebP), JPEG, FLAC or MP3 file; anything else is all metadata."""
    try:
        if data.startswith(PNG_SIGNATURE):
            return _png(data)
        if data[:4] == b"RIFF" and len(data) >= 12:
            return _riff(data)
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg(data)
        if data[:4] == b"fLaC":
            return _flac(data)
        if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
            return _mp3(data)
    except (IndexError, ValueError):
        pass  # a damaged container: read all of it closely
    return Parts(metadata=[data])


def _png(data: bytes) -> Parts:
    parts = Parts(metadata=[data[:8]])
    offset = 8
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        chunk = data[offset:end]
        (parts.payload if kind in (b"IDAT", b"fdAT") else parts.metadata).append(chunk)
        body = data[offset + 8 : offset + 8 + length]
        if kind in (b"zTXt", b"iCCP") and b"\x00" in body:
            parts.inflated.append(_inflate(body.split(b"\x00", 1)[1][1:]))
        elif kind == b"iTXt" and b"\x00" in body:
            keyword_end = body.index(b"\x00")
            rest = body[keyword_end + 3 :].split(b"\x00", 2)  # language tag, translated keyword, text
            if body[keyword_end + 1 : keyword_end + 2] == b"\x01" and len(rest) == 3:
                parts.inflated.append(_inflate(rest[2]))
        offset = end
        if kind == b"IEND":
            break
    if offset < len(data):
        parts.metadata.append(data[offset:])  # bytes after IEND
    return parts


def _riff(data: bytes) -> Parts:
    parts = Parts(metadata=[data[:12]])
    offset = 12
    while offset + 8 <= len(data):
        kind = data[offset : offset + 4]
        length = int.from_bytes(data[offset + 4 : offset + 8], "little")
        end = min(len(data), offset + 8 + length + (length & 1))
        chunk = data[offset:end]
        if kind in RIFF_PAYLOAD:
            parts.metadata.append(chunk[:8])
            parts.payload.append(chunk[8:])
        else:
            parts.metadata.append(chunk)
        offset = end
    if offset < len(data):
        parts.metadata.append(data[offset:])
    return parts


def _jpeg(data: bytes) -> Parts:
    parts = Parts()
    offset = 2
    parts.metadata.append(data[:2])
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xDA:  # start of scan: coded data (and later tables) up to the end-of-image marker
            eoi = data.rfind(b"\xff\xd9")
            stop = eoi + 2 if eoi > offset else len(data)
            parts.payload.append(data[offset:stop])
            if stop < len(data):
                parts.metadata.append(data[stop:])  # bytes appended after the image
            return parts
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        parts.metadata.append(data[offset : offset + 2 + length])
        offset += 2 + length
    parts.metadata.append(data[offset:])
    return parts


def _flac(data: bytes) -> Parts:
    """FLAC: metadata blocks (Vorbis comments, pictures, application data) up to the last-block flag."""
    offset = 4
    while offset + 4 <= len(data):
        header = data[offset]
        offset += 4 + int.from_bytes(data[offset + 1 : offset + 4], "big")
        if header & 0x80:
            break
    return Parts(metadata=[data[:offset]], payload=[data[offset:]])


MP3_TAIL = 64 * 1024  # ID3v1, Lyrics3 and APEv2 tags live at the end of the file


def _mp3(data: bytes) -> Parts:
    """MP3: the ID3v2 tag at the start and the last 64 KB (trailing tags) are metadata; frames are payload."""
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:  # a syncsafe integer: seven bits per byte
            size = (size << 7) | (byte & 0x7F)
        start = 10 + size + (10 if data[5] & 0x10 else 0)  # header, tag, optional footer
    tail = max(start, len(data) - MP3_TAIL)
    return Parts(metadata=[data[:start], data[tail:]], payload=[data[start:tail]])


def _inflate(payload: bytes) -> bytes:
    try:
        return zlib.decompressobj().decompress(payload, MAX_INFLATED)
    except zlib.error:
        return b""
