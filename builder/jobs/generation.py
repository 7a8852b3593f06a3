"""The production processor: a job attempt runs the gift pipeline (order → providers → guard → page).

Imports are lazy so the job machinery (and its tests) work without the pipeline's heavy dependencies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from builder.errors import ConfigError
from builder.gifts.contracts import PublishedGift
from builder.jobs.worker import JobContext, Processor
from builder.settings import Settings, StorageSettings

if TYPE_CHECKING:
    from builder.gifts.publisher import Publisher


def gift_publisher(storage: StorageSettings, out_dir: Path) -> Publisher:
    """The local folder `out_dir/gifts/` by default, object storage when GIFT_GIFTS_URL is s3://…"""
    try:
        from builder.gifts.publisher import open_publisher
    except ImportError as error:
        raise ConfigError(f"the gift publisher is not available ({error.name})") from None
    return open_publisher(storage.gifts_url, out_dir, endpoint_url=storage.endpoint_url, region=storage.region,
                          access_key_id=storage.access_key_id, secret_access_key=storage.secret_access_key)


def pipeline_processor(settings: Settings, publisher: Publisher | None = None) -> Processor:
    """Wire builder.gifts.order / providers / pipeline into a worker Processor publishing with `publisher`
    (default: the local folder the job context names)."""
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
            journal=context.journal,
            go_live=context.go_live,
            c2pa=c2pa_settings(settings.c2pa, ci=settings.ci),
            public_base_url=settings.gifts_base_url,
            publisher=publisher,
        )

    return process
