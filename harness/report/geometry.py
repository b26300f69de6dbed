"""The report's *Geometry* section (``geometry.parquet``, :mod:`harness.analysis.geometry`): does an instruction do
more than add one shared direction to every embedding?

- a table per model: for blog and official (where they ran), per task subset, the shift share, anisotropy under
  ``none`` → the condition, the raw main-metric delta against ``none`` (``deltas.parquet``) and the centred deltas
  (mean removed; mean and top principal direction removed), each with its 95% interval;
- one line counting the raw deltas whose interval excludes 0 and how many of them keep an interval on the same
  side of 0 after centring;
- per model an SVG dot plot (hand-written, no matplotlib): shift share and anisotropy by condition, and raw vs
  centred Δ side by side with CI whiskers.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import geometry
from harness.prompts.conditions import BASELINE, order_conditions
from harness.report.figure_cache import cached
from harness.report.html import Figure, Section, safe_name

REFERENCES = ("blog", "official")
PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
ROW_PX, LABEL_PX, PANEL_PX, GAP_PX, TOP_PX = 16, 290, 250, 30, 46


def read(results_dir: Path) -> pd.DataFrame:
    path = results_dir / geometry.FILE
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=geometry.COLUMNS)


def _label(task: str, subset: str) -> str:
    return task if subset == "default" else f"{task} · {subset}"


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:+.3f}, {hi:+.3f}]" if pd.notna(lo) and pd.notna(hi) else "—"


def _excludes_zero(lo: float, hi: float) -> int:
    """+1 / −1: the interval lies above / below 0; 0 otherwise (or no interval)."""
    if pd.isna(lo) or pd.isna(hi):
        return 0
    return 1 if lo > 0 else -1 if hi < 0 else 0


def side_by_side(geo: pd.DataFrame, d: pd.DataFrame) -> pd.DataFrame:
    """One row per model × task subset × reference condition: shift share, anisotropy (none, condition), the raw
    main delta and the centred deltas with their intervals, and the sign each interval is on (0: includes 0)."""
    if geo.empty:
        return pd.DataFrame()
    main = d[(d.kind == "mteb") & d.is_main & (d.baseline == BASELINE)] if not d.empty else d
    keys = ["model", "alias", "task", "subset", "split", "condition"]
    rows = []
    where = ["model", "task", "subset", "split"]
    nones = {k: g.set_index("metric") for k, g in geo[geo.condition == BASELINE].groupby(where, sort=False)}
    raws = dict(iter(main.groupby([*where, "condition"], sort=False))) if not main.empty else {}
    empty_none, empty_raw = geo.iloc[0:0].set_index("metric"), main.iloc[0:0]
    for key, g in geo[geo.condition.isin(REFERENCES)].groupby(keys, sort=True):
        model, alias, task, subset, split, cond = key
        at = g.set_index("metric")
        none = nones.get((model, task, subset, split), empty_none)
        raw = raws.get((model, task, subset, split, cond), empty_raw)
        row: dict[str, object] = {"model": alias, "task": task, "subset": subset, "condition": cond}
        row["shift share"] = float(at.score.get("shift_share", np.nan))
        row["anisotropy none"] = float(none.score.get("anisotropy", np.nan))
        row["anisotropy"] = float(at.score.get("anisotropy", np.nan))
        if len(raw) and bool(raw.iloc[0].identical_inputs):
            continue  # the same strings as none (e.g. official of a model without one): no effect to centre
        if len(raw):
            r = raw.iloc[0]
            row |= {"raw Δ": float(r.delta), "raw lo": float(r.ci_low), "raw hi": float(r.ci_high)}
        else:
            row |= {"raw Δ": np.nan, "raw lo": np.nan, "raw hi": np.nan}
        for view, name in (("centred", "centred"), ("centred_pc1", "centred−PC1")):
            metric = [m for m in at.index if m.startswith(view + "_") and (view == "centred_pc1"
                                                                           or not m.startswith("centred_pc1_"))]
            if metric:
                c = at.loc[metric[0]]
                row |= {f"{name} Δ": float(c.delta), f"{name} lo": float(c.delta_ci_low),
                        f"{name} hi": float(c.delta_ci_high)}
            else:
                row |= {f"{name} Δ": np.nan, f"{name} lo": np.nan, f"{name} hi": np.nan}
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    out = pd.DataFrame(rows)
    for name in ("raw", "centred", "centred−PC1"):
        out[f"{name} sign"] = [_excludes_zero(lo, hi) for lo, hi in zip(out[f"{name} lo"], out[f"{name} hi"],
                                                                        strict=True)]
    return out


def survival_line(sbs: pd.DataFrame) -> str:
    """How many raw deltas with an interval off 0 keep it (same side) after centring, per model × condition
    (conditions that feed none's strings are left out by :func:`side_by_side`)."""
    parts = []
    for (alias, cond), g in sbs.groupby(["model", "condition"], sort=True):
        sig = g[g["raw sign"] != 0]
        keep = int((sig["centred sign"] == sig["raw sign"]).sum())
        keep_pc = int((sig["centred−PC1 sign"] == sig["raw sign"]).sum())
        new = int(((g["raw sign"] == 0) & (g["centred sign"] != 0)).sum())
        parts.append(f"{alias} {cond}: {len(sig)} of {len(g)} raw deltas have a 95% CI off 0; {keep} keep it after "
                     f"centring, {keep_pc} after also removing PC1; {new} appear only after centring")
    return "; ".join(parts) + "."


def _table(sbs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": sbs["model"], "task": sbs["task"], "subset": sbs["subset"], "condition": sbs["condition"],
        "shift share": [f"{v:.3f}" if pd.notna(v) else "—" for v in sbs["shift share"]],
        "anisotropy none → cond.": [f"{a:.3f} → {b:.3f}" for a, b in zip(sbs["anisotropy none"], sbs["anisotropy"],
                                                                          strict=True)],
        "raw Δ [95% CI]": [f"{v:+.3f} {_ci(lo, hi)}" for v, lo, hi in zip(sbs["raw Δ"], sbs["raw lo"],
                                                                            sbs["raw hi"], strict=True)],
        "centred Δ [95% CI]": [f"{v:+.3f} {_ci(lo, hi)}" if pd.notna(v) else "—" for v, lo, hi in zip(
            sbs["centred Δ"], sbs["centred lo"], sbs["centred hi"], strict=True)],
        "centred−PC1 Δ [95% CI]": [f"{v:+.3f} {_ci(lo, hi)}" if pd.notna(v) else "—" for v, lo, hi in zip(
            sbs["centred−PC1 Δ"], sbs["centred−PC1 lo"], sbs["centred−PC1 hi"], strict=True)],
    })


