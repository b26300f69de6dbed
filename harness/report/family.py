"""The report's task-family section: the family table and a small-multiples figure — one panel per task of the
family (the main score under none and under every instructed condition, one line per model and subset view) and a
last panel with the family mean and its word-level 95% intervals (from ``family.parquet``)."""

from __future__ import annotations

import pandas as pd

from harness.prompts.conditions import order_conditions
from harness.report import svg
from harness.report.figure_cache import cached
from harness.report.html import Figure, safe_name

MARKERS = {"scale": "o", "relation": "s", "scale_deu": "^", "relation_deu": "v"}


def family_rows(f: pd.DataFrame) -> pd.DataFrame:
    """The family table for the report (one row per family × subset × model × condition)."""
    out = []
    for r in f.sort_values(["family", "subset", "alias"]).itertuples():
        is_base = r.condition == r.baseline
        out.append({
            "family": r.family, "subset": r.subset, "model": r.alias, "condition": r.condition,
            "tasks": str(r.n_tasks), "mean score": f"{r.mean_score:.4f}",
            "95% CI": f"[{r.score_ci_low:+.3f}, {r.score_ci_high:+.3f}]",
            "Δ mean vs none": "" if is_base else f"{r.delta:+.4f}",
            "95% CI of Δ": "" if is_base else f"[{r.delta_ci_low:+.3f}, {r.delta_ci_high:+.3f}]",
            "SD of Δ across tasks": "" if is_base or pd.isna(r.delta_sd_tasks) else f"{r.delta_sd_tasks:.3f}",
            "claims hold": f"{r.claims_hold}/{r.n_claims}",
            "claims flipped": "" if is_base else str(r.claims_flipped),
        })
    return pd.DataFrame(out)


PANEL_PX = (292, 200)  # one panel's plotting area and its margins: four to a row on the 1180 px page
PLOT_PX = (236, 150)  # the plotting area within a panel
LEFT_PX = 46  # the y-axis' tick labels


