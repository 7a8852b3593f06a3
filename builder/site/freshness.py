"""Is the output already up to date? Answered from file names, sizes and times only (no parsing)."""

from __future__ import annotations

from builder import __version__
from builder.github.location import snapshot_state
from builder.site.incremental import Manifest, tree_stat_key
from builder.site.options import BuildOptions


def quick_key(options: BuildOptions) -> str:
    """Changes whenever any input of the build may have changed: content, templates, options, snapshot, ledger."""
    extra = "|".join(map(str, (
        __version__, options.strict, options.offline, options.templates.resolve(), options.base_url,
        options.fallback_base_url, snapshot_state(options.cache_dir),
    )))
    roots = [options.content.resolve(), options.templates.resolve()]
    if options.ledger is not None:  # the ops page is only as fresh as the ledger it reads
        roots += [options.ledger.resolve() / "orders", options.ledger.resolve() / "audit"]
    return tree_stat_key(*roots, extra=extra)


def up_to_date(options: BuildOptions, manifest: Manifest, key: str) -> bool:
    return options.incremental and manifest.quick_key == key and manifest.outputs_intact(options.out.resolve())
