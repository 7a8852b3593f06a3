"""Settings: the environment read once, at start-up, into one frozen `Settings` object passed down.

This is the only module that reads `os.environ`. `builder.cli.main` calls `load_settings()` once and hands
the result to the command; everything below takes the part it needs (`settings.jobs`, `settings.github`,
`settings.providers`, …) as an argument and never looks at the environment itself. Tests build settings
from a plain mapping: `load_settings({"GIFT_LEASE_S": "1"})`.

Rules every setting follows:
- an unset or blank variable means its default; the names and defaults below are the documented ones;
- a bad value is a `ConfigError` naming the variable and what it must be; never a silent fallback;
- a secret's value is never echoed (not in errors, not in reprs): the dataclasses hiding one say so.

To add a setting:
1. add a field (with its default) to the group it belongs to, or to `Settings` itself;
2. read it in `load_settings` with `_text`, `_choice`, `_flag` or `number` (never `float()` or `int()` on
   your own): `number(env, "GIFT_X_S", 5.0, minimum=0.0)`;
3. if it holds a secret, give its field `repr=False` (or keep the group's `__repr__` hiding it);
4. list it in the README's settings table, and pass it down from the command that needs it.

Light to import (standard library only): `build` answers "up to date" before loading anything heavy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from builder.errors import ConfigError

DEFAULT_LEDGER_DIR = Path(".data/ledger")
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"
QUEUES = ("local", "github")
C2PA_MODES = ("auto", "off", "required")
_FALSE = ("", "0", "false")


def number(env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None,
           above: float | None = None, integer: bool = False) -> float:
    """The one number parser: `default` when unset or blank, else the value, or a ConfigError naming `name`.

    `minimum` is inclusive, `above` exclusive; `integer` refuses fractions. Numbers are never secrets, so the
    bad value is quoted to help the reader.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value: float = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    if above is not None and value <= above:
        raise ConfigError(f"{name} must be greater than {above}, got {raw!r}")
    return value


def _text(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, "").strip() or default


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = _text(env, name, default).lower()
    if value not in choices:
        listed = f"{', '.join(choices[:-1])} or {choices[-1]}"
        raise ConfigError(f"{name} must be {listed}, got {value!r}")
    return value


