"""HTTP for provider adapters: deadline-bounded requests and the one place transport errors become ProviderErrors.

Retryable: timeouts, connection errors, 408, 425, 429 and 5xx (with `Retry-After` as seconds or an HTTP date).
Permanent: every other 4xx and malformed answers. Messages carry the stage, category and status code only:
never a URL's query, a header, a key or a response body (which may echo the prompt).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from builder.errors import ProviderError

MAX_JSON_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Connect timeout per request, and a total budget for a whole provider call."""

    connect_s: float = 5.0
    total_s: float = 60.0


class Deadline:
    def __init__(self, total_s: float) -> None:
        self.ends = time.monotonic() + total_s

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


def retryable(stage: str, category: str, detail: str = "", retry_after: float | None = None) -> ProviderError:
    text = f"{stage} provider: {category}" + (f" ({detail})" if detail else "")
    return ProviderError(text, retryable=True, category=category, retry_after=retry_after, stage=stage)


def permanent(stage: str, category: str, detail: str = "") -> ProviderError:
    text = f"{stage} provider: {category}" + (f" ({detail})" if detail else "")
    return ProviderError(text, retryable=False, category=category, stage=stage)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, 86400.0))


def error_for_status(stage: str, response: httpx.Response) -> ProviderError | None:
    status = response.status_code
    if status < 400:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        return retryable(stage, "rate_limited", "HTTP 429", retry_after)
    if status >= 500:
        return retryable(stage, "http_5xx", f"HTTP {status}", retry_after)
    if status in (408, 425):
        return retryable(stage, "http_retryable", f"HTTP {status}", retry_after)
    return permanent(stage, "http_4xx", f"HTTP {status}")


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    stage: str,
    deadline: Deadline,
    timeouts: Timeouts,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    max_bytes: int = MAX_JSON_BYTES,
    follow_redirects: bool = False,
) -> tuple[httpx.Response, bytes]:
    """One request, read in full within the deadline. Raises ProviderError (`timeout` once the request may
    have reached the server: its outcome is unknown; `connect` when it never left)."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise retryable(stage, "timeout", "deadline passed")
    timeout = httpx.Timeout(remaining, connect=min(timeouts.connect_s, remaining))
    try:
        with client.stream(method, url, headers=headers, json=json_body, timeout=timeout,
                           follow_redirects=follow_redirects) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise permanent(stage, "malformed", "answer too large")
                if deadline.expired():
                    raise retryable(stage, "timeout", "deadline passed while reading")
            return response, bytes(body)
    except httpx.ConnectTimeout:
        raise retryable(stage, "connect", "connect timeout") from None
    except httpx.TimeoutException:
        raise retryable(stage, "timeout") from None
    except httpx.ConnectError:
        raise retryable(stage, "connect", "connection refused or unreachable") from None
    except httpx.TransportError as error:
        raise retryable(stage, "connect", type(error).__name__) from None


def checked_json(stage: str, response: httpx.Response, body: bytes) -> Any:
    """The JSON body of a successful answer; a status error or unreadable JSON becomes a ProviderError."""
    error = error_for_status(stage, response)
    if error is not None:
        raise error
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise permanent(stage, "malformed", "answer is not JSON") from None
