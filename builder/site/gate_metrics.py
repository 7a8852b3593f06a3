"""Named numbers a gate's `metric:` criteria compare against: the ops summary, then benchmarks/results/*.json.

Names are snake_case with their unit last (`queue_latency_p95_ms`). The ops summary (the live ledger) gives
`orders`, `orders_<state>`, `orders_needing_attention`, `retries`, `attempts_total`, `provider_failure_rate` and
`queue_latency_{p50,p95,max}_ms` / `end_to_end_{p50,p95,max}_ms` once something was measured. A benchmark result
file that is a JSON object gives every number in it, nested keys joined by `_`
(`{"queue_latency": {"p95_ms": 50.1}}` is `queue_latency_p95_ms`); the table-shaped files (lists) carry no names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.jobs.ledger import has_ledger, open_ledger
from builder.jobs.states import State
from builder.ops.metrics import Distribution, OpsSummary, summarise_ledger

OPS_SOURCE = "ops summary"


@dataclass(frozen=True)
class Metric:
    value: float
    source: str  # "ops summary" or the results file it came from


def ops_metrics(summary: OpsSummary) -> dict[str, float]:
    values: dict[str, float] = {"orders": summary.orders, "retries": summary.retries,
                                "attempts_total": summary.attempts_total,
                                "orders_needing_attention": len(summary.attention)}
    values.update({f"orders_{state.value}": summary.by_state.get(state.value, 0) for state in State})
    for name, distribution in (("queue_latency", summary.queue_latency), ("end_to_end", summary.end_to_end)):
        values.update(distribution_ms(name, distribution))
    calls = sum(provider.calls for provider in summary.providers)
    if calls:
        values["provider_failure_rate"] = sum(provider.failures for provider in summary.providers) / calls
    return values


def distribution_ms(name: str, distribution: Distribution) -> dict[str, float]:
    if not distribution.count:
        return {}  # nothing measured is no data, not a latency of zero
    return {f"{name}_p50_ms": distribution.p50 * 1000, f"{name}_p95_ms": distribution.p95 * 1000,
            f"{name}_max_ms": distribution.max * 1000}


def flatten(data: Any, prefix: str = "") -> dict[str, float]:
    """Every finite number in a JSON object, nested keys joined by `_`."""
    if isinstance(data, bool):
        return {}
    if isinstance(data, int | float):
        return {prefix: float(data)} if prefix and math.isfinite(data) else {}
    if isinstance(data, dict):
        found: dict[str, float] = {}
        for key, value in data.items():
            found.update(flatten(value, f"{prefix}_{key}" if prefix else str(key)))
        return found
    return {}


def benchmark_metrics(results: Path) -> dict[str, Metric]:
    """Named numbers from the JSON objects in `results` (files in name order; a later file wins a name)."""
    found: dict[str, Metric] = {}
    if not results.is_dir():
        return found
    for path in sorted(results.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a half-written or foreign file is no data, not a broken board
        if isinstance(data, dict):
            source = path.as_posix()
            found.update({name: Metric(value, source) for name, value in flatten(data).items()})
    return found


def ledger_summary(ledger: Path | str | None) -> OpsSummary | None:
    """The ops summary of the gift ledger (a folder or a database) the build reports on; None when there is none."""
    if ledger is None or not has_ledger(ledger):
        return None
    opened = open_ledger(ledger)
    try:
        return summarise_ledger(opened)
    finally:
        opened.close()


def read_metrics(summary: OpsSummary | None, results: Path | None) -> dict[str, Metric]:
    """The ops summary's numbers win over a benchmark's: they are what production measured."""
    metrics = benchmark_metrics(results) if results is not None else {}
    if summary is not None:
        metrics.update({name: Metric(value, OPS_SOURCE) for name, value in ops_metrics(summary).items()})
    return metrics
