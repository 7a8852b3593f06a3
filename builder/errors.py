"""Every exception this project raises on purpose: one base class, small families, a one-line docstring each.

    GiftboardError
    ├── ContentError           content under content/ is invalid (carries every Diagnostic)
    ├── FrontMatterError       (also a ValueError) one file's front matter cannot be split or parsed
    ├── BuildError             the site cannot be rendered or written
    ├── ConfigError            a setting from the environment or site.yaml is missing or invalid
    ├── SourceError            GitHub cannot be read
    ├── TokenPolicyError       a GitHub token grants more than read access, or a request would write
    ├── OrderError             an order is invalid (field errors, never private values)
    ├── ProviderError          a generation provider failed (`retryable`, `category`)
    ├── GuardViolation         output would publish private input
    ├── MediaError             an image or generated media cannot be processed
    ├── SignatureError         a webhook signature is missing, wrong or stale
    ├── BodyTooLarge           a request body is over the intake's limit
    ├── BodyTooSlow            a request body did not arrive within the intake's body timeout
    ├── AddressInUse           a server's port is taken by another process
    ├── StorageError           a worker cannot go on: a file it must write cannot be (full disk, read-only)
    └── JobError               ledger and queue problems
        ├── EnvelopeError      an order's encrypted envelope cannot be opened
        ├── IdempotencyConflict an idempotency key was reused for another body
        ├── LeaseLost          an attempt's fenced write found the order taken by another attempt
        ├── LedgerUnavailable  the ledger database cannot be reached (restart, network, lock timeout)
        ├── LedgerSchemaError  the ledger database's schema is not this code's: run `gift migrate`
        └── DispatchError      a workflow dispatch or run lookup failed

A message is safe to show a user: it names fields, files and variables, never private values or secrets.
Add a new class here, under the family a caller would catch it with; raise it where the problem is found.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class GiftboardError(Exception):
    """Base of every error this project raises on purpose; its text is safe to show a user."""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a file, located by line (1-based) and column (1-based, 0 when unknown)."""

    path: str
    line: int
    message: str
    column: int = 0

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ContentError(GiftboardError):
    """Raised when content under content/ is invalid; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class FrontMatterError(GiftboardError, ValueError):
    """Raised when a file's front matter is missing, unterminated or not valid YAML; carries a line."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


class BuildError(GiftboardError):
    """Raised when the site cannot be rendered or written (templates, output collisions)."""


class ConfigError(GiftboardError):
    """Raised when settings from the environment or content/site.yaml are missing or invalid."""


class TokenPolicyError(GiftboardError):
    """Raised when a GitHub token grants more than read access, or a request would write."""


class SourceError(GiftboardError):
    """Raised when the GitHub source cannot be read (network, rate limit, missing snapshot)."""


class OrderError(GiftboardError):
    """Raised when an order is invalid; messages name fields, never their private values."""

    def __init__(self, field_errors: list[str]) -> None:
        self.field_errors = field_errors
        super().__init__("\n".join(field_errors))


class ProviderError(GiftboardError):
    """Raised by a generation provider; `retryable` says whether another attempt may succeed."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        category: str,
        retry_after: float | None = None,
        provider: str = "",
        stage: str = "",
        seconds: float | None = None,
    ) -> None:
        self.retryable = retryable
        self.category = category
        self.retry_after = retry_after
        self.provider = provider  # provider kind, e.g. "chat-completions"; filled by whoever knows it
        self.stage = stage  # "lyrics", "audio" or "cover"
        self.seconds = seconds  # how long the failing call took, for the ops page
        super().__init__(message)

    def with_context(self, *, provider: str, stage: str, seconds: float) -> ProviderError:
        """A copy naming the provider, stage and call time (where this error left them empty), for the ops page;
        the original is left as it was (raise the copy `from` it)."""
        return ProviderError(
            str(self), retryable=self.retryable, category=self.category, retry_after=self.retry_after,
            provider=self.provider or provider, stage=self.stage or stage,
            seconds=self.seconds if self.seconds is not None else seconds,
        )


class GuardViolation(GiftboardError):
    """Raised when generated output would publish private input; `category` names the check, never the value."""

    def __init__(self, category: str) -> None:
        self.category = category
        super().__init__(f"guard: {category}")


class MediaError(GiftboardError):
    """Raised when an uploaded image or generated media cannot be processed safely."""


class SignatureError(GiftboardError):
    """Raised when a request signature is missing, malformed, wrong or outside the tolerance window."""


class PaymentError(GiftboardError):
    """Stripe refused or could not be reached: one line with Stripe's error type and code, nothing private.

    `category` is what a ledger may keep and ops may show (`type` or `type/code`, e.g. `api_error` or
    `invalid_request_error/charge_already_refunded`); `code` is Stripe's error code alone ("" without one)."""

    def __init__(self, message: str, *, category: str = "", code: str = "") -> None:
        self.category = category or "payment_error"
        self.code = code
        super().__init__(message)


