"""The gift service: every gift operation the CLI, the HTTP intake and the demo perform, in one place.

Each call opens the ledger for the configured backend (`--ledger`, GIFT_LEDGER_URL: a folder or PostgreSQL),
does its work and closes it. Results are data (refs, records, views, summaries); printing them is the
caller's job. Nothing here parses arguments or prints.

    service = GiftService(settings, ledger)    # a folder, a postgresql:// URL, or None for GIFT_LEDGER_URL
    service.check(raw)                         # before payment: field errors and guard findings, nothing recorded
    submission = service.submit(raw)           # OrderError on an invalid order
    summary = service.work(out_dir, until_idle=True)
    view = service.status(submission.ref)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import ConfigError, JobError
from builder.gifts.contracts import PublishedGift
from builder.gifts.precheck import Precheck, precheck
from builder.jobs.accept import accept_order
from builder.jobs.drafts import create_draft
from builder.jobs.ledger import JobRecord, Ledger, is_database_url
from builder.jobs.pool import CycleReport, dispatch_cycle
from builder.jobs.reconcile import ReconcileReport, reconcile, release_run, release_run_leases
from builder.jobs.refunds import (
    SUPPORT,
    RefundOutcome,
    already_refunded,
    check_refundable,
    due_refunds,
    refund_order,
    run_due_refunds,
    settle_refunds,
)
from builder.jobs.runtime import runtime
from builder.jobs.settings import JobSettings, ledger_location
from builder.jobs.states import State
from builder.jobs.support import list_view, status_view, summary, support_retry, takedown
from builder.jobs.worker import JobContext, Worker, WorkSummary, run_owner_prefix
from builder.ops.metrics import OpsSummary, summarise_ledger
from builder.settings import Settings


@dataclass(frozen=True)
class Submission:
    ref: str
    created: bool  # False: the same idempotency key was accepted before
    dispatch_failed: bool = False  # production queue: the order stays queued for reconcile


class GiftService:
    """Gift orders against one ledger (a folder or a database), configured by `settings`."""

    def __init__(self, settings: Settings, ledger: str | Path | None = None) -> None:
        self.settings = settings
        self.ledger_dir = ledger  # where: `--ledger`, else GIFT_LEDGER_URL, else .data/ledger

    def migrate(self) -> tuple[str, list[str]]:
        """Bring a database ledger to this code's schema: (where, migrations applied now); a folder has none."""
        location = ledger_location(self.ledger_dir, self.settings)
        if not is_database_url(location):
            return f"folder ledger {location}", []
        from builder.jobs.migrate import migrate

        applied = migrate(location)
        with runtime(location, self.settings) as rt:  # checks the result as the worker and the intake will
            return rt.ledger.describe(), applied

    def ops_summary(self) -> OpsSummary:
        """Support-safe operational figures (orders by state, attention list, latency, providers)."""
        location = ledger_location(self.ledger_dir, self.settings)
        if not is_database_url(location) and not (Path(location) / "orders").is_dir():
            raise JobError(f"{location}: no ledger here (pass --ledger DIR or URL)")
        with runtime(location, self.settings) as rt:
            return summarise_ledger(rt.ledger, refund_failed_after_s=rt.settings.refund_failed_after_s)

    def submit(self, raw: bytes) -> Submission:
        """Validate and record an order (OrderError lists the bad fields); dispatch it on the production queue."""
        with runtime(self.ledger_dir, self.settings) as rt:
            ref, created = accept_order(raw, ledger=rt.ledger, envelope=rt.envelope)
            runs = rt.runs()
            failed = False
            if created and runs is not None:
                failed = dispatch_cycle(rt.ledger, runs, rt.settings).status in ("blocked", "rate_limited")
        return Submission(ref, created, dispatch_failed=failed)

    def dispatch(self) -> CycleReport:
        """One dispatcher cycle: start generate.yml runs for the queue's depth (GIFT_QUEUE=github only)."""
        with runtime(self.ledger_dir, self.settings) as rt:
            runs = rt.runs()
            if runs is None:
                raise ConfigError("gift dispatch needs GIFT_QUEUE=github (locally, run `gift work` instead)")
            return dispatch_cycle(rt.ledger, runs, rt.settings)

    def check(self, raw: bytes) -> Precheck:
        """The order model and the public-field guard, before payment: field errors or per-field findings
        ("the message contains a phone number"). Opens no ledger and records nothing."""
        return precheck(raw)

    def draft(self, raw: bytes) -> dict[str, Any]:
        """Check an order like `check` and, when it passes, keep it as a sealed draft awaiting payment:
        {draft_id, expires_at}, or the checks' {ok: false, errors, findings} with nothing stored."""
        with runtime(self.ledger_dir, self.settings) as rt:
            return create_draft(raw, ledger=rt.ledger, envelope=rt.envelope, ttl_s=rt.settings.draft_ttl_s,
                                check=lambda body: precheck(body).as_json(), now=rt.ledger.clock())

    def due(self) -> int:
        """How many orders a worker could take now (queued, a retry whose time came, an expired lease)."""
        with runtime(self.ledger_dir, self.settings) as rt:
            return rt.ledger.count_due(rt.ledger.clock())

    def work(self, out_dir: Path, *, until_idle: bool, workers: int = 1, ref: str | None = None,
             lease_s: float | None = None, on_attempt: Callable[[], None] | None = None,
             time_budget_s: float | None = None) -> WorkSummary:
        """Run due orders (and reclaim expired leases); `on_attempt` is called after each attempt. With
        `time_budget_s`, no order is claimed after that many seconds (those in flight finish)."""
        with runtime(self.ledger_dir, self.settings, lease_s=lease_s) as rt:
            processor = rt.processor(out_dir)

            def counted(context: JobContext) -> PublishedGift:
                try:
                    return processor(context)
                finally:
                    if on_attempt is not None:
                        on_attempt()

            run_id = int(self.settings.run_id) if self.settings.run_id.isdigit() else 0
            worker = Worker(rt.ledger, rt.envelope, counted, rt.settings, out_dir, only_ref=ref, owner=rt.owner(),
                            run_id=run_id)
            return worker.run(until_idle=until_idle, workers=workers, time_budget_s=time_budget_s)

    def status(self, ref: str) -> dict[str, Any]:
        """The support-safe history of one order."""
        with runtime(self.ledger_dir, self.settings) as rt:
            return status_view(rt.ledger, ref, rt.base_url)

    def list(self, state: State | None = None) -> list[dict[str, Any]]:
        """Every order (or those in `state`) with its state, attempts and reason."""
        with runtime(self.ledger_dir, self.settings) as rt:
            return list_view(rt.ledger, state)

    def finish_run(self) -> list[str]:
        """A worker run's last step: give back every order this Actions run still holds (queued at once)."""
        run_id = self.settings.run_id
        if not run_id:
            raise ConfigError("GITHUB_RUN_ID is not set: gift finish without a ref releases an Actions run's orders")
        with runtime(self.ledger_dir, self.settings) as rt:
            return release_run_leases(rt.ledger, run_owner_prefix(run_id), rt.settings)

    def finish(self, ref: str) -> dict[str, Any]:
        """The generate run's last step: release what this Actions run still holds; a support-safe summary."""
        run_id = self.settings.run_id
        with runtime(self.ledger_dir, self.settings) as rt:
            record = (release_run(rt.ledger, ref, run_owner_prefix(run_id), rt.settings) if run_id
                      else rt.ledger.get(ref))
            return summary(record, rt.base_url)

    def reconcile(self, out_dir: Path | None = None) -> ReconcileReport:
        """Expired leases and due retries back to the queue; re-dispatch on the production queue; remove what
        killed writers left in the ledger and under `out_dir/gifts/`."""
        with runtime(self.ledger_dir, self.settings) as rt:
            report = reconcile(rt.ledger, rt.settings, dispatcher=rt.dispatcher(), out_dir=out_dir)
            report.actions += self._due_refunds(rt.ledger, rt.settings)
            return report

    def _due_refunds(self, ledger: Ledger, settings: JobSettings) -> list[str]:
        """The automatic refund policy's calls (builder/jobs/refunds.py), one line each; the Stripe library is
        imported only when a refund is due (it is slow to import)."""
        due = due_refunds(ledger, settings, ledger.clock())
        unsettled = ledger.unsettled_refunds()
        if not due and not unsettled:
            return []
        from builder.jobs.stripe_checkout import stripe_client

        client = stripe_client(self.settings.stripe) if self.settings.stripe.secret_key else None
        return run_due_refunds(ledger, settings, client, due) + settle_refunds(ledger, client, unsettled)

    def refund(self, ref: str) -> RefundOutcome:
        """Support: refund a failed or held order's Stripe payment now (once: an already refunded order answers its
        refund id and nothing is sent). JobError when it cannot be refunded, PaymentError without a Stripe key."""
        from builder.jobs.stripe_checkout import stripe_client

        with runtime(self.ledger_dir, self.settings) as rt:
            record = rt.ledger.get(ref)
            if record.state == State.REFUNDED:
                return already_refunded(record)
            check_refundable(record)  # say what is wrong with the order before what is missing in the settings
            client = stripe_client(self.settings.stripe)
            return refund_order(rt.ledger, client, ref, reason=SUPPORT, settings=rt.settings)

    def status_of_dispatchers(self) -> dict[str, dict[str, Any]]:
        with runtime(self.ledger_dir, self.settings) as rt:
            return rt.ledger.dispatcher_states()

    def retry(self, ref: str) -> JobRecord:
        """Support: queue a held or failed order again (and dispatch it on the production queue)."""
        with runtime(self.ledger_dir, self.settings) as rt:
            record = support_retry(rt.ledger, ref)
            runs = rt.runs()
            if runs is not None:
                dispatch_cycle(rt.ledger, runs, rt.settings)
            return record

    def takedown(self, ref: str, out_dir: Path) -> JobRecord:
        """Remove a published gift, leaving the 'this gift was removed' page."""
        with runtime(self.ledger_dir, self.settings) as rt:
            return takedown(rt.ledger, ref, rt.remover(out_dir))

    def serve_intake(self, host: str, port: int, on_ready: Callable[[str], None]) -> None:
        """Serve the payment-safe intake until stopped: POST /v1/orders, /v1/orders/validate, /v1/drafts,
        /v1/checkout and /v1/stripe/webhook (Stripe through GIFT_STRIPE_*), GET /healthz."""
        from builder.jobs.intake import create_app, serve  # starlette and uvicorn: only the intake needs them

        with runtime(self.ledger_dir, self.settings) as rt:
            if not rt.settings.webhook_secret:
                raise ConfigError("GIFT_WEBHOOK_SECRET is not set: the intake refuses unsigned orders")
            app = create_app(rt.ledger, rt.envelope, rt.settings, runs=rt.runs(),
                             precheck=lambda body: self.check(body).as_json(), stripe=rt.config.stripe)
            serve(app, host, port, on_ready, header_timeout_s=rt.settings.intake_header_timeout_s)
