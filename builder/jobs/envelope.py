"""The encrypted envelope: the private order at rest (Fernet: AES-128-CBC + HMAC-SHA256, authenticated).

The key comes from GIFT_ENVELOPE_KEY (`Settings.envelope_key`). Locally, without one, a demo key is generated into
.data/envelope.key; in CI or on Actions a missing key is a ConfigError, never a silent demo key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from builder.errors import ConfigError, EnvelopeError
from builder.settings import Settings

DEMO_KEY_PATH = Path(".data/envelope.key")


class Envelope:
    """Seals and opens private order bytes; derives keyed fingerprints that reveal nothing without the key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "GIFT_ENVELOPE_KEY is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from None
        self._mac_key = hashlib.sha256(b"giftboard-fingerprint\0" + key).digest()

    def __repr__(self) -> str:
        return "Envelope(<key hidden>)"

    def seal(self, private: bytes) -> bytes:
        return self._fernet.encrypt(private)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise EnvelopeError("envelope cannot be opened with this GIFT_ENVELOPE_KEY") from None

    def fingerprint(self, data: bytes) -> str:
        """Keyed hash of private bytes: equal inputs compare equal, and the ledger learns nothing else."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()


def load_envelope(env: Mapping[str, str], demo_key_path: Path = DEMO_KEY_PATH) -> Envelope:
    """`open_envelope` for the settings a mapping of variables holds (tests)."""
    from builder.settings import load_settings

    return open_envelope(load_settings(env), demo_key_path)


def open_envelope(settings: Settings, demo_key_path: Path = DEMO_KEY_PATH) -> Envelope:
    """The envelope for GIFT_ENVELOPE_KEY; locally without one, the demo key (created on first use)."""
    if settings.envelope_key:
        return Envelope(settings.envelope_key.encode())
    if settings.ci:
        raise ConfigError("GIFT_ENVELOPE_KEY is not set; CI and Actions never use a generated demo key")
    return Envelope(_demo_key(demo_key_path))


def _demo_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # atomic and exclusive: readers never see a half-written key
    except FileExistsError:
        pass  # another process won the race: use its key
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
