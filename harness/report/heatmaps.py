"""The report's word × word cosine heatmaps, drawn as one SVG per model and task: each panel is a colour-mapped
image (one pixel block per word pair, a PNG embedded as a data URI, encoded here with zlib) with the words, titles
and colour-bar ticks as SVG text — crisp at any zoom, searchable, and about two orders of magnitude cheaper than a
matplotlib figure with tick labels on every panel.

Top row(s): the cosine matrix per condition (conditions with identical matrices share a panel, titled
``none = format``), on one shared viridis scale from the smallest off-diagonal cosine to 1; then each other
condition minus ``none`` (diverging RdBu scale, symmetric around 0). As many panels per row as fit the page's
1180 px (two for a 35-word task, one for a 94-word scale), so the figure is read at 1:1 on a 1280 px screen.
The same SVG is inlined in ``report.html`` and written under ``report_files/`` for ``report.md``. Only
matplotlib's colormaps are used (no pyplot, no text layout, no image writer), so a ``$`` in a word is text.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np

from harness.prompts.conditions import BASELINE, order_conditions
from harness.report import svg as draw
from harness.report.figure_cache import cached
from harness.report.html import Figure, safe_name

MATRIX_PX = 420  # the side of a panel's matrix when the words fit (cells are whole pixels)
MIN_CELL_PX = 10  # never smaller: a word's label is 9 px text (a 94-word scale task: a 940 px panel)
PAGE_PX = 1180  # the report's text width: as many panels per row as fit, so the figure is read at 1:1
TITLE_PX = 22
BAR_PX = 12
TICKS = 5


def identical_groups(by_cond: dict[str, Any]) -> list[list[str]]:
    """Conditions grouped by identical matrices (e.g. none = format = official for a model without prefixes)."""
    groups: list[list[str]] = []
    for cond in order_conditions(list(by_cond)):
        words, m = by_cond[cond]
        for g in groups:
            w0, m0 = by_cond[g[0]]
            if w0 == words and np.array_equal(m0, m, equal_nan=True):
                g.append(cond)
                break
        else:
            groups.append([cond])
    return groups


def _png(rgba: np.ndarray) -> str:
    """An RGBA uint8 array as a base64 PNG data URI, written here (zlib; every row after the first filtered
    as its difference from the row above — PNG's "Up" filter — so the repeated rows of a cell are zeros and
    compress fast); matplotlib's writer would import Pillow (≈ 0.2 s)."""
    h, w = rgba.shape[:2]
    flat = np.ascontiguousarray(rgba, np.uint8).reshape(h, w * 4)
    up = flat.copy()
    up[1:] -= flat[:-1]  # uint8: modulo 256, as the filter is defined
    kinds = np.full((h, 1), 2, np.uint8)
    kinds[0] = 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.concatenate([kinds, up], 1)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _rgba(m: np.ndarray, cmap: str, vmin: float, vmax: float, cell: int) -> np.ndarray:
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="#dddddd")
    norm = (np.ma.masked_invalid(m) - vmin) / ((vmax - vmin) or 1.0)
    rgba = cm(norm, bytes=True)
    return np.repeat(np.repeat(rgba, cell, axis=0), cell, axis=1)  # whole-pixel cells: crisp in every viewer


