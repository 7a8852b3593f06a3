"""Wiring from flags and settings to job objects: local folders by default, PostgreSQL, object storage and
GitHub in production.

Production switches (all optional, see `builder.settings`): GIFT_LEDGER_URL (`postgresql://…`: the ledger
database; a folder path otherwise), GIFT_QUEUE=github (dispatch runs), GIFT_GIFTS_URL=s3://bucket/prefix
(pages go to object storage; GIFT_S3_* for endpoint, region and credentials), GIFT_GIFTS_BASE_URL (absolute
URLs in status and on the page; required with object storage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.errors import ConfigError
from builder.jobs.dispatch import Dispatcher, GitHubDispatcher
from builder.jobs.envelope import Envelope, open_envelope
from builder.jobs.generation import gift_publisher, pipeline_processor
from builder.jobs.ledger import Ledger, open_ledger
from builder.jobs.pool import GitHubRuns
from builder.jobs.settings import JobSettings, ledger_location
from builder.jobs.worker import Processor, default_owner
from builder.settings import Settings

if TYPE_CHECKING:
    from builder.gifts.publisher import Publisher


@dataclass
class Runtime:
    ledger: Ledger
    settings: JobSettings
    config: Settings  # everything the environment configures; `settings` is its job part (lease overridden)

    @property
    def envelope(self) -> Envelope:
        return open_envelope(self.config)

    @property
    def base_url(self) -> str:
        return self.config.gifts_base_url

    def owner(self) -> str:
        """A lease owner id for a worker in this process (names the Actions run when there is one)."""
        return default_owner(self.config.run_id)

    def dispatcher(self) -> Dispatcher | None:
        """Run lookups (reconcile: did the run holding an order end?) on the production queue."""
        return GitHubDispatcher(self.settings) if self.settings.queue == "github" else None

    def runs(self) -> GitHubRuns | None:
        """The dispatcher's GitHub calls (runs by queue depth) on the production queue."""
        return GitHubRuns(self.settings) if self.settings.queue == "github" else None

    def publisher(self, out_dir: Path) -> Publisher:
        """Where gift pages go: object storage in production, `out_dir/gifts/` on this machine."""
        storage = self.config.storage
        if not storage.gifts_url and (self.config.github_actions or self.settings.queue == "github"):
            # a page written into the runner's disk would vanish with it while the ledger says published
            raise ConfigError("GIFT_GIFTS_URL is not set: on Actions gift pages must go to object storage "
                              "(s3://bucket/prefix; set it in the gift-production environment)")
        if storage.object_storage and not self.config.gifts_base_url:
            raise ConfigError("GIFT_GIFTS_BASE_URL is not set: with object storage the gift pages need their "
                              "public address (the CDN in front of the bucket) for og:image and og:url")
        return gift_publisher(storage, out_dir)

    def processor(self, out_dir: Path) -> Processor:
        return pipeline_processor(self.config, self.publisher(out_dir))

    def remover(self, out_dir: Path) -> Callable[[str], None]:
        return self.publisher(out_dir).takedown


@contextmanager
def runtime(ledger: str | Path | None, settings: Settings, *, lease_s: float | None = None,
            check_schema: bool = True) -> Iterator[Runtime]:
    """Open the ledger named by `--ledger`, GIFT_LEDGER_URL or the default folder (a database must be on the
    latest schema unless `check_schema` is off), and close it after."""
    opened = open_ledger(ledger_location(ledger, settings), check_schema=check_schema)
    try:
        yield Runtime(opened, settings.jobs.with_lease(lease_s), settings)
    finally:
        opened.close()
