"""Shared fixtures: Debian's Chromium, a page in a fresh context, a static server for built sites, a throwaway
envelope (tests/support/jobs.py).

Property tests are random locally (new examples every run find new bugs) and deterministic under `CI=true`:
the `ci` Hypothesis profile derandomizes (examples derive from each test's own code) and keeps no example
database, so a CI run can only fail on the code, never on the draw. Faker is seeded from the drawn example
(`seed_instance(seed)` in the tests), so it follows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

from builder.jobs.ledger import Ledger, open_ledger
from tests.support import missing_tool
from tests.support.browser import StaticServer, launch_chromium, new_page, serve_directory
from tests.support.jobs import envelope  # noqa: F401 - a fixture for every test module
from tests.support.postgres import Cluster, start_cluster
from tests.support.stripe import fake_stripe  # noqa: F401 - a fixture for every test module

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Headless /usr/bin/chromium, one per test: Playwright's sync API marks an event loop as running in the
    main thread while it is alive, so a longer-lived browser would break ``asyncio.run`` in later tests."""
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (1280×800)."""
    with new_page(chromium, viewport={"width": 1280, "height": 800}) as page:
        yield page


@pytest.fixture
def serve_static() -> Iterator[Callable[..., StaticServer]]:
    """Start static servers for the test: ``serve_static(site_dir, base_path="/repo/")`` → ``StaticServer``."""
    with ExitStack() as stack:

        def start(root: Path, base_path: str = "/") -> StaticServer:
            return stack.enter_context(serve_directory(root, base_path))

        yield start


HOST_ENVIRONMENT = (
    "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL",
    "GIFTBOARD_BASE_URL", "GIFT_QUEUE", "GIFT_DISPATCH_TOKEN", "GIFT_LYRICS_BASE_URL", "GIFT_LYRICS_API_KEY",
    "GIFT_AUDIO_BASE_URL", "GIFT_AUDIO_API_KEY", "GIFT_LEDGER_URL", "GIFT_GIFTS_REMOTE",
    "GIFT_GIFTS_URL", "GIFT_GIFTS_BASE_URL", "GIFT_S3_ENDPOINT_URL", "GIFT_S3_REGION", "GIFT_S3_ACCESS_KEY_ID",
    "GIFT_S3_SECRET_ACCESS_KEY",
)


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit the host's GitHub or provider settings: a test that needs one sets it itself.

    Without this, running the suite inside GitHub Actions (or with a token exported) would annotate output,
    sync against the real API, or dispatch real runs.
    """
    for name in HOST_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the session (a failure under CI=true when none is installed)."""
    try:
        cluster = start_cluster()
    except FileNotFoundError as error:
        missing_tool(str(error))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["folder", "postgres"])
def ledger_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's ledger lives: a folder, or a fresh database on the latest schema (every ledger, worker,
    reconcile, intake and crash test runs against both backends)."""
    if request.param == "folder":
        return str(tmp_path / "ledger")
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return cluster.new_database()


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    opened = open_ledger(ledger_location)
    try:
        yield opened
    finally:
        opened.close()
