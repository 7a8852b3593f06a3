"""Small inline SVG charts: no chart library, no JavaScript, readable without colour."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def bar_chart(series: Sequence[tuple[str, float]], *, title: str, unit: str = "", width: int = 480,
              height: int = 120) -> Markup:
    """Vertical bars with an accessible title and description listing every value."""
    gap = 2
    count = max(1, len(series))
    top = max((value for _, value in series), default=0.0) or 1.0
    bar = max(1.0, (width - gap * (count - 1)) / count)
    parts = []
    for index, (label, value) in enumerate(series):
        bar_height = 0 if value <= 0 else max(2.0, (height - 16) * value / top)
        x = index * (bar + gap)
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bar_height:.1f}" width="{bar:.1f}" height="{bar_height:.1f}" rx="1.5">'
            f"<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>"
        )
    description = ", ".join(f"{label}: {value:g}{unit}" for label, value in series)
    return Markup(  # noqa: S704 - every interpolated text is escaped above and below
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="none"><title>{escape(title)}</title><desc>{escape(description)}</desc>'
        + "".join(parts)
        + "</svg>"
    )


def meter(fraction: float, *, label: str, width: int = 120, height: int = 10) -> Markup:
    """A horizontal proportion bar (e.g. a failure rate) with its value in the accessible name."""
    filled = max(0.0, min(1.0, fraction)) * width
    return Markup(  # noqa: S704 - only numbers and escaped text are interpolated
        f'<svg class="meter" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}"><rect class="meter__track" width="{width}" height="{height}" rx="5"/>'
        f'<rect class="meter__fill" width="{filled:.1f}" height="{height}" rx="5"/></svg>'
    )


def labelled_bars(series: Sequence[tuple[str, float]], *, title: str, width: int = 420, row: int = 26) -> Markup:
    """Horizontal bars, one labelled row per category, with the value written beside each bar."""
    label_width, value_width = 110, 44
    span = width - label_width - value_width
    top = max((value for _, value in series), default=0.0) or 1.0
    height = max(row, row * len(series))
    rows = []
    for index, (label, value) in enumerate(series):
        y = index * row
        length = 0 if value <= 0 else max(2.0, span * value / top)
        rows.append(
            f'<text x="0" y="{y + row * 0.65:.1f}" class="chart__label">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 5}" width="{length:.1f}" height="{row - 10}" rx="3"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + row * 0.65:.1f}" class="chart__value">{value:g}</text>'
        )
    description = ", ".join(f"{label}: {value:g}" for label, value in series)
    return Markup(  # noqa: S704 - labels are escaped, values are numbers
        f'<svg class="chart chart--bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>" + "".join(rows) + "</svg>"
    )
