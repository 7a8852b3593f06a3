"""Wiring from flags and settings to job objects: local folders by default, git and GitHub in production.

Production switches (all optional, see `builder.settings`): GIFT_QUEUE=github (dispatch runs),
GIFT_LEDGER_REMOTE (the ledger folder is a working copy of branch `ledger`), GIFT_GIFTS_REMOTE (pages go to
the private gifts repo), GIFT_GIFTS_BASE_URL (absolute URLs in status).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from builder.errors import ConfigError
from builder.jobs.dispatch import Dispatcher, GitHubDispatcher
from builder.jobs.envelope import Envelope, open_envelope
from builder.jobs.generation import pipeline_processor, takedown_page, with_gifts_repo
from builder.jobs.gitsync import GitGiftsPublisher, GitSync, ledger_sync
from builder.jobs.ledger import Ledger
from builder.jobs.settings import JobSettings
from builder.jobs.worker import Processor, default_owner
from builder.settings import Settings


@dataclass
class Runtime:
    ledger: Ledger
    settings: JobSettings
    config: Settings  # everything the environment configures; `settings` is its job part (lease overridden)
    sync: GitSync | None = None

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
        return GitHubDispatcher(self.settings) if self.settings.queue == "github" else None

    def push(self, message: str) -> None:
        if self.sync is not None:
            self.sync.push(message)

    def _gifts(self, out_dir: Path) -> GitGiftsPublisher | None:
        remote = self.config.gifts_remote
        if not remote:
            if self.config.github_actions or self.settings.queue == "github":
                # a page written into the runner's disk would vanish with it while the ledger says published
                raise ConfigError("GIFT_GIFTS_REMOTE is not set: on Actions gift pages must go to the gifts "
                                  "repository (set the secret in the gift-production environment)")
            return None
        return GitGiftsPublisher(GitSync(remote, self.config.gifts_branch, out_dir))

    def processor(self, out_dir: Path) -> Processor:
        processor = pipeline_processor(self.config)
        gifts = self._gifts(out_dir)
        return with_gifts_repo(processor, gifts.publish) if gifts else processor

    def remover(self, out_dir: Path) -> Callable[[str], None]:
        gifts = self._gifts(out_dir)
        if gifts is None:
            return lambda token: takedown_page(out_dir, token)
        return lambda token: gifts.takedown(token, takedown_page)


@contextmanager
def runtime(ledger_dir: Path, settings: Settings, *, lease_s: float | None = None,
            message: str = "") -> Iterator[Runtime]:
    """Open the ledger (pulling the ledger branch first in production) and push what changed after."""
    remote = settings.ledger_remote
    sync = ledger_sync(remote, ledger_dir) if remote else None
    if sync is not None:
        sync.pull()
    yield Runtime(Ledger(ledger_dir), settings.jobs.with_lease(lease_s), settings, sync)
    if sync is not None and message:
        sync.push(message)
