"""Small inline SVG charts for the dashboard: no JavaScript library, scale with the page on a phone.

Every label goes through `escape`, so a chart can never carry markup from the data it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 480, 160
LEFT, BOTTOM, TOP = 36, 20, 10


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css_class: str


def _scale(values: Sequence[float | None]) -> float:
    top = max((v for v in values if v is not None), default=0.0)
    return top if top > 0 else 1.0


def _frame(title: str, top: float, labels: Sequence[str], body: str, unit: str) -> Markup:
    plot_h = HEIGHT - BOTTOM - TOP
    ticks = "".join(
        f'<text x="{LEFT - 4}" y="{TOP + plot_h * (1 - f) + 4:.1f}" class="tick" text-anchor="end">{escape(_fmt(top * f))}</text>'
        for f in (0.0, 0.5, 1.0)
    )
    step = (WIDTH - LEFT) / max(1, len(labels))
    every = max(1, len(labels) // 6)
    xlabels = "".join(
        f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - 4}" class="tick" text-anchor="middle">{escape(label)}</text>'
        for i, label in enumerate(labels) if i % every == 0
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)} ({escape(unit)})</title>"
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}" class="axis"/>'
        f"{ticks}{xlabels}{body}</svg>"
    )


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str = "") -> Markup:
    """One bar per label; a missing value draws no bar."""
    top = _scale(values)
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(1, len(values))
    bars = "".join(
        f'<rect x="{LEFT + step * i + 1:.1f}" y="{TOP + plot_h * (1 - v / top):.1f}" width="{max(1.0, step - 2):.1f}" '
        f'height="{plot_h * v / top:.1f}" class="bar"><title>{escape(labels[i])}: {escape(_fmt(v))}{escape(unit)}</title></rect>'
        for i, v in enumerate(values) if v
    )
    return _frame(title, top, labels, bars, unit)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "") -> Markup:
    """One polyline per series; gaps (None) split a line into pieces."""
    top = max(_scale(s.values) for s in series) if series else 1.0
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(1, len(labels))
    body = []
    for s in series:
        pieces, current = [], []
        for i, v in enumerate(s.values):
            if v is None:
                if current:
                    pieces.append(current)
                current = []
                continue
            current.append(f"{LEFT + step * (i + 0.5):.1f},{TOP + plot_h * (1 - v / top):.1f}")
        if current:
            pieces.append(current)
        for piece in pieces:
            if len(piece) == 1:
                x, y = piece[0].split(",")
                body.append(f'<circle cx="{x}" cy="{y}" r="2.5" class="{s.css_class}"/>')
            else:
                body.append(f'<polyline points="{" ".join(piece)}" class="line {s.css_class}"/>')
    legend = "".join(
        f'<text x="{LEFT + 8 + 90 * i}" y="{TOP + 10}" class="legend {s.css_class}">{escape(s.name)}</text>'
        for i, s in enumerate(series)
    )
    return _frame(title, top, labels, "".join(body) + legend, unit)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
