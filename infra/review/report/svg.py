"""The report's chart: each stage's monthly cost against the load it carries, as hand-written
SVG (no plotting library: the points are seven per series).

Both axes are logarithmic (costs run from tens to thousands of dollars, rates over a decade
and more). Each stage is one horizontal line at its monthly cost, from the model's point to
the lab's, so the gap between the two series reads as a length on one row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 760, 430
LEFT, RIGHT, TOP, BOTTOM = 78, 150, 44, 56  # plot margins: labels on the left, legend right
MODEL_COLOUR, LAB_COLOUR = "#1f5fbf", "#d9480f"


@dataclass(frozen=True)
class Point:
    stage: str
    index: int
    monthly_usd: float
    model_rps: float | None  # None: no model figure (beyond the search bound)
    lab_rps: float | None  # None: not measured


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    start: float  # pixel of `low`
    end: float  # pixel of `high`

    def at(self, value: float) -> float:
        span = math.log10(self.high) - math.log10(self.low)
        share = (math.log10(value) - math.log10(self.low)) / span
        return self.start + share * (self.end - self.start)


STEPS = (1, 2, 5)


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    """The 1-2-5 steps just below and just above the values."""
    steps = [d * m for e in range(-3, 10) for m in STEPS for d in (10.0**e,)]
    low = max(t for t in steps if t <= min(values))
    high = min(t for t in steps if t >= max(values))
    return low, high if high > low else next(t for t in steps if t > low)


def _ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 of every decade between the bounds."""
    out: list[float] = []
    decade = 10 ** math.floor(math.log10(low))
    while decade <= high:
        out += [decade * m for m in (1, 2, 3, 5) if low <= decade * m <= high]
        decade *= 10
    return out


def _label(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _text(x: float, y: float, body: str, **attrs: str) -> str:
    extra = "".join(f" {k.rstrip('_').replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(body)}</text>'


def cost_load_svg(
    points: Sequence[Point],
    marks: Sequence[tuple[float, str]] = (),
    load_unit: str = "peak requests/s",
) -> str:
    """The chart as one <svg> element; every point carries data-series and data-stage and
    a <title> with its figures. `marks`: loads drawn as dashed verticals (today's peak)."""
    rates = [r for p in points for r in (p.model_rps, p.lab_rps) if r is not None]
    rates += [m for m, _ in marks]
    costs = [p.monthly_usd for p in points]
    if not rates or not costs or min(costs) <= 0:
        raise ValueError("chart: needs a positive cost and at least one rate per chart")
    x = Axis(*_bounds(rates), LEFT, WIDTH - RIGHT)
    y = Axis(*_bounds(costs), HEIGHT - BOTTOM, TOP)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11" role="img">',
        "<title>Monthly cost (prod) against the load each stage carries</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for t in _ticks(x.low, x.high):
        px = x.at(t)
        out.append(
            f'<line x1="{px:.1f}" y1="{y.end}" x2="{px:.1f}" y2="{y.start}" stroke="#e4e8ef"/>'
        )
        out.append(_text(px, y.start + 16, _label(t), text_anchor="middle", fill="#5b6475"))
    for t in _ticks(y.low, y.high):
        py = y.at(t)
        out.append(
            f'<line x1="{x.start}" y1="{py:.1f}" x2="{x.end}" y2="{py:.1f}" stroke="#e4e8ef"/>'
        )
        out.append(_text(x.start - 6, py + 4, f"${_label(t)}", text_anchor="end", fill="#5b6475"))
    out.append(
        f'<rect x="{x.start}" y="{y.end}" width="{x.end - x.start}" '
        f'height="{y.start - y.end}" fill="none" stroke="#8a93a3"/>'
    )
    out.append(
        _text(
            (x.start + x.end) / 2,
            HEIGHT - 14,
            f"load carried ({load_unit}, log scale)",
            text_anchor="middle",
            class_="axis-x",
        )
    )
    mid_y = (y.start + y.end) / 2
    out.append(
        _text(
            16,
            mid_y,
            "monthly cost, prod ($/month, log scale)",
            text_anchor="middle",
            transform=f"rotate(-90 16 {mid_y:.1f})",
            class_="axis-y",
        )
    )
    for value, name in marks:
        px = x.at(value)
        out.append(
            f'<line x1="{px:.1f}" y1="{y.end}" x2="{px:.1f}" y2="{y.start}" stroke="#5b6475" '
            'stroke-dasharray="4 3"/>'
        )
        out.append(_text(px + 4, y.end + 12, name, fill="#5b6475", class_="mark"))
    for p in points:
        py = y.at(p.monthly_usd)
        xs = [x.at(r) for r in (p.model_rps, p.lab_rps) if r is not None]
        if len(xs) == 2:
            out.append(
                f'<line x1="{min(xs):.1f}" y1="{py:.1f}" x2="{max(xs):.1f}" y2="{py:.1f}" '
                'stroke="#9aa3b2" stroke-width="1.5"/>'
            )
        if xs:
            out.append(_text(min(xs) - 9, py + 4, f"{p.index}. {p.stage}", text_anchor="end"))
        if p.model_rps is not None:
            out.append(
                f'<circle cx="{x.at(p.model_rps):.1f}" cy="{py:.1f}" r="5" '
                f'fill="{MODEL_COLOUR}" data-series="model" data-stage="{p.stage}">'
                f"<title>{escape(p.stage)} (model): {p.model_rps:,.0f} {escape(load_unit)}, "
                f"${p.monthly_usd:,.0f}/month</title></circle>"
            )
        if p.lab_rps is not None:
            lx = x.at(p.lab_rps)
            out.append(
                f'<rect x="{lx - 4.5:.1f}" y="{py - 4.5:.1f}" width="9" height="9" '
                f'fill="#ffffff" stroke="{LAB_COLOUR}" stroke-width="2" '
                f'transform="rotate(45 {lx:.1f} {py:.1f})" data-series="lab" '
                f'data-stage="{p.stage}"><title>{escape(p.stage)} (lab, in AWS terms): '
                f"{p.lab_rps:,.0f} {escape(load_unit)}, ${p.monthly_usd:,.0f}/month</title></rect>"
            )
    lx, ly = WIDTH - RIGHT + 14, TOP + 8
    out += [
        f'<circle cx="{lx + 5}" cy="{ly}" r="5" fill="{MODEL_COLOUR}"/>',
        _text(lx + 16, ly + 4, "model"),
        _text(lx + 16, ly + 18, "first tier runs out", fill="#5b6475"),
        f'<rect x="{lx + 0.5}" y="{ly + 31.5}" width="9" height="9" fill="#ffffff" '
        f'stroke="{LAB_COLOUR}" stroke-width="2" transform="rotate(45 {lx + 5} {ly + 36})"/>',
        _text(lx + 16, ly + 40, "lab (measured)"),
        _text(lx + 16, ly + 54, "x its scale, in AWS", fill="#5b6475"),
        "</svg>",
    ]
    return "\n".join(out)