@cached
def small_multiples(family: str, f: pd.DataFrame, board: pd.DataFrame) -> Figure | None:
    """One panel per task of ``family`` plus the family-mean panel; x: conditions, y: main score (one y-scale
    for all panels). An SVG: labels are text, each point's hover text gives its value."""
    fam = f[f.family == family]
    if fam.empty:
        return None
    tasks = sorted({t for ts in fam.tasks for t in ts.split(",")})
    main = board[(board.kind == "mteb") & board.is_main & board.task.isin(tasks)]
    conds = order_conditions(set(fam.condition))
    models = sorted(set(fam.alias))
    lines = []  # (panel index, model index, subset, ys, lows, highs)
    for k, task in enumerate([*tasks, None]):
        for m, alias in enumerate(models):
            for subset in MARKERS:
                if task is None:
                    g = fam[(fam.alias == alias) & (fam.subset == subset)].set_index("condition")
                    ys = [g.mean_score.get(c) for c in conds]
                    lo, hi = [g.score_ci_low.get(c) for c in conds], [g.score_ci_high.get(c) for c in conds]
                else:
                    g = main[(main.alias == alias) & (main.task == task) & (main.subset == subset)]
                    means = g.groupby("condition").score.mean()
                    ys = [means.get(c) for c in conds]
                    lo = hi = [None] * len(conds)
                if any(_finite(y) for y in ys):
                    lines.append((k, m, subset, ys, lo, hi))
    ylo, yhi = svg.padded([v for *_, ys, lo, hi in lines for v in [*ys, *lo, *hi] if _finite(v)], include=(0.0,))
    ticks = [t for t in svg.round_ticks(ylo, yhi, 5) if ylo <= t <= yhi]
    cols, n_panels = 4, len(tasks) + 1
    below = 14 + max(svg.text_width(c, 10) for c in conds) * 0.55  # x labels at -30°
    panel_h = 22 + PLOT_PX[1] + below
    parts = [svg.text(4, 16, f"Task family '{family}': none vs instructed, per task and on average (solid: scale "
                      "view, dashed: relation view)", 12.5, font_weight="600")]
    for k, task in enumerate([*tasks, None]):
        x0, y0 = (k % cols) * PANEL_PX[0], 28 + (k // cols) * panel_h
        left, top = x0 + LEFT_PX, y0 + 22
        x = svg.Scale(-0.5, len(conds) - 0.5, left, left + PLOT_PX[0])
        y = svg.Scale(ylo, yhi, top + PLOT_PX[1], top)
        parts.append(svg.text(left + PLOT_PX[0] / 2, y0 + 14, task or f"{family}: mean over {len(tasks)} tasks "
                              "(95% CI)", 11, text_anchor="middle", font_weight="600"))
        for t in ticks:
            parts.append(svg.line(left, y(t), left + PLOT_PX[0], y(t), svg.GRID))
            parts.append(svg.text(left - 4, y(t) + 3.5, svg.tick_label(t, ticks), 9.5, text_anchor="end"))
        parts.append(svg.line(left, y(0.0), left + PLOT_PX[0], y(0.0), "#999999", 0.8))
        for i, c in enumerate(conds):
            parts.append(svg.text(0, 0, c, 10, text_anchor="end",
                                  transform=f"translate({x(i) + 3:.1f},{top + PLOT_PX[1] + 12:.1f}) rotate(-30)"))
        for _, m, subset, ys, lo, hi in [ln for ln in lines if ln[0] == k]:
            col = svg.colour(m)
            pts = [(i, float(v)) for i, v in enumerate(ys) if _finite(v)]
            dash = None if subset.startswith("scale") else "5 3"
            parts.append(svg.polyline([(x(i), y(v)) for i, v in pts], col, 1.2, stroke_dasharray=dash,
                                      opacity=0.9))
            for i, v in pts:
                if _finite(lo[i]) and _finite(hi[i]):
                    parts.append(svg.line(x(i), y(float(lo[i])), x(i), y(float(hi[i])), col, 1.0, opacity=0.7))
                tip = f"{models[m]} · {subset}, {task or 'family mean'}, {conds[i]}: {v:.4f}"
                parts.append(svg.marker(MARKERS[subset], x(i), y(v), 3.5, col, col, tip))
        parts.append(svg.rect(left, top, PLOT_PX[0], PLOT_PX[1], "none", stroke=svg.AXIS, stroke_width=0.8))
    parts.append(svg.text(12, 28 + panel_h / 2, "main score (cosine Spearman)", 10.5, text_anchor="middle",
                          transform=f"rotate(-90 12 {28 + panel_h / 2:.1f})"))
    y_legend = 28 + ((n_panels + cols - 1) // cols) * panel_h + 6
    entries = sorted({(m, subset) for _, m, subset, *_ in lines})
    for e, (m, subset) in enumerate(entries):
        lx, ly = (e % 4) * PANEL_PX[0] + LEFT_PX, y_legend + (e // 4) * 18 + 8
        dash = None if subset.startswith("scale") else "5 3"
        parts.append(svg.line(lx - 14, ly, lx + 14, ly, svg.colour(m), 1.2, stroke_dasharray=dash))
        parts.append(svg.marker(MARKERS[subset], lx, ly, 3.5, svg.colour(m), svg.colour(m)))
        parts.append(svg.text(lx + 20, ly + 4, f"{models[m]} · {subset}", 10.5))
    height = y_legend + ((len(entries) + 3) // 4) * 18 + 10
    title = f"Family '{family}': per task and mean"
    doc = svg.document(cols * PANEL_PX[0], height, title, "".join(parts), "family-multiples")
    return Figure(safe_name(f"family.{family}.svg"), title, doc.encode("utf-8"))


def _finite(v: object) -> bool:
    return v is not None and not pd.isna(v)
