"""SVG building blocks for the report's charts: text, markers, lines, a linear scale with round ticks, the document.

Plain strings, no plotting library: a chart costs milliseconds instead of a matplotlib figure's hundreds, its
labels are the page's own text (searchable, crisp at any zoom), and a ``$`` or ``<`` in a task, word or model
name is text (escaped here). Widths of text are estimated (0.6 em a character: the report's sans-serif fonts run
narrower), so labels get room to spare rather than overlap.
"""

from __future__ import annotations

import html
import itertools
import math

FONT = "system-ui,-apple-system,Segoe UI,Roboto,sans-serif"
# matplotlib's tab10, the colours the PNG charts used (a condition keeps its colour across the report's charts)
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf")
GRID = "#e3e3e3"
AXIS = "#4d4d4d"


def colour(i: int) -> str:
    return TAB10[i % len(TAB10)]


def text_width(s: str, size: float) -> float:
    """An upper estimate of a string's width in px at ``size`` px."""
    return len(s) * size * 0.6


def _attrs(attrs: dict[str, object]) -> str:
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v))}"' for k, v in attrs.items()
                   if v is not None)


def text(x: float, y: float, s: str, size: float, **attrs: object) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}"{_attrs(attrs)}>{html.escape(s)}</text>'


def lines_of_text(x: float, y: float, lines: list[str], size: float, **attrs: object) -> str:
    """Several lines, the first one's baseline at ``y``, each next one ``1.15 × size`` below."""
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else size * 1.15:.1f}">{html.escape(s)}</tspan>'
                    for i, s in enumerate(lines))
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}"{_attrs(attrs)}>{spans}</text>'


def line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.0, **attrs: object) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-width="{width:g}"{_attrs(attrs)}/>')


def polyline(points: list[tuple[float, float]], stroke: str, width: float = 1.0, **attrs: object) -> str:
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="{width:g}"{_attrs(attrs)}/>'


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str | None = None, **attrs: object) -> str:
    """A rectangle; ``tip`` becomes its hover text (an SVG ``<title>``)."""
    head = f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}"{_attrs(attrs)}'
    return f"{head}><title>{html.escape(tip)}</title></rect>" if tip else head + "/>"


def marker(shape: str, x: float, y: float, r: float, stroke: str, fill: str, tip: str | None = None) -> str:
    """A circle (``o``), square (``s``), diamond (``D``), cross (``x``: ``stroke`` only) or triangle up / down
    (``^``, ``v``) of radius ``r`` centred on (x, y);
    ``tip`` becomes its hover text (an SVG ``<title>``)."""
    style = f'stroke="{stroke}" fill="{fill}" stroke-width="1.6"'
    if shape == "o":
        head = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:g}" {style}'
    elif shape == "s":
        h = r * 0.85
        head = f'<rect x="{x - h:.1f}" y="{y - h:.1f}" width="{2 * h:.1f}" height="{2 * h:.1f}" {style}'
    elif shape == "D":
        pts = f"{x:.1f},{y - r:.1f} {x + r * 0.8:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r * 0.8:.1f},{y:.1f}"
        head = f'<polygon points="{pts}" {style}'
    elif shape == "x":
        d = r * 0.8
        head = (f'<path d="M{x - d:.1f},{y - d:.1f}L{x + d:.1f},{y + d:.1f}M{x - d:.1f},{y + d:.1f}L{x + d:.1f},'
                f'{y - d:.1f}" {style}')
    elif shape in "^v":
        s = -1 if shape == "^" else 1
        pts = f"{x:.1f},{y + s * r:.1f} {x - r:.1f},{y - s * r * 0.8:.1f} {x + r:.1f},{y - s * r * 0.8:.1f}"
        head = f'<polygon points="{pts}" {style}'
    else:
        raise ValueError(f"unknown marker shape {shape!r}")
    return f"{head}><title>{html.escape(tip)}</title></{head.split()[0][1:]}>" if tip else head + "/>"


def round_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart) inside [lo, hi], as close to ``n`` of them as those steps
    allow (the coarser step on a tie)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    mag = 10 ** math.floor(math.log10((hi - lo) / max(1, n - 1)))

    def ticks(step: float) -> list[float]:
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        return [round(k * step, 12) for k in range(first, last + 1)]

    steps = [m * mag for m in (1, 2, 2.5, 5, 10)]
    return ticks(min(steps, key=lambda st: (abs(len(ticks(st)) - n), -st)))