def _hours_or_off(env: Mapping[str, str], name: str, default_h: float) -> float | None:
    """A number of hours (0 or more) as seconds, or None for `off`; unset or blank means `default_h`."""
    raw = env.get(name, "").strip()
    if raw.lower() == "off":
        return None
    try:
        return number(env, name, default_h, minimum=0.0) * 3600.0
    except ConfigError:
        raise ConfigError(f"{name} must be a number of hours (0 or more) or off, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    """Set to anything but '', '0' or 'false' (any case)."""
    return env.get(name, "").strip().lower() not in _FALSE


@dataclass(frozen=True)
class JobSettings:
    """The job machinery: leases, retries, the queue, and dispatching runs on GitHub Actions."""

    lease_s: float = 300.0  # longer than one provider round (lyrics + audio polling), renewed while working
    retry_base_s: float = 30.0
    retry_cap_s: float = 3600.0
    max_attempts: int = 5
    queue: str = "local"
    dispatch_token: str = ""
    webhook_secret: str = ""
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_repository: str = ""
    workflow_file: str = "generate.yml"
    workflow_ref: str = "main"
    intake_header_timeout_s: float = 10.0  # a request's headers must all arrive within this (slowloris)
    intake_body_timeout_s: float = 60.0  # and its body within this after them: 10 MB at ~1.4 Mbit/s
    max_runners: int = 20  # GIFT_MAX_RUNNERS: generate.yml runs at once at most (the plan's concurrent jobs)
    workers_per_run: int = 10  # GIFT_WORKERS_PER_RUN: the K of `gift work --workers K` in generate.yml
    dispatch_interval_s: float = 1.0  # GIFT_DISPATCH_INTERVAL_S: between two dispatches of one cycle
    draft_ttl_s: float = 86400.0  # GIFT_DRAFT_TTL_S: an unpaid draft (and its envelope) is deleted after this
    # GIFT_REFUND_FAILED_AFTER_H (hours, default 24; `off`: None): a paid order that stayed failed this long is
    # refunded by `gift reconcile` (one whose draft had expired is refunded at once whatever this says)
    refund_failed_after_s: float | None = 86400.0

    def with_lease(self, lease_s: float | None) -> JobSettings:
        return self if lease_s is None else replace(self, lease_s=lease_s)

    def __repr__(self) -> str:  # secrets never appear in reprs, logs or tracebacks
        return (
            f"JobSettings(lease_s={self.lease_s}, retry_base_s={self.retry_base_s}, "
            f"retry_cap_s={self.retry_cap_s}, max_attempts={self.max_attempts}, queue={self.queue!r})"
        )


@dataclass(frozen=True)
class GitHubEnv:
    """Reading GitHub for the board (read-only): where, which token, how long to wait on a rate limit."""

    api_url: str = DEFAULT_GITHUB_API_URL
    repository: str = ""
    token: str = field(default="", repr=False)
    max_wait_s: float = 60.0


@dataclass(frozen=True)
class ProviderSettings:
    """Generation providers: a remote one per stage when its base URL is set, offline otherwise."""

    lyrics_base_url: str = ""
    lyrics_api_key: str = field(default="", repr=False)
    lyrics_model: str = "gpt-4o-mini"
    audio_base_url: str = ""
    audio_api_key: str = field(default="", repr=False)
    audio_model: str = ""
    connect_timeout_s: float = 5.0
    lyrics_timeout_s: float = 60.0
    audio_timeout_s: float = 300.0
    audio_poll_s: float = 1.0


@dataclass(frozen=True)
class C2paSource:
    """Where the C2PA signing chain comes from: PEM text or a file for each of the chain and the key."""

    mode: str = "auto"
    cert_chain: str = field(default="", repr=False)
    cert_chain_file: str = ""
    private_key: str = field(default="", repr=False)
    private_key_file: str = ""


@dataclass(frozen=True)
class StorageSettings:
    """Where gift pages are published: GIFT_GIFTS_URL unset = the local `--out` folder, `s3://bucket/prefix` =
    object storage; the S3 endpoint, region and credentials (unset: boto3's own chain, e.g. an OIDC role)."""

    gifts_url: str = ""  # GIFT_GIFTS_URL
    endpoint_url: str = ""  # GIFT_S3_ENDPOINT_URL (empty for AWS S3)
    region: str = ""  # GIFT_S3_REGION
    access_key_id: str = field(default="", repr=False)  # GIFT_S3_ACCESS_KEY_ID
    secret_access_key: str = field(default="", repr=False)  # GIFT_S3_SECRET_ACCESS_KEY

    @property
    def object_storage(self) -> bool:
        return self.gifts_url.startswith("s3://")


@dataclass(frozen=True)
class StripeSettings:
    """Stripe Checkout: the secret API key and webhook signing secret (never shown), the Price a gift is sold
    at, the API's base address (Stripe's own unless a test points it at a fake) and the signature tolerance."""

    secret_key: str = field(default="", repr=False)  # GIFT_STRIPE_SECRET_KEY
    webhook_secret: str = field(default="", repr=False)  # GIFT_STRIPE_WEBHOOK_SECRET
    price: str = ""  # GIFT_STRIPE_PRICE: a Price id (price_…)
    api_base: str = DEFAULT_STRIPE_API_BASE  # GIFT_STRIPE_API_BASE
    webhook_tolerance_s: int = 300  # GIFT_STRIPE_WEBHOOK_TOLERANCE_S: oldest signature timestamp accepted
    success_url: str = ""  # GIFT_STRIPE_SUCCESS_URL: where Checkout sends the buyer once paid
    cancel_url: str = ""  # GIFT_STRIPE_CANCEL_URL: where Checkout sends a buyer who goes back
    timeout_s: float = 20.0  # GIFT_STRIPE_TIMEOUT_S: how long one API call may wait for Stripe's answer

    @property
    def configured(self) -> bool:
        return bool(self.secret_key and self.webhook_secret and self.price)

    def missing_for_checkout(self) -> list[str]:
        """The GIFT_STRIPE_* variables `POST /v1/checkout` needs and that are not set (names only)."""
        needed = {"GIFT_STRIPE_SECRET_KEY": self.secret_key, "GIFT_STRIPE_PRICE": self.price,
                  "GIFT_STRIPE_SUCCESS_URL": self.success_url, "GIFT_STRIPE_CANCEL_URL": self.cancel_url}
        return [name for name, value in needed.items() if not value]

    @property
    def key_livemode(self) -> bool | None:
        """The mode of GIFT_STRIPE_SECRET_KEY: True for a live key (sk_live_/rk_live_), False for a test key,
        None when unset or of no known shape (then an event's livemode is not checked)."""
        for prefix, live in (("sk_live_", True), ("rk_live_", True), ("sk_test_", False), ("rk_test_", False)):
            if self.secret_key.startswith(prefix):
                return live
        return None

    def missing_for_webhook(self) -> list[str]:
        """The GIFT_STRIPE_* variables `POST /v1/stripe/webhook` needs and that are not set (names only)."""
        return [] if self.webhook_secret else ["GIFT_STRIPE_WEBHOOK_SECRET"]


@dataclass(frozen=True)
class Settings:
    """Everything the environment configures, read once by `load_settings`."""

    jobs: JobSettings = field(default_factory=JobSettings)
    github: GitHubEnv = field(default_factory=GitHubEnv)
    providers: ProviderSettings = field(default_factory=ProviderSettings)
    c2pa: C2paSource = field(default_factory=C2paSource)
    envelope_key: str = field(default="", repr=False)  # GIFT_ENVELOPE_KEY (Fernet)
    ledger_url: str = field(default="", repr=False)  # GIFT_LEDGER_URL: a folder or postgresql://… (a password)
    storage: StorageSettings = field(default_factory=StorageSettings)
    stripe: StripeSettings = field(default_factory=StripeSettings)
    gifts_base_url: str = ""  # GIFT_GIFTS_BASE_URL: absolute URLs in status, og:image and og:url
    site_base_url: str = ""  # GIFTBOARD_BASE_URL: the board's URL when site.yaml has none
    ci: bool = False  # CI or GITHUB_ACTIONS set: never a generated demo key or certificate
    github_actions: bool = False  # GITHUB_ACTIONS=true: annotations and the job summary
    step_summary: str = ""  # GITHUB_STEP_SUMMARY: the file Actions shows as the job summary
    run_id: str = ""  # GITHUB_RUN_ID: names lease owners, so a run's last step can release them
    dumb_terminal: bool = False  # TERM=dumb: no progress bar


def _http_url(env: Mapping[str, str], name: str) -> str:
    value = _text(env, name)
    if value and not re.fullmatch(r"https?://[^\s\"'<>]+", value):
        raise ConfigError(f"{name} must be an http(s) URL")
    return value


_STRIPE_SECRETS = {  # the shapes Stripe gives them: a key a webhook or API call could never work with stops here
    "GIFT_STRIPE_SECRET_KEY": (re.compile(r"(sk|rk)_[A-Za-z0-9_]+"),
                               "must be the account's secret key (sk_live_…, sk_test_…) or a restricted key (rk_…)"),
    "GIFT_STRIPE_WEBHOOK_SECRET": (re.compile(r"whsec_[A-Za-z0-9_+/=]+"),
                                   "must be the webhook endpoint's signing secret (whsec_…, from the endpoint's page)"),
}


def _stripe_secret(env: Mapping[str, str], name: str) -> str:
    """A Stripe key or signing secret, checked for its shape (never shown: a publishable key is named as one)."""
    value = env.get(name, "").strip()
    pattern, shape = _STRIPE_SECRETS[name]
    if value and not pattern.fullmatch(value):
        publishable = value.startswith("pk_")
        raise ConfigError(f"{name} {shape}" + (" (this is a publishable key, pk_…)" if publishable else ""))
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `env` (default: the process environment), checking each value once."""
    env = os.environ if env is None else env
    github_api_url = (_text(env, "GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/")
    github_repository = _text(env, "GITHUB_REPOSITORY")
    jobs = JobSettings(
        lease_s=number(env, "GIFT_LEASE_S", 300.0, minimum=0.05),
        retry_base_s=number(env, "GIFT_RETRY_BASE_S", 30.0, minimum=0.0),
        retry_cap_s=number(env, "GIFT_RETRY_CAP_S", 3600.0, minimum=0.0),
        max_attempts=int(number(env, "GIFT_MAX_ATTEMPTS", 5, minimum=1, integer=True)),
        queue=_choice(env, "GIFT_QUEUE", QUEUES, "local"),
        dispatch_token=env.get("GIFT_DISPATCH_TOKEN", ""),
        webhook_secret=env.get("GIFT_WEBHOOK_SECRET", ""),
        github_api_url=github_api_url,
        github_repository=github_repository,
        workflow_file=env.get("GIFT_WORKFLOW_FILE", "generate.yml"),
        workflow_ref=env.get("GIFT_WORKFLOW_REF", "main"),
        intake_header_timeout_s=number(env, "GIFT_INTAKE_HEADER_TIMEOUT_S", 10.0, above=0.0),
        intake_body_timeout_s=number(env, "GIFT_INTAKE_BODY_TIMEOUT_S", 60.0, above=0.0),
        max_runners=int(number(env, "GIFT_MAX_RUNNERS", 20, minimum=1, integer=True)),
        workers_per_run=int(number(env, "GIFT_WORKERS_PER_RUN", 10, minimum=1, integer=True)),
        dispatch_interval_s=number(env, "GIFT_DISPATCH_INTERVAL_S", 1.0, minimum=0.0),
        draft_ttl_s=number(env, "GIFT_DRAFT_TTL_S", 86400.0, above=0.0),
        refund_failed_after_s=_hours_or_off(env, "GIFT_REFUND_FAILED_AFTER_H", 24.0),
    )
    github = GitHubEnv(
        api_url=github_api_url,
        repository=github_repository,
        token=env.get("GITHUB_TOKEN", ""),
        max_wait_s=number(env, "GIFTBOARD_GITHUB_MAX_WAIT", 60.0, minimum=0.0),
    )
    providers = ProviderSettings(
        lyrics_base_url=_text(env, "GIFT_LYRICS_BASE_URL"),
        lyrics_api_key=env.get("GIFT_LYRICS_API_KEY", ""),
        lyrics_model=_text(env, "GIFT_LYRICS_MODEL", "gpt-4o-mini"),
        audio_base_url=_text(env, "GIFT_AUDIO_BASE_URL"),
        audio_api_key=env.get("GIFT_AUDIO_API_KEY", ""),
        audio_model=_text(env, "GIFT_AUDIO_MODEL"),
        connect_timeout_s=number(env, "GIFT_PROVIDER_CONNECT_TIMEOUT_S", 5.0, above=0.0),
        lyrics_timeout_s=number(env, "GIFT_LYRICS_TIMEOUT_S", 60.0, above=0.0),
        audio_timeout_s=number(env, "GIFT_AUDIO_TIMEOUT_S", 300.0, above=0.0),
        audio_poll_s=number(env, "GIFT_AUDIO_POLL_S", 1.0, above=0.0),
    )
    c2pa = C2paSource(
        mode=_choice(env, "GIFT_C2PA", C2PA_MODES, "auto"),
        cert_chain=env.get("GIFT_C2PA_CERT_CHAIN", ""),
        cert_chain_file=_text(env, "GIFT_C2PA_CERT_CHAIN_FILE"),
        private_key=env.get("GIFT_C2PA_PRIVATE_KEY", ""),
        private_key_file=_text(env, "GIFT_C2PA_PRIVATE_KEY_FILE"),
    )
    return Settings(
        jobs=jobs,
        github=github,
        providers=providers,
        c2pa=c2pa,
        envelope_key=_text(env, "GIFT_ENVELOPE_KEY"),
        ledger_url=_text(env, "GIFT_LEDGER_URL"),
        storage=StorageSettings(
            gifts_url=_text(env, "GIFT_GIFTS_URL"),
            endpoint_url=_http_url(env, "GIFT_S3_ENDPOINT_URL"),
            region=_text(env, "GIFT_S3_REGION"),
            access_key_id=_text(env, "GIFT_S3_ACCESS_KEY_ID"),
            secret_access_key=_text(env, "GIFT_S3_SECRET_ACCESS_KEY"),
        ),
        stripe=StripeSettings(
            secret_key=_stripe_secret(env, "GIFT_STRIPE_SECRET_KEY"),
            webhook_secret=_stripe_secret(env, "GIFT_STRIPE_WEBHOOK_SECRET"),
            price=_text(env, "GIFT_STRIPE_PRICE"),
            api_base=(_http_url(env, "GIFT_STRIPE_API_BASE") or DEFAULT_STRIPE_API_BASE).rstrip("/"),
            webhook_tolerance_s=int(number(env, "GIFT_STRIPE_WEBHOOK_TOLERANCE_S", 300, minimum=1, integer=True)),
            success_url=_http_url(env, "GIFT_STRIPE_SUCCESS_URL"),
            cancel_url=_http_url(env, "GIFT_STRIPE_CANCEL_URL"),
            timeout_s=number(env, "GIFT_STRIPE_TIMEOUT_S", 20.0, above=0.0),
        ),
        gifts_base_url=_http_url(env, "GIFT_GIFTS_BASE_URL"),
        site_base_url=_text(env, "GIFTBOARD_BASE_URL"),
        ci=_flag(env, "CI") or _flag(env, "GITHUB_ACTIONS"),
        github_actions=env.get("GITHUB_ACTIONS") == "true",
        step_summary=env.get("GITHUB_STEP_SUMMARY", ""),
        run_id=env.get("GITHUB_RUN_ID", ""),
        dumb_terminal=env.get("TERM") == "dumb",
    )


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (git): this process's own, plus `extra`."""
    return {**os.environ, **extra}