class BodyTooLarge(GiftboardError):
    """Raised while streaming a request body past the intake's limit."""


class BodyTooSlow(GiftboardError):
    """Raised when a request body has not fully arrived within the intake's body timeout."""


class AddressInUse(GiftboardError):
    """Raised when a server cannot listen because another process holds its port; says how to pick another."""

    def __init__(self, host: str, port: int, how_to_change: str) -> None:
        self.host, self.port = host, port
        super().__init__(f"port {port} on {host} is already in use: stop the server using it, or pick another "
                         f"port: {how_to_change}")


class JobError(GiftboardError):
    """Raised for ledger and queue problems (unknown ref, illegal transition, lost lease, database)."""


class EnvelopeError(JobError):
    """Raised when an order's encrypted envelope is missing or cannot be opened: no retry can fix it."""


class IdempotencyConflict(JobError):
    """Raised when an idempotency key is replayed with a different order body (nothing is recorded)."""

    def __init__(self) -> None:
        super().__init__("this idempotency key was already used for a different order")


class LeaseLost(JobError):
    """Raised when an attempt's fenced write finds the order no longer running under its attempt number."""


class LedgerUnavailable(JobError):
    """Raised when the ledger's database cannot be reached or a transaction failed; retrying may succeed."""


class LedgerSchemaError(JobError):
    """Raised when the ledger database's schema is older (or newer) than this code: run `gift migrate`."""


class DispatchError(JobError):
    """Raised when a workflow dispatch or run lookup fails; `category` is safe to record."""

    def __init__(self, category: str) -> None:
        self.category = category
        super().__init__(f"dispatch failed: {category}")


class StorageError(GiftboardError):
    """Raised when a worker cannot go on because a file it must write cannot be (full disk, read-only folder)."""


# errno → what a user can do about it; anything else gets the system's own words
_OS_HINTS = {
    errno.ENOSPC: "the file system is full: free some space, then run the command again",
    errno.EDQUOT: "the disk quota is used up: free some space, then run the command again",
    errno.EFBIG: "the file size limit was reached (ulimit -f or a full file system): free space or raise the limit",
    errno.EROFS: "the file system is read-only: remount it read-write or pass a writable folder (--ledger, --out)",
    errno.EACCES: "permission denied: fix the folder's permissions or pass another folder (--ledger, --out)",
    errno.EPERM: "not permitted: fix the folder's permissions or attributes, or pass another folder",
    errno.EADDRINUSE: "the port is already in use: stop the other server or pass another --port",
    errno.ENOENT: "no such file or folder: check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
}
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def describe_os_error(error: OSError) -> str:
    """One line for an OSError: what failed, on which path, and what to do."""
    where = f" {error.filename}" if error.filename else ""
    hint = _OS_HINTS.get(error.errno or 0, "")
    return f"{error.strerror or error}:{where}" + (f" ({hint})" if hint else "")



def relative_path(path: Path, root: Path | None = None) -> str:
    """A path as a contributor would type it: relative to `root` (or the working directory) when possible."""
    base = (root or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """ "did you mean 'x'?" for the candidate closest to `word` (a typo), or "" when none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else ""