def tick_label(v: float, ticks: list[float]) -> str:
    """``v`` with as many decimals as the ticks' step needs (0.25 apart: two; 0.1 apart: one)."""
    step = min((b - a for a, b in itertools.pairwise(ticks)), default=0.0)
    digits = 0
    while digits < 6 and step > 0 and abs(round(step, digits) - step) > 1e-9 * step:
        digits += 1
    s = f"{v:.{digits}f}"
    return "0" if float(s) == 0 else s


class Scale:
    """A linear map from data [lo, hi] to px [a, b] (``b < a`` for a y-axis that grows upwards)."""

    def __init__(self, lo: float, hi: float, a: float, b: float):
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        return self.a + (v - self.lo) / ((self.hi - self.lo) or 1.0) * (self.b - self.a)


def padded(values: list[float], pad: float = 0.05, include: tuple[float, ...] = ()) -> tuple[float, float]:
    """The range of the finite ``values`` (and ``include``), widened by ``pad`` of its span on each side."""
    xs = [v for v in [*values, *include] if v is not None and math.isfinite(v)]
    if not xs:
        return -1.0, 1.0
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or max(abs(hi), 1e-3)
    return lo - pad * span, hi + pad * span


def document(width: float, height: float, title: str, body: str, cls: str) -> str:
    """A standalone SVG document on a white ground (inlined in report.html, a file for report.md)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" class="{cls}" role="img">'
            f'<title>{html.escape(title)}</title><rect width="100%" height="100%" fill="white"/>{body}</svg>')


def row_frame(labels: list[list[str]], x: Scale, ticks: list[float], top: float, row_h: float,
              zero: bool = True) -> tuple[str, float]:
    """The frame of a chart with one labelled row per item and a horizontal value axis (``x``): shaded
    alternate rows, the labels right-aligned left of the plot (one line each), grid lines at ``ticks`` with their
    labels above the plot, the 0 line where ``zero``, and the border. Returns the SVG and the plot's bottom."""
    left, right = x.a, x.b
    bottom = top + row_h * len(labels)
    parts = [text(x(t), top - 4, tick_label(t, ticks), 9.5, text_anchor="middle", fill="#555") for t in ticks]
    for i, lines in enumerate(labels):
        if i % 2:
            parts.append(rect(left, top + i * row_h, right - left, row_h, "#f6f6f6"))
        first = top + (i + 0.5) * row_h + 4 - (len(lines) - 1) * 11 * 1.15 / 2
        parts.append(lines_of_text(left - 6, first, lines, 11, text_anchor="end"))
    parts += [line(x(t), top, x(t), bottom, GRID) for t in ticks]
    if zero and x.lo <= 0.0 <= x.hi:
        parts.append(line(x(0.0), top, x(0.0), bottom, AXIS))
    parts.append(rect(left, top, right - left, bottom - top, "none", stroke=AXIS, stroke_width=0.8))
    return "".join(parts), bottom


def whisker(x: Scale, lo: float, hi: float, y: float, stroke: str, cap: float = 4.0, width: float = 1.6) -> str:
    """A horizontal interval [lo, hi] at height ``y`` with end caps."""
    return (line(x(lo), y, x(hi), y, stroke, width)
            + "".join(line(x(v), y - cap, x(v), y + cap, stroke, width) for v in (lo, hi)))


def legend(entries: list[tuple[str, str]], x0: float, y0: float, step: float = 18.0) -> tuple[str, float]:
    """A vertical legend: each entry a glyph (SVG drawn centred on (0, 0)) and its name. Returns the SVG and the
    height it takes."""
    parts = [f'<g transform="translate({x0 + 10:.1f},{y0 + i * step:.1f})">{glyph}</g>'
             + text(x0 + 24, y0 + i * step + 4, name, 11) for i, (glyph, name) in enumerate(entries)]
    return "".join(parts), step * len(entries)


def value_axis(x: Scale, ticks: list[float], y: float, label: str) -> str:
    """Tick labels and the axis' name below a chart whose plot ends at ``y``."""
    return ("".join(text(x(t), y + 4, tick_label(t, ticks), 10.5, text_anchor="middle") for t in ticks)
            + text((x.a + x.b) / 2, y + 24, label, 11, text_anchor="middle"))
