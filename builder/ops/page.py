"""The ops page of the board site: figures, inline SVG charts, the attention list, the build's own timing."""

from __future__ import annotations

import time

from builder.jobs.ledger import has_ledger as ledger_here
from builder.jobs.ledger import open_ledger
from builder.ops.charts import bar_chart, labelled_bars, meter
from builder.ops.metrics import OpsSummary, summarise_ledger
from builder.site.build import ExtraOutput, Site
from builder.site.render import Rendered, output_path

OPS_URL = "ops/"


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def ops_outputs(site: Site) -> list[Rendered]:
    """Render ops/index.html from the ledger named by the build options (nothing when none is configured)."""
    assert site.renderer is not None
    ledger_dir = site.options.ledger
    if ledger_dir is None:  # a board without a gift pipeline has no ops page and no Operations link
        return []
    has_ledger = ledger_here(ledger_dir)
    if has_ledger and ledger_dir is not None:
        ledger = open_ledger(ledger_dir)
        try:
            summary = summarise_ledger(ledger, refund_failed_after_s=site.options.refund_failed_after_s)
        finally:
            ledger.close()
    else:
        summary = OpsSummary(time.time())
    timing = dict(site.previous_timing)
    pages = int(timing.pop("pages", 0))
    state_series = [(state.replace("_", " "), float(count)) for state, count in summary.by_state.items()]
    hourly = [(label[11:16], float(count)) for label, count in summary.published_per_hour]
    data = site.renderer.render_template(
        "ops.html",
        OPS_URL,
        description="Generation status, provider failures, retries and latency: support-safe.",
        summary=summary,
        has_ledger=has_ledger,
        timing=timing,
        pages=pages,
        duration=duration,
        state_chart=labelled_bars(state_series, title="Orders by state"),
        hourly_chart=bar_chart(hourly, title="Gifts published per hour, last 24 hours"),
        meter=meter,
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(summary.generated_at)) if has_ledger else "",
    )
    return [Rendered(output_path(OPS_URL), data)]


OPS_PAGE = ExtraOutput(OPS_URL, ops_outputs)  # registered on the board build by builder.app.board
