"""Support-safe operational figures of a ledger: counts by state, attention list, latencies, providers.

Only refs, states, times, counts and reason categories: the ledger holds nothing else, and the figures copy
no free text from it. The folder ledger computes them from its records (`figures_from`); the database
computes the same figures with aggregate queries.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from builder.jobs.states import CORRUPT, NEEDS_ATTENTION, REFUND_LOST, REFUNDABLE, STORAGE_FULL, State

if TYPE_CHECKING:
    from builder.jobs.ledger import JobRecord

STAGES = ("lyrics", "audio", "cover")
FAILURE_TARGETS = {State.RETRY_WAIT.value, State.FAILED.value, State.HELD.value}
HOURS_SHOWN = 24
REFUNDS_WINDOW_S = 86400.0  # "refunds made in the last 24 h"
REFUND_FAILED = "refund_failed"  # an attention item's reason prefix: `refund_failed:<Stripe type/code>`


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Distribution:
    count: int
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        items = [v for v in values if v >= 0]
        return cls(len(items), percentile(items, 0.5), percentile(items, 0.95), max(items, default=0.0))


@dataclass(frozen=True)
class ProviderStats:
    stage: str
    provider: str
    calls: int
    failures: int
    latency: Distribution
    errors: dict[str, int]

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class AttentionItem:
    ref: str
    state: str
    reason: str
    attempts: int
    age_s: float


@dataclass
class LedgerFigures:
    generated_at: float
    orders: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    attention: list[AttentionItem] = field(default_factory=list)
    attempts_per_order: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    providers: list[ProviderStats] = field(default_factory=list)
    queue_latency: Distribution = field(default_factory=lambda: Distribution.of([]))
    end_to_end: Distribution = field(default_factory=lambda: Distribution.of([]))
    published_per_hour: list[tuple[str, int]] = field(default_factory=list)
    attempts_total: int = 0
    refunds_last_24h: int = 0  # orders that became refunded in the last 24 hours
    refunds_failing: int = 0  # paid failed or held orders whose last refund call failed (retried by reconcile),
    # and refunded ones whose refund Stripe failed or canceled after accepting it (support refunds them)
    refunds_pending: int = 0  # orders `gift reconcile` would refund now (set by the ops summary: it needs the policy)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["attempts_per_order"] = {str(k): v for k, v in self.attempts_per_order.items()}
        for stats, item in zip(self.providers, data["providers"], strict=True):
            item["failure_rate"] = round(stats.failure_rate, 4)
        return data


def needs_attention(record: JobRecord, now: float) -> bool:
    """Held and failed orders, refunded ones whose refund Stripe failed later, running ones whose lease ran out,
    and orders waiting for disk space."""
    return (
        record.state in NEEDS_ATTENTION
        or (record.state == State.REFUNDED and record.refund_status in REFUND_LOST)
        or (record.state == State.RUNNING and record.lease_expires_at <= now)
        or (record.state == State.RETRY_WAIT and record.reason == STORAGE_FULL)
    )


def attention_item(ref: str, state: str, reason: str, last_error: str, attempts: int, age_s: float,
                   refund_attempts: int = 0, refund_error: str = "", refund_status: str = "") -> AttentionItem:
    """One attention line; an order whose refund is failing shows that (its category and the refund calls so
    far) in place of why it failed or was held; so does one whose refund Stripe failed after accepting it."""
    if state == State.REFUNDED and refund_status in REFUND_LOST:
        return AttentionItem(ref, state, f"{REFUND_FAILED}:{refund_error or 'stripe_' + refund_status}",
                             refund_attempts, age_s)
    if refund_attempts and state in REFUNDABLE:
        return AttentionItem(ref, state, f"{REFUND_FAILED}:{refund_error or 'unknown'}", refund_attempts, age_s)
    return AttentionItem(ref, state, reason or last_error or "unknown", attempts, age_s)


def figures_from(records: list[JobRecord], audits: Mapping[str, list[dict[str, Any]]], now: float,
                 corrupt: Mapping[str, float] | None = None) -> LedgerFigures:
    """The whole ops summary from records and their audit lines (pure: no I/O, no clock), as the folder ledger
    computes it (the database computes the same figures with aggregates); `corrupt` maps the refs of unreadable
    record files to their mtime: they count as orders in state `corrupt` that need attention."""
    corrupt = corrupt or {}
    summary = LedgerFigures(generated_at=now, orders=len(records) + len(corrupt))
    states = Counter(record.state for record in records) + Counter({CORRUPT: len(corrupt)})
    summary.by_state = dict(sorted(states.items()))
    summary.attention = sorted(
        [
            *(attention_item(r.ref, r.state, r.reason, r.last_error, r.attempts, age(r, now), r.refund_attempts,
                             r.refund_error, r.refund_status)
              for r in records if needs_attention(r, now)),
            *(AttentionItem(ref, CORRUPT, "corrupt_record", 0, max(0.0, now - modified))
              for ref, modified in corrupt.items()),
        ],
        key=lambda item: -item.age_s,
    )
    summary.attempts_per_order = dict(sorted(Counter(r.attempts for r in records).items()))
    summary.retries = sum(max(0, r.attempts - 1) for r in records)
    summary.attempts_total = sum(r.attempts for r in records)
    summary.refunds_failing = sum(1 for r in records if (r.state in REFUNDABLE and r.refund_attempts > 0)
                                  or (r.state == State.REFUNDED and r.refund_status in REFUND_LOST))

    queue_waits: list[float] = []
    end_to_end: list[float] = []
    failures: Counter[str] = Counter()
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    provider_failures: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    published_hours: Counter[str] = Counter()
    calls: Counter[tuple[str, str]] = Counter()
    for record in records:
        for entry in audits.get(record.ref, []):
            target = entry.get("to")
            timings = entry.get("timings") or {}
            if target == State.RUNNING.value and "queue_wait_s" in timings:
                queue_waits.append(float(timings["queue_wait_s"]))
            if target in FAILURE_TARGETS and entry.get("from") == State.RUNNING.value:
                reason = str(entry.get("reason") or "unknown")
                failures[reason] += 1
                stage, provider = entry.get("stage"), entry.get("provider")
                if stage and provider:
                    provider_failures[(str(stage), str(provider))][reason] += 1
                    calls[(str(stage), str(provider))] += 1
                    if "provider_s" in timings:
                        latencies[(str(stage), str(provider))].append(float(timings["provider_s"]))
            if target == State.REFUNDED.value and float(entry.get("t", 0.0)) >= now - REFUNDS_WINDOW_S:
                summary.refunds_last_24h += 1
            if target == State.PUBLISHED.value:
                if "end_to_end_s" in timings:
                    end_to_end.append(float(timings["end_to_end_s"]))
                providers = entry.get("providers") or {}
                for stage in STAGES:
                    if f"{stage}_s" in timings:
                        key = (stage, str(providers.get(stage, "unknown")))
                        latencies[key].append(float(timings[f"{stage}_s"]))
                        calls[key] += 1
                if "t" in entry:
                    published_hours[time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(float(entry["t"])))] += 1

    summary.failures_by_reason = dict(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])))
    summary.queue_latency = Distribution.of(queue_waits)
    summary.end_to_end = Distribution.of(end_to_end)
    keys = sorted(set(latencies) | set(provider_failures))
    summary.providers = [
        ProviderStats(
            stage=stage,
            provider=provider,
            calls=calls[(stage, provider)],
            failures=sum(provider_failures[(stage, provider)].values()),
            latency=Distribution.of(latencies.get((stage, provider), [])),
            errors=dict(sorted(provider_failures[(stage, provider)].items())),
        )
        for stage, provider in keys
    ]
    summary.published_per_hour = hourly_series(published_hours, now)
    return summary


def age(record: JobRecord, now: float) -> float:
    return max(0.0, now - record.state_since)


def hourly_series(counts: Counter[str], now: float) -> list[tuple[str, int]]:
    """The last 24 hours, oldest first, with empty hours as zero."""
    this_hour = int(now // 3600) * 3600
    series = []
    for back in range(HOURS_SHOWN - 1, -1, -1):
        label = time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(this_hour - back * 3600))
        series.append((label, counts.get(label, 0)))
    return series


def with_dispatchers(figures: LedgerFigures, states: dict[str, dict[str, Any]], now: float) -> LedgerFigures:
    """The figures with each blocked or rate-limited dispatcher (builder/jobs/pool.py) on the attention list,
    as `dispatcher:<workflow>` in state `blocked` or `rate_limited`, with its reason and how long it has been so."""
    items = [
        AttentionItem(f"dispatcher:{name}", str(state.get("status")), str(state.get("reason") or "unknown"),
                      int(state.get("failures") or 0), max(0.0, now - float(state.get("since") or now)))
        for name, state in states.items() if state.get("status") in ("blocked", "rate_limited")
    ]
    if not items:
        return figures
    return replace(figures, attention=sorted([*items, *figures.attention], key=lambda item: -item.age_s))
