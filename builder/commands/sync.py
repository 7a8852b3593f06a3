"""`python -m builder sync`: read what the content links on GitHub (read-only) into the snapshot."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.github.snapshot import default_path
from builder.github.source import sync
from builder.progress import progress


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("sync", help="write the GitHub snapshot under .cache/", description=__doc__)
    parser.add_argument("--content", type=Path, default=Path("content"), help="content folder (default: content)")
    parser.add_argument("--snapshot", type=Path, default=None,
                        help="snapshot file (default: .cache/github-snapshot.json)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = args.snapshot or default_path(Path(".cache"))
    with progress("Reading GitHub (read-only)"):
        result = sync(args.content, snapshot_path=path, github=args.settings.github)
    snapshot = result.snapshot
    print(f"{path}: {snapshot.repository} at {snapshot.fetched_at}: {len(snapshot.issues)} linked items, "
          f"{len(snapshot.workflows)} workflows, {len(snapshot.checks)} checks, {len(snapshot.milestones)} "
          f"milestones, {len(snapshot.pulls)} merged pull requests, {len(snapshot.releases)} releases "
          f"({result.requests} requests)")
    return 0
