"""Charts for the dashboard, drawn on the server as plain SVG (no JavaScript, nothing fetched).

Each function returns `Markup` that Jinja inserts as is; every text that comes from figures or
rules (rule ids, field names, week labels) is escaped here. Series and bars carry `data-*`
attributes with their raw figures, so a reader of the page (or a test) can check them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

# Colour-blind friendly (Okabe-Ito), in an order where neighbours differ in lightness too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FUNNEL_COLOURS = {"first time": "#009E73", "after prompt": "#E69F00", "missed": "#D55E00"}

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def duration(seconds: float | None) -> str:
    """Seconds as people read them: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`; `–` for none."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(s // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(share: float | None) -> str:
    """A share (0..1) as a percentage with one decimal; `–` for none."""
    return "–" if share is None else f"{share * 100:.1f}%"


def compliance_chart(
    series: Mapping[str, Sequence[tuple[str, float | None]]],
    *,
    width: int = 720,
    height: int = 280,
    title: str = "Compliance per rule per week",
    marks: Sequence[tuple[str, str]] = (),
) -> Markup:
    """Lines of compliance (0..1) per rule over ISO weeks, one `<g class="series">` per rule.

    `series` maps a rule to its (week, compliance) points; a week without a compliance figure
    (`None`) breaks the line there. Weeks are the sorted union of all series' weeks. `marks`
    are (week, label) pairs drawn as dashed vertical lines: a rule's version going live.
    """
    weeks = sorted({week for points in series.values() for week, _ in points})
    left, right, top, bottom = 48, 40, 28, 48  # room for the first and last week labels
    legend_h = 18 * ((len(series) + 2) // 3)
    plot_w, plot_h = width - left - right, height - top - bottom
    total_h = height + legend_h
    parts = [_open(width, total_h, title)]
    parts.append(f'<text x="{left}" y="18" {_FONT} font-weight="600">{escape(title)}</text>')
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT} fill="#555">'
            f"{tick}%</text>"
        )

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if len(weeks) == 1 else plot_w * i / (len(weeks) - 1))

    step = max(1, len(weeks) // 8)  # at most ~8 labels, so they do not overlap
    for i, week in enumerate(weeks):
        if i % step == 0 or i == len(weeks) - 1:
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
                f'{_FONT} fill="#555">{escape(week)}</text>'
            )
    index = {week: i for i, week in enumerate(weeks)}
    for week, label in marks:
        if week not in index:
            continue
        x = x_of(index[week])
        parts.append(
            f'<g class="mark" data-week="{escape(week)}"><line x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{top}" y2="{top + plot_h}" stroke="#999" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{top + 10}" {_FONT} fill="#555">{escape(label)}</text>'
            "</g>"
        )
    for n, (rule, points) in enumerate(series.items()):
        stroke = colour(n)
        parts.append(f'<g class="series" data-rule="{escape(rule)}" stroke="{stroke}">')
        segment: list[str] = []
        drawn = sorted(points, key=lambda p: index[p[0]])
        for week, value in [*drawn, ("", None)]:
            if value is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline fill="none" stroke-width="2" points="{" ".join(segment)}"/>'
                    )
                segment = []
                continue
            x, y = x_of(index[week]), top + plot_h * (1 - value)
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{stroke}" '
                f'data-week="{escape(week)}" data-value="{value}">'
                f"<title>{escape(rule)}, {escape(week)}: {percent(value)}</title></circle>"
            )
        parts.append("</g>")
    for n, rule in enumerate(series):
        x = left + (n % 3) * (plot_w / 3)
        y = height + 18 * (n // 3)
        parts.append(
            f'<g class="legend"><rect x="{x:.1f}" y="{y - 10}" width="12" height="12" '
            f'fill="{colour(n)}"/><text x="{x + 18:.1f}" y="{y}" {_FONT}>{escape(rule)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    bars: Sequence[tuple[str, float, str]],
    *,
    scale: float,
    title: str,
    kind: str = "bar",
    colours: Mapping[str, str] | None = None,
    width: int = 560,
) -> Markup:
    """Horizontal bars: each (label, value, shown text) is a `<rect class="{kind}">` whose length
    is value / scale. `scale` 0 (nothing to show yet) draws empty bars."""
    row_h, label_w, top = 30, 170, 28
    plot_w = width - label_w - 90
    height = top + row_h * max(len(bars), 1) + 8
    parts = [_open(width, height, title)]
    parts.append(f'<text x="0" y="18" {_FONT} font-weight="600">{escape(title)}</text>')
    for i, (label, value, shown) in enumerate(bars):
        y = top + i * row_h
        length = plot_w * value / scale if scale else 0.0
        fill = (colours or {}).get(label, colour(i))
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" {_FONT}>{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="18" fill="#f1f1f1"/>'
            f'<rect class="{escape(kind)}" x="{label_w}" y="{y + 4}" width="{length:.1f}" '
            f'height="18" fill="{fill}" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            f'<text x="{label_w + plot_w + 6}" y="{y + 17}" {_FONT}>{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel(first_time: int, after_prompt: int, missed: int) -> Markup:
    """The funnel of a rule's closed occasions: met first time, met after a prompt, missed."""
    steps = (("first time", first_time), ("after prompt", after_prompt), ("missed", missed))
    total = first_time + after_prompt + missed
    bars = [
        (label, float(n), f"{n} ({percent(n / total)})" if total else str(n)) for label, n in steps
    ]
    return bar_chart(
        bars,
        scale=float(total),
        title="What happened at each occasion",
        kind="funnel-step",
        colours=FUNNEL_COLOURS,
    )


def fields_left_empty(missing: Mapping[str, int], occasions: int) -> Markup:
    """Per required field: in how many occasions it was left empty, as a share of occasions."""
    bars = [
        (name, float(count), f"{count} of {occasions}")
        for name, count in sorted(missing.items(), key=lambda item: (-item[1], item[0]))
    ]
    return bar_chart(bars, scale=float(occasions), title="Left empty", kind="field-bar")


def time_to_comply(median: float | None, p90: float | None) -> Markup:
    """Median and 90th percentile time to comply, on one scale."""
    bars = [
        (label, float(value), duration(value))
        for label, value in (("median", median), ("p90", p90))
        if value is not None
    ]
    scale = max((value for _, value, _ in bars), default=0.0)
    return bar_chart(bars, scale=scale, title="Time to comply after a prompt", kind="ttc-bar")


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}">'
    )
