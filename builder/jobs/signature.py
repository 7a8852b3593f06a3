"""Webhook signatures, Stripe's scheme: `Giftboard-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""

from __future__ import annotations

import hashlib
import hmac
import time

from builder.errors import SignatureError

HEADER = "Giftboard-Signature"
TOLERANCE_S = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a sender puts on `body` (used by tests, benchmarks and the demo)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None,
           tolerance_s: int = TOLERANCE_S) -> None:
    """Accept when some v1 signature matches (constant-time) and `t` is within the tolerance window."""
    if not secret:
        raise SignatureError("no webhook secret configured")
    if not header:
        raise SignatureError("missing signature")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("malformed signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("stale signature")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    # compare against every candidate so timing does not reveal which one (if any) matched
    matched = [hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]
    if not any(matched):
        raise SignatureError("bad signature")