class _Panel:
    def __init__(self, title: str, words: list[str], m: np.ndarray, cmap: str, vmin: float, vmax: float):
        self.title, self.words, self.m, self.cmap, self.vmin, self.vmax = title, words, m, cmap, vmin, vmax
        n = len(words)
        self.cell = max(MIN_CELL_PX, MATRIX_PX // max(n, 1))
        self.font = min(11.0, self.cell - 1.0)
        self.label = int(max((len(w) for w in words), default=1) * self.font * 0.6) + 8
        self.side = n * self.cell
        self.width = self.label + self.side + 10 + BAR_PX + 46
        self.height = TITLE_PX + self.side + self.label

    def svg(self, x0: float, y0: float) -> str:
        side, cell, font, left, top = self.side, self.cell, self.font, x0 + self.label, y0 + TITLE_PX
        parts = [draw.text(left, y0 + 15, self.title, 12, font_weight="600"),
                 f'<image class="matrix" x="{left}" y="{top}" width="{side}" height="{side}" '
                 f'preserveAspectRatio="none" href="{_png(_rgba(self.m, self.cmap, self.vmin, self.vmax, cell))}"/>']
        for i, w in enumerate(self.words):  # rows: right-aligned left of the matrix; columns: upwards below it
            c = (i + 0.5) * cell + font * 0.35
            parts.append(draw.text(left - 4, top + c, w, font, text_anchor="end"))
            parts.append(draw.text(0, 0, w, font, text_anchor="end",
                               transform=f"translate({left + c:.1f},{top + side + 4:.1f}) rotate(-90)"))
        bar_x = left + side + 10
        ramp = np.linspace(self.vmax, self.vmin, 256)[:, None]
        parts.append(f'<image class="bar" x="{bar_x}" y="{top}" width="{BAR_PX}" height="{side}" '
                     f'preserveAspectRatio="none" href="{_png(_rgba(ramp, self.cmap, self.vmin, self.vmax, 1))}"/>')
        for v in np.linspace(self.vmax, self.vmin, TICKS):
            y = top + (self.vmax - v) / ((self.vmax - self.vmin) or 1.0) * side
            parts.append(f'<line x1="{bar_x + BAR_PX}" x2="{bar_x + BAR_PX + 3}" y1="{y:.1f}" y2="{y:.1f}" '
                         'stroke="#444"/>')
            parts.append(draw.text(bar_x + BAR_PX + 5, y + 3.5, f"{v:+.2f}" if self.vmin < 0 else f"{v:.2f}", 9.5))
        return "".join(parts)


def _panels(by_cond: dict[str, Any]) -> tuple[list[_Panel], list[_Panel]]:
    groups = identical_groups(by_cond)
    base = next((g for g in groups if BASELINE in g), None)
    diffs = [g for g in groups if base is not None and g is not base and by_cond[g[0]][0] == by_cond[base[0]][0]]
    mats = [by_cond[g[0]][1] for g in groups]
    off_diag = np.concatenate([m[~np.eye(len(m), dtype=bool)] for m in mats])
    vmin = float(np.nanmin(off_diag)) if np.isfinite(off_diag).any() else 0.0
    top = [_Panel(f"{' = '.join(g)}: cosine", by_cond[g[0]][0], by_cond[g[0]][1], "viridis", vmin, 1.0)
           for g in groups]
    bottom = []
    for g in diffs:
        assert base is not None
        delta = by_cond[g[0]][1] - by_cond[base[0]][1]
        lim = float(np.nanmax(np.abs(delta))) if np.isfinite(delta).any() else 0.0
        lim = lim or 1.0
        bottom.append(_Panel(f"{' = '.join(g)} − {BASELINE}: Δ cosine", by_cond[g[0]][0], delta, "RdBu_r",
                             -lim, lim))
    return top, bottom


def svg(key: tuple[str, str, str], by_cond: dict[str, Any]) -> str:
    """The heatmap of one (alias, revision, task) as a standalone SVG document."""
    alias, revision, task = key
    top, bottom = _panels(by_cond)
    cols = max(1, PAGE_PX // max(p.width for p in top + bottom))
    rows = [r[i:i + cols] for r in (top, bottom) for i in range(0, len(r), cols)]
    width = max(sum(p.width for p in row) for row in rows)
    y, parts = 24.0, [draw.text(4, 16, f"{alias} ({revision}) — {task}: word × word cosine per condition", 13,
                            font_weight="600")]
    for row in rows:
        x = 0.0
        for p in row:
            parts.append(p.svg(x, y))
            x += p.width
        y += max(p.height for p in row) + 8
    return draw.document(width, y, f"{alias} — {task}: word × word cosines", "".join(parts), "heatmap")


@cached
def heatmap(key: tuple[str, str, str], by_cond: dict[str, Any]) -> Figure:
    """The report's figure of one (alias, revision, task): :func:`svg` under ``<alias>@<rev>.<task>.cosines.svg``."""
    alias, revision, task = key
    return Figure(safe_name(f"{alias}@{revision}.{task}.cosines.svg"), f"{alias} — {task}: word × word cosines",
                  svg(key, by_cond).encode("utf-8"))
