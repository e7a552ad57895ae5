"""Charts as inline SVG drawn on the server: no script, no font or library from the internet.

The admin runs under a Content Security Policy that allows the hub's own scripts only, and
stewards' networks often reach no CDN; an SVG written here renders everywhere. Every bar is a
link to the list it counts, and carries its number as a tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

PALETTE = {"records": "#417690", "failures": "#ba2121", "duration": "#e08e0b", "bar": "#417690", "muted": "#999"}


@dataclass
class Bar:
    value: float
    url: str | None = None
    title: str = ""


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if float(value).is_integer() or value >= 100 else f"{value:.1f}"


def _at(coordinate: float) -> str:
    """A coordinate as SVG text (format_html escapes its arguments before formatting them)."""
    return f"{coordinate:.1f}"


def _linked(url: str | None, inner: SafeString) -> SafeString:
    return format_html('<a href="{}">{}</a>', url, inner) if url else inner


def column_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Bar]]],
    *,
    line: tuple[str, Sequence[float | None], str] | None = None,
    width: int = 560,
    height: int = 160,
    label: str = "",
) -> SafeString:
    """Grouped columns (one group per label, one column per series) and an optional line on its own scale.

    ``series``: ``(name, colour, bars)``; ``line``: ``(name, values, unit)``.
    """
    top, bottom, left = 22, 20, 34
    plot_h = height - top - bottom
    groups = max(1, len(labels))
    slot = (width - left) / groups
    column = max(2.0, (slot * 0.8) / max(1, len(series)))
    peak = max([b.value for _, _, bars in series for b in bars] + [1])
    parts = [format_html('<text x="0" y="{}" class="axis">{}</text>', top + 4, _number(peak))]
    parts.append(format_html('<text x="0" y="{}" class="axis">0</text>', top + plot_h))
    parts.append(
        format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ccc"/>', left, width, top + plot_h, top + plot_h)
    )
    for index, text in enumerate(labels):
        x0 = left + index * slot + slot * 0.1
        for position, (name, colour, bars) in enumerate(series):
            bar = bars[index]
            h = plot_h * bar.value / peak
            rect = format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                _at(x0 + position * column),
                _at(top + plot_h - h),
                _at(column - 1),
                _at(max(h, 0.5 if bar.value else 0)),
                colour,
                bar.title or f"{name}: {_number(bar.value)}",
            )
            parts.append(_linked(bar.url if bar.value else None, rect))
        if groups <= 16 or index % 2 == 0:
            parts.append(format_html('<text x="{}" y="{}" class="tick">{}</text>', _at(x0), height - 6, text))
    if line is not None:
        name, values, unit = line
        known = [v for v in values if v is not None]
        line_peak = max([*known, 1e-9])
        points = [
            (left + i * slot + slot / 2, top + plot_h - plot_h * v / line_peak)
            for i, v in enumerate(values)
            if v is not None
        ]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                format_html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', path, PALETTE["duration"]
                )
            )
            parts.append(
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="2.5" fill="{}"/>',
                    ((_at(x), _at(y), PALETTE["duration"]) for x, y in points),
                )
            )
            parts.append(
                format_html(
                    '<text x="{}" y="12" class="axis" fill="{}">{} (max {} {})</text>',
                    width - 190,
                    PALETTE["duration"],
                    name,
                    _number(line_peak),
                    unit,
                )
            )
    legend = format_html_join(
        "",
        '<rect x="{}" y="4" width="10" height="10" fill="{}"/><text x="{}" y="13" class="axis">{}</text>',
        ((left + i * 90, colour, left + i * 90 + 14, name) for i, (name, colour, _) in enumerate(series)),
    )
    return _svg(width, height, label, mark_safe("".join(parts)) + legend)  # every part was escaped by format_html


def bar_list(
    rows: Sequence[tuple[str, Bar]], *, width: int = 420, scale: float | None = None, suffix: str = "", label: str = ""
) -> SafeString:
    """Horizontal bars, one per row, the number written at the end of each (``scale``: the full-width value)."""
    row_h, name_w = 22, 130
    height = max(row_h, row_h * len(rows)) + 4
    peak = scale or max([bar.value for _, bar in rows] + [1])
    parts = []
    for index, (name, bar) in enumerate(rows):
        y = index * row_h + 4
        w = (width - name_w - 60) * (bar.value / peak if peak else 0)
        parts.append(format_html('<text x="0" y="{}" class="tick">{}</text>', y + 13, name))
        shape = format_html(
            '<rect x="{}" y="{}" width="{}" height="14" fill="{}"><title>{}</title></rect>'
            '<text x="{}" y="{}" class="value">{}{}</text>',
            name_w,
            y + 2,
            _at(max(w, 1)),
            PALETTE["bar"],
            bar.title or f"{name}: {_number(bar.value)}{suffix}",
            _at(name_w + w + 4),
            y + 13,
            _number(bar.value),
            suffix,
        )
        parts.append(_linked(bar.url, shape))
    return _svg(width, height, label, mark_safe("".join(parts)))  # every part was escaped by format_html


def _svg(width: int, height: int, label: str, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="mdm-chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}" width="{}" height="{}" '
        'viewBox="0 0 {} {}"><style>.axis,.tick,.value{{font:11px sans-serif;fill:var(--body-quiet-color,#666)}}'
        ".value{{fill:var(--body-fg,#333)}}</style>{}</svg>",
        label,
        width,
        height,
        width,
        height,
        body,
    )
