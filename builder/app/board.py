"""The board site as the commands build it: the content pages plus the ops page from the gift ledger."""

from __future__ import annotations

from builder.site.build import Site
from builder.site.options import BuildOptions


def board_site(options: BuildOptions) -> Site:
    """The site for `options`; with a ledger (`--ledger`), the ops page (ops/) is registered as an extra output."""
    if options.ledger is None:
        return Site(options)
    from builder.ops.page import OPS_PAGE  # the ledger and its metrics: imported only for a build that shows them

    return Site(options, extra_outputs=[OPS_PAGE])
