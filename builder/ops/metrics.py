"""The ops summary: the ledger's support-safe figures (builder/jobs/figures.py), by whichever backend."""

from __future__ import annotations

from builder.jobs.figures import (
    AttentionItem,
    Distribution,
    LedgerFigures,
    ProviderStats,
    figures_from,
    hourly_series,
    needs_attention,
    percentile,
)
from builder.jobs.ledger import Ledger

OpsSummary = LedgerFigures
summarise = figures_from

__all__ = ["AttentionItem", "Distribution", "OpsSummary", "ProviderStats", "hourly_series", "needs_attention",
           "percentile", "summarise", "summarise_ledger"]


def summarise_ledger(ledger: Ledger, now: float | None = None) -> OpsSummary:
    return ledger.figures(ledger.clock() if now is None else now)
