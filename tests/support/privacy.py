"""What a privacy check may skip: the identifiers the tool itself mints at random.

A short private fragment (the middle of a phone number, "0958") can turn up by chance inside an order ref
(`ord_09585042ffdf8227`), a draft id, a gift token or a key hash; that is the tool talking, not a leak, and a
check that flags it fails one run in a few. `without_generated_ids` blanks exactly those identifiers, by their
shapes, so every other byte is still searched for every private value.
"""

from __future__ import annotations

import re

GENERATED_IDS = re.compile(
    r"\b(?:ord|drf)_[0-9a-f]{8,}\b"  # order refs, draft ids
    r"|(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])"  # gift tokens: 32 URL-safe characters
    r"|\b[0-9a-f]{16,}\b"  # key hashes, fingerprints, digests
)
GENERATED_ID_BYTES = re.compile(GENERATED_IDS.pattern.encode())


def without_generated_ids(text: str) -> str:
    return GENERATED_IDS.sub("<id>", text)


def without_generated_id_bytes(data: bytes) -> bytes:
    return GENERATED_ID_BYTES.sub(b"<id>", data)
