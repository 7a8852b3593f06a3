"""The ops summary: the ledger's support-safe figures (builder/jobs/figures.py), by whichever backend."""

from __future__ import annotations

from dataclasses import replace

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
from builder.jobs.settings import JobSettings

DEFAULT_REFUND_AFTER_S = JobSettings().refund_failed_after_s

OpsSummary = LedgerFigures
summarise = figures_from

__all__ = ["AttentionItem", "Distribution", "OpsSummary", "ProviderStats", "hourly_series", "needs_attention",
           "percentile", "summarise", "summarise_ledger"]


def summarise_ledger(ledger: Ledger, now: float | None = None, *,
                     refund_failed_after_s: float | None = DEFAULT_REFUND_AFTER_S) -> OpsSummary:
    """The ledger's figures, with the refunds `gift reconcile` would make now under the refund policy
    (GIFT_REFUND_FAILED_AFTER_H as seconds; None: off)."""
    at = ledger.clock() if now is None else now
    failed_before = None if refund_failed_after_s is None else at - refund_failed_after_s
    return replace(ledger.figures(at), refunds_pending=len(ledger.refund_candidates(at, failed_before)))