# -- the figure -------------------------------------------------------------------------------------------------
def _x(v: float, lo: float, hi: float, left: float) -> float:
    return left + (min(max(v, lo), hi) - lo) / (hi - lo) * PANEL_PX if hi > lo else left


@cached
def figure(alias: str, geo: pd.DataFrame, sbs: pd.DataFrame) -> Figure | None:
    """One model's SVG: rows = task subsets; panels: shift share by condition, anisotropy by condition, and raw
    vs centred Δ (blog, else official) with 95% CI whiskers."""
    g = geo[geo.alias == alias]
    if g.empty:
        return None
    labels = sorted({(r.task, r.subset) for r in g.itertuples()})
    conds = order_conditions(list(set(g.condition)))
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(conds)}
    s = sbs[sbs.model == alias] if not sbs.empty else sbs
    ref = next((c for c in REFERENCES if not s.empty and (s.condition == c).any()), None)
    height = TOP_PX + ROW_PX * len(labels) + 40
    width = LABEL_PX + 3 * (PANEL_PX + GAP_PX)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="10">']
    delta_vals = [v for c in ("raw", "centred") for k in ("lo", "hi") for v in (s[f"{c} {k}"] if not s.empty
                                                                               else []) if pd.notna(v)]
    span = max([abs(v) for v in delta_vals] + [0.05])
    panels = [("shift share ‖mean Δ‖²/mean ‖Δ‖²", 0.0, 1.0), ("anisotropy (mean pairwise cosine)", -0.2, 1.0),
              (f"{ref or 'blog'} − none: raw (●) vs centred (◆)", -span, span)]
    for pi, (title, lo, hi) in enumerate(panels):
        left = LABEL_PX + pi * (PANEL_PX + GAP_PX)
        out.append(f'<text x="{left}" y="14" font-weight="bold">{html.escape(title)}</text>')
        out.append(f'<rect x="{left}" y="{TOP_PX - 8}" width="{PANEL_PX}" height="{ROW_PX * len(labels)}" '
                   f'fill="none" stroke="#bbb"/>')
        for t in np.linspace(lo, hi, 5):
            x = _x(t, lo, hi, left)
            out.append(f'<line x1="{x:.1f}" y1="{TOP_PX - 8}" x2="{x:.1f}" y2="{TOP_PX - 8 + ROW_PX * len(labels)}" '
                       f'stroke="{"#888" if abs(t) < 1e-12 else "#eee"}"/>')
            out.append(f'<text x="{x:.1f}" y="{TOP_PX + ROW_PX * len(labels) + 4}" text-anchor="middle">'
                       f'{t:.2f}</text>')
    for yi, (task, subset) in enumerate(labels):
        y = TOP_PX + yi * ROW_PX
        out.append(f'<text x="{LABEL_PX - 6}" y="{y + 3}" text-anchor="end">{html.escape(_label(task, subset))}'
                   f'</text>')
        at = g[(g.task == task) & (g.subset == subset)]
        for pi, metric in enumerate(("shift_share", "anisotropy")):
            _, lo, hi = panels[pi]
            left = LABEL_PX + pi * (PANEL_PX + GAP_PX)
            for r in at[at.metric == metric].itertuples():
                x = _x(r.score, lo, hi, left)
                out.append(f'<circle cx="{x:.1f}" cy="{y}" r="3" fill="{colour[r.condition]}">'
                           f'<title>{html.escape(r.condition)}: {r.score:.3f}</title></circle>')
        if ref is not None:
            left = LABEL_PX + 2 * (PANEL_PX + GAP_PX)
            hit = s[(s.task == task) & (s.subset == subset) & (s.condition == ref)]
            for _, r in hit.iterrows():
                for name, dy, mark in (("raw", -3, "circle"), ("centred", 3, "diamond")):
                    v, lo_, hi_ = r[f"{name} Δ"], r[f"{name} lo"], r[f"{name} hi"]
                    if pd.isna(v):
                        continue
                    x = _x(v, -span, span, left)
                    if pd.notna(lo_) and pd.notna(hi_):
                        out.append(f'<line x1="{_x(lo_, -span, span, left):.1f}" y1="{y + dy}" '
                                   f'x2="{_x(hi_, -span, span, left):.1f}" y2="{y + dy}" stroke="#444"/>')
                    tip = f"<title>{name} Δ {v:+.3f} {_ci(lo_, hi_)}</title>"
                    if mark == "circle":
                        out.append(f'<circle cx="{x:.1f}" cy="{y + dy}" r="3" fill="#222">{tip}</circle>')
                    else:
                        out.append(f'<path d="M{x:.1f},{y + dy - 3.5} l3.5,3.5 l-3.5,3.5 l-3.5,-3.5 z" '
                                   f'fill="#d95f02">{tip}</path>')
    lx = LABEL_PX
    for c in conds:
        out.append(f'<circle cx="{lx}" cy="30" r="4" fill="{colour[c]}"/><text x="{lx + 7}" y="33">'
                   f'{html.escape(c)}</text>')
        lx += 14 + 7 * len(c)
    out.append("</svg>")
    return Figure(f"geometry__{safe_name(alias)}.svg", f"{alias}: geometry by condition", "\n".join(out).encode())


