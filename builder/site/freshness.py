"""Is the output already up to date? Answered from file names, sizes and times only (no parsing)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from builder import __version__
from builder.github.location import snapshot_state
from builder.site.incremental import Manifest, tree_stat_key
from builder.site.options import BuildOptions


def quick_key(options: BuildOptions) -> str:
    """Changes whenever any input of the build may have changed: content, templates, options, snapshot, ledger."""
    extra = "|".join(map(str, (
        __version__, options.strict, options.offline, options.templates.resolve(), options.base_url,
        options.fallback_base_url, snapshot_state(options.cache_dir), git_head(options), options.search,
        options.build_date, options.ledger,
    )))
    roots = [options.content.resolve(), *(root.resolve() for root in options.theme_roots)]
    if isinstance(options.ledger, Path):  # the ops page is only as fresh as the ledger it reads
        roots += [options.ledger.resolve() / "orders", options.ledger.resolve() / "audit"]
    elif options.ledger is not None:  # a database: no file can tell whether it changed, so never skip the build
        extra += f"|{time.time()}"
    if options.benchmarks is not None:  # the gates' metric criteria
        roots.append(options.benchmarks.resolve())
    return tree_stat_key(*roots, extra=extra)


def up_to_date(options: BuildOptions, manifest: Manifest, key: str) -> bool:
    return options.incremental and manifest.quick_key == key and manifest.outputs_intact(options.out.resolve())


def git_head(options: BuildOptions) -> str:
    """The content repository's checked-out commit (gate history comes from it); "" outside git."""
    try:
        done = subprocess.run(["git", "-C", str(options.content), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
