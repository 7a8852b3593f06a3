"""The production processor: a job attempt runs the gift pipeline (order → providers → guard → page).

Imports are lazy so the job machinery (and its tests) work without the pipeline's heavy dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from builder.errors import ConfigError
from builder.gifts.contracts import PublishedGift
from builder.jobs.worker import JobContext, Processor
from builder.settings import Settings


def pipeline_processor(settings: Settings) -> Processor:
    """Wire builder.gifts.order / providers / pipeline into a worker Processor."""
    try:
        from builder.gifts.content_credentials import c2pa_settings
        from builder.gifts.order import parse_order
        from builder.gifts.pipeline import produce_gift
        from builder.gifts.providers import select_providers
    except ImportError as error:
        raise ConfigError(f"the gift pipeline is not available ({error.name})") from None
    providers = select_providers(settings.providers)

    def process(context: JobContext) -> PublishedGift:
        order = parse_order(context.order_bytes)
        return produce_gift(
            order,
            context.token,
            out_dir=context.out_dir,
            providers=providers,
            generated_at=datetime.now(UTC),
            known_prediction_id=context.known_prediction_id,
            on_prediction_created=context.on_prediction_created,
            before_swap=context.ensure_owner,
            c2pa=c2pa_settings(settings.c2pa, ci=settings.ci),
            public_base_url=settings.gifts_base_url,
        )

    return process


def takedown_page(out_dir: Path, token: str) -> None:
    """Remove a gift's page and media, leaving the 'this gift was removed' page (the publisher's job)."""
    try:
        from builder.gifts.publisher import LocalPublisher
    except ImportError as error:
        raise ConfigError(f"the gift publisher is not available ({error.name})") from None
    LocalPublisher(out_dir).takedown(token)


def with_gifts_repo(processor: Processor, publish: Callable[[Callable[[Path], PublishedGift]], PublishedGift]
                    ) -> Processor:
    """Production publishing: run the pipeline inside a gifts-repository checkout, then commit and push."""

    def process(context: JobContext) -> PublishedGift:
        def produce(root: Path) -> PublishedGift:
            return processor(JobContext(
                ref=context.ref, token=context.token, attempt=context.attempt, out_dir=root,
                known_prediction_id=context.known_prediction_id,
                on_prediction_created=context.on_prediction_created, order_bytes=context.order_bytes,
                ensure_owner=context.ensure_owner,
            ))

        return publish(produce)

    return process