def section(results_dir: Path, d: pd.DataFrame) -> tuple[Section, list[Figure]]:
    sec = Section("Geometry: shared shift, anisotropy and centred scores")
    geo = read(results_dir)
    if geo.empty:
        sec.para("No geometry rows (the cells' vectors are read from the embedding cache: run aggregate on the "
                 "machine that ran them, with none and an instructed condition).")
        return sec, []
    sec.para("Shift share = ‖mean Δ‖² / mean ‖Δ‖² of the per-text change against none (1: the instruction adds one "
             "vector to every text); anisotropy = mean cosine between distinct texts; centred Δ = the main metric "
             "recomputed after removing each condition's own mean embedding (and, second view, also its top "
             "principal direction), minus none's centred the same way. Intervals: 95%, the task's resampling unit.")
    sbs = side_by_side(geo, d)
    figs: list[Figure] = []
    if not sbs.empty:
        sec.para(survival_line(sbs))
        sec.table(_table(sbs), nowrap=("raw Δ [95% CI]", "centred Δ [95% CI]", "centred−PC1 Δ [95% CI]"))
    for alias in sorted(set(geo.alias)):
        fig = figure(alias, geo, sbs)
        if fig is not None:
            figs.append(fig)
            sec.figure(fig)
    return sec, figs


def robust_section(results_dir: Path) -> Section:
    """The prompt-robust score (``robust_score.parquet``): per model × subset, mean/worst/best over the paraphrase
    variants, blog's and official's percentile among them, and the model's rank by mean and by blog."""
    from harness.analysis import robust_score

    sec = Section("Prompt-robust score (over the paraphrases)")
    path = results_dir / robust_score.FILE
    t = pd.read_parquet(path) if path.is_file() else pd.DataFrame()
    if t.empty:
        sec.para("No variant set ran (e.g. --conditions paraphrase): no prompt-robust score.")
        return sec
    sec.para("Mean, worst and best main score over the variants; blog's and official's mid-rank percentile among "
             "them (0: below every variant, 100: above every one); the model's rank on the subset by the mean and "
             "by blog alone (1 = best).")

    def pct(v: float) -> str:
        return "—" if pd.isna(v) else f"{v:.0f}"

    sec.table(pd.DataFrame({
        "model": t.alias, "task": t.task, "subset": t.subset, "variants": t.n_variants,
        "mean": t.mean_score.map("{:.3f}".format), "worst": t.worst_score.map("{:.3f}".format),
        "best": t.best_score.map("{:.3f}".format), "blog pct": t.blog_percentile.map(pct),
        "official pct": t.official_percentile.map(pct), "rank by mean": t.rank_by_mean.astype("string"),
        "rank by blog": t.rank_by_blog.astype("string")}))
    return sec
