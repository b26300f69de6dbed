"""The report's control-condition sections, drawn from ``deltas.parquet`` (effect rows), ``paraphrase.parquet``,
``ranks.parquet`` and ``rank_agreement.parquet``:

- *Effect decomposition*: the table of prefix / any-instruction / content / mismatch effects with 95% CIs, and per
  model a grouped bar chart of the three parts of ``blog − none`` (and of ``official − none`` where the model has
  an official instruction) with CI whiskers;
- *Paraphrase sensitivity*: the spread table, and per model a strip chart of every variant's score beside none
  and blog;
- *Rankings across instruction sets*: per task a bump chart (rank per condition, one line per model), Kendall τ
  against none with CIs, and each model's best and worst rank under a paraphrase choice.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis import decomposition as dec
from harness.analysis import rankings
from harness.analysis.paraphrase import REFERENCE, variant_sets
from harness.analysis.tables import fmt_p
from harness.prompts.conditions import BASELINE, condition_order
from harness.report import svg
from harness.report.figure_cache import cached
from harness.report.html import Figure, Section, safe_name
from harness.results.schema import row_identical, row_significant

ALPHA = 0.05
DECOMPOSITION_PX = 560  # the plotting width of a decomposition panel
PARAPHRASE_PX = 560  # the plotting width of a paraphrase chart
BUMP_PAGE_PX = 1040  # the bump charts' panels per row: as many as fit beside the legend on the 1180 px page
PART_COLOURS = {dec.PREFIX: "#8da0cb", dec.ANY_INSTRUCTION: "#fc8d62", dec.CONTENT: "#66c2a5"}
PART_NAMES = {dec.PREFIX: "prefix (format − none)", dec.ANY_INSTRUCTION: "any instruction (placebo − format)",
              dec.CONTENT: "content (X − placebo)"}


def _label(task: str, subset: str) -> str:
    return task if subset == "default" else f"{task} · {subset}"


# -- decomposition ----------------------------------------------------------------------------------------------
def decomposition_rows(d: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Every decomposition row (main metric): effect, Δ, CI, p, p Holm; row classes mark Holm p < 0.05."""
    rows, classes = [], []
    for r in dec.main_effects(d).itertuples():
        sig = row_significant(r, ALPHA)
        ci = "same inputs" if row_identical(r) else (
            f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "—")
        rows.append({"model": r.alias, "task": r.task, "subset": r.subset, "effect": r.effect,
                     "condition − baseline": f"{r.condition} − {r.baseline}", "Δ": f"{r.delta:+.4f}", "95% CI": ci,
                     "p": fmt_p(r.p_value), "p Holm": fmt_p(r.p_holm) + (" *" if sig else "")})
        classes.append(("sig-up" if r.delta > 0 else "sig-down") if sig else "")
    return pd.DataFrame(rows), classes


@cached
def decomposition_charts(d: pd.DataFrame) -> list[Figure]:
    """Per model: for each task × subset, the three parts of X − none (X = blog, and official where it has a
    content row) as grouped bars with 95% CI whiskers, and a black diamond at X − none itself; one panel per X,
    stacked on one x-axis. An SVG per model (labels are text; hover text gives each part's Δ and CI)."""
    eff = dec.main_effects(d)
    if eff.empty:
        return []
    totals = d[(d.kind == "mteb") & d.is_main & (d.baseline == BASELINE)]
    total_at = {(r.alias, r.task, r.subset, r.condition): r.delta for r in totals.itertuples()}
    figures = []
    for alias, g in eff.groupby("alias", sort=True):
        instructions = [c for c in ("blog", "official") if ((g.effect == dec.CONTENT) & (g.condition == c)).any()]
        if not instructions:
            continue
        labels = sorted({(r.task, r.subset) for r in g[g.effect == dec.CONTENT].itertuples()})
        part_at = {(r.task, r.subset, r.effect, r.condition if r.effect == dec.CONTENT else None): r
                   for r in g.itertuples() if r.effect in dec.PARTS}
        drawn = [r for r in part_at.values() if (r.task, r.subset) in set(labels)]
        values = [v for r in drawn for v in (r.delta, r.ci_low, r.ci_high)]
        values += [total_at.get((alias, t, s_, i)) for t, s_ in labels for i in instructions]
        xlo, xhi = svg.padded([v for v in values if v is not None and pd.notna(v)], include=(0.0,))
        ticks = [t for t in svg.round_ticks(xlo, xhi) if xlo <= t <= xhi]
        names = [[_label(t, s_)] for t, s_ in labels]
        label_w = 12 + max(svg.text_width(n[0], 11) for n in names)
        x = svg.Scale(xlo, xhi, label_w, label_w + DECOMPOSITION_PX)
        row_h, parts, y = 3 * 11 + 12, [], 28.0
        parts.append(svg.text(4, 16, "Effect decomposition with 95% CIs (outlined: significant after Holm within "
                              "the model's parts)", 12.5, font_weight="600"))
        for instr in instructions:
            parts.append(svg.text(label_w, y + 14, f"{alias}: {instr} − none = prefix + any instruction + content",
                                  12, font_weight="600"))
            top = y + 34
            frame, bottom = svg.row_frame(names, x, ticks, top, row_h)
            parts.append(frame)
            for yi, (task, subset) in enumerate(labels):
                for pi, part in enumerate(dec.PARTS):
                    r = part_at.get((task, subset, part, instr if part == dec.CONTENT else None))
                    if r is None:
                        continue
                    cy = top + (yi + 0.5) * row_h + (pi - 1) * 11
                    x0, x1 = sorted((x(0.0), x(r.delta)))
                    sig = row_significant(r, ALPHA)
                    ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "no CI"
                    tip = f"{PART_NAMES[part]}, {_label(task, subset)}: Δ {r.delta:+.4f} {ci}" + (
                        ", significant" if sig else "")
                    parts.append(svg.rect(x0, cy - 4.5, max(x1 - x0, 0.5), 9, PART_COLOURS[part], tip,
                                          stroke="#333333" if sig else None))
                    if pd.notna(r.ci_low) and not row_identical(r):
                        parts.append(svg.whisker(x, r.ci_low, r.ci_high, cy, "#404040", cap=2.5, width=1.0))
                total = total_at.get((alias, task, subset, instr))
                if total is not None and pd.notna(total):
                    parts.append(svg.marker("D", x(total), top + (yi + 0.5) * row_h, 4.5, "black", "black",
                                            f"{instr} − none, {_label(task, subset)}: Δ {total:+.4f}"))
            key, key_h = svg.legend([(svg.rect(-6, -4.5, 12, 9, PART_COLOURS[p_]), PART_NAMES[p_])
                                     for p_ in dec.PARTS] + [(svg.marker("D", 0, 0, 4.5, "black", "black"),
                                                              f"{instr} − none")],
                                    label_w + DECOMPOSITION_PX + 6, top + 10)
            parts.append(key)
            y = max(bottom, top + key_h) + 12
        parts.append(svg.value_axis(x, ticks, y, "Δ main score"))
        legend_w = 34 + max(svg.text_width(n, 11) for n in PART_NAMES.values())
        doc = svg.document(label_w + DECOMPOSITION_PX + legend_w, y + 34, f"{alias}: effect decomposition",
                           "".join(parts), "decomposition-chart")
        figures.append(Figure(f"decomposition__{safe_name(str(alias))}.svg", f"{alias}: effect decomposition",
                              doc.encode("utf-8")))
    return figures


def decomposition_section(d: pd.DataFrame) -> tuple[Section, list[Figure]]:
    sec = Section("Effect decomposition")
    sec.para("Does the content of an instruction matter? Each delta of an instructed condition X splits into three "
             "parts that add up exactly: X − none = (format − none) + (placebo − format) + (X − placebo): the "
             "model's format prefix, the presence of any fluent instruction (a placebo about film reviews), and "
             "what X's instruction says. Mismatch = mismatched − none: an instruction written for another kind of "
             "task. 95% CI: paired bootstrap over items; p: paired permutation test; p Holm: within each model's "
             "decomposition parts (one family per model; its size in deltas.parquet's family_size); * and colour: "
             "significant at 0.05 beyond the Monte-Carlo error of p. 'same inputs': both conditions fed the model "
             "the same strings (e.g. format of a model without format prefixes).")
    table, classes = decomposition_rows(d)
    if table.empty:
        sec.para("No decomposition: run none, format, placebo and an instructed condition (e.g. blog) together.")
        return sec, []
    wide = dec.wide(d)
    sec.table(wide)
    figures = decomposition_charts(d)
    for fig in figures:
        sec.figure(fig)
    sec.html.append("<details><summary>Every decomposition row with p-values</summary>")
    sec.table(table, classes=classes)
    sec.html.append("</details>")
    return sec, figures


# -- paraphrase sensitivity -------------------------------------------------------------------------------------
def paraphrase_rows(para: pd.DataFrame) -> pd.DataFrame:
    def ci(lo: float, hi: float) -> str:
        return f"[{lo:.4f}, {hi:.4f}]" if pd.notna(lo) else "—"

    rows = []
    for r in para.sort_values(["alias", "task", "subset", "variant_set"]).itertuples():
        rows.append({"model": r.alias, "task": r.task, "subset": r.subset, "variants": r.n_variants,
                     "mean": f"{r.mean_score:.4f}", "range": f"{r.range:.4f}", "SD": f"{r.sd:.4f}",
                     "p (spread > 0)": "—" if pd.isna(r.spread_p_value) else f"{r.spread_p_value:.4f}",
                     "best": f"{r.best_variant} ({r.best_score:.4f})",
                     "worst": f"{r.worst_variant} ({r.worst_score:.4f})",
                     f"{REFERENCE} − none": "—" if pd.isna(r.reference_delta) else
                     f"{r.reference_delta:+.4f} {ci(r.reference_ci_low, r.reference_ci_high)}",
                     "mean − placebo": "—" if pd.isna(r.content_mean) else
                     f"{r.content_mean:+.4f} {ci(r.content_mean_ci_low, r.content_mean_ci_high)}"})
    return pd.DataFrame(rows)


@cached
def paraphrase_charts(board: pd.DataFrame) -> list[Figure]:
    """Per model: each task × subset's main score under every paraphrase variant (grey dots on their range),
    none (×) and blog (diamond): is the spread across wordings wider than the step from none to the instruction?
    An SVG per model (hover text names each variant and its score)."""
    main = board[(board.kind == "mteb") & board.is_main]
    figures = []
    for alias, g in main.groupby("alias", sort=True):
        sets = variant_sets(set(g.condition))
        if not sets:
            continue
        variants = [c for v in sets.values() for c in v]
        labels = sorted({(r.task, r.subset) for r in g[g.condition.isin(variants)].itertuples()})
        score = {(r.task, r.subset, r.condition): float(r.score) for r in g.itertuples()}
        shown = [score[(t, s_, c)] for t, s_ in labels for c in [*variants, BASELINE, REFERENCE]
                 if (t, s_, c) in score]
        xlo, xhi = svg.padded(shown)
        ticks = [t for t in svg.round_ticks(xlo, xhi) if xlo <= t <= xhi]
        names = [[_label(t, s_)] for t, s_ in labels]
        label_w = 12 + max(svg.text_width(n[0], 11) for n in names)
        x = svg.Scale(xlo, xhi, label_w, label_w + PARAPHRASE_PX)
        row_h, top = 26.0, 56.0
        parts = [svg.text(label_w, 16, f"{alias}: score under each paraphrase, none and {REFERENCE}", 12,
                          font_weight="600")]
        frame, bottom = svg.row_frame(names, x, ticks, top, row_h, zero=False)
        parts.append(frame)
        for yi, (task, subset) in enumerate(labels):
            cy = top + (yi + 0.5) * row_h
            xs = {c: score[(task, subset, c)] for c in variants if (task, subset, c) in score}
            if xs:
                parts.append(svg.line(x(min(xs.values())), cy, x(max(xs.values())), cy, "#bfbfbf", 6,
                                      stroke_linecap="round"))
            parts += [svg.marker("o", x(v), cy, 3, "#737373", "#737373", f"{c}, {_label(task, subset)}: {v:.4f}")
                      for c, v in xs.items()]
            for cond, shape, col in ((BASELINE, "x", "black"), (REFERENCE, "D", "#d95f02")):
                if (task, subset, cond) in score:
                    v = score[(task, subset, cond)]
                    parts.append(svg.marker(shape, x(v), cy, 5, col, col, f"{cond}, {_label(task, subset)}: {v:.4f}"))
        key, key_h = svg.legend([(svg.line(-8, 0, 8, 0, "#bfbfbf", 6, stroke_linecap="round"),
                                  "range across paraphrases"),
                                 (svg.marker("o", 0, 0, 3, "#737373", "#737373"), "a paraphrase"),
                                 (svg.marker("x", 0, 0, 5, "black", "black"), BASELINE),
                                 (svg.marker("D", 0, 0, 5, "#d95f02", "#d95f02"), REFERENCE)],
                                label_w + PARAPHRASE_PX + 6, top + 10)
        parts += [key, svg.value_axis(x, ticks, max(bottom, top + key_h) + 4, "main score")]
        doc = svg.document(label_w + PARAPHRASE_PX + 40 + svg.text_width("range across paraphrases", 11),
                           max(bottom, top + key_h) + 38, f"{alias}: paraphrase spread", "".join(parts),
                           "paraphrase-chart")
        figures.append(Figure(f"paraphrase__{safe_name(str(alias))}.svg", f"{alias}: paraphrase spread",
                              doc.encode("utf-8")))
    return figures


def paraphrase_section(board: pd.DataFrame, para: pd.DataFrame) -> tuple[Section, list[Figure]]:
    sec = Section("Paraphrase sensitivity")
    sec.para("The same instruction in other words: each paraphrase variant (paraphrase#1 …) is a condition of its "
             "own. Range = best − worst variant and SD across variants, shown without an interval: when the "
             "variants are nearly equal the true spread is 0, where no bootstrap interval is valid. 'p (spread > 0)' "
             "tests whether the variants differ more than permuting each item's predictions among them makes them "
             f"differ (p ≥ 1/(1 + draws)). Compare the range with the delta the paraphrased instruction produced "
             f"in the first place ({REFERENCE} − none, with the same 95% interval as in the deltas table).")
    if para.empty:
        sec.para("No paraphrase spreads: run at least two variants (e.g. --conditions none,blog,placebo,paraphrase).")
        return sec, []
    sec.table(paraphrase_rows(para))
    figures = paraphrase_charts(board)
    for fig in figures:
        sec.figure(fig)
    return sec, figures


# -- rankings -----------------------------------------------------------------------------------------------------
@cached
def bump_charts(ranked: pd.DataFrame) -> list[Figure]:
    """Per task (a panel per subset): each model's rank under each condition, one line per model. An SVG per
    task (hover text gives each rank)."""
    figures = []
    for task, g in ranked.groupby("task", sort=True):
        panels = sorted(set(zip(g.subset, g.split, strict=True)))
        models = sorted(set(g.alias))
        rank = {(r.subset, r.split, r.alias, r.condition): int(r["rank"]) for _, r in g.iterrows()}
        n = int(g.n_models.max())
        conds_of = {p_: sorted(set(g[(g.subset == p_[0]) & (g.split == p_[1])].condition), key=condition_order)
                    for p_ in panels}
        below = 16 + max(svg.text_width(c, 10) for cs in conds_of.values() for c in cs) * 0.72  # labels at -45°
        plot_w = max(200.0, 30.0 * max(len(cs) for cs in conds_of.values()))
        plot_h = 26.0 * n
        panel_w, panel_h = 40 + plot_w + 16, 24 + plot_h + below
        cols = max(1, int(BUMP_PAGE_PX // panel_w))
        parts = []
        for k, (subset, split) in enumerate(panels):
            conds = conds_of[(subset, split)]
            x0, y0 = (k % cols) * panel_w, 28 + (k // cols) * panel_h
            left, top = x0 + 40, y0 + 24
            x = svg.Scale(-0.5, len(conds) - 0.5, left, left + plot_w)
            y = svg.Scale(0.5, n + 0.5, top, top + plot_h)
            parts.append(svg.text(left + plot_w / 2, y0 + 16, f"{task} · {subset}" if subset != "default" else task,
                                  11, text_anchor="middle", font_weight="600"))
            for r_ in range(1, n + 1):
                parts.append(svg.line(left, y(r_), left + plot_w, y(r_), svg.GRID))
                parts.append(svg.text(left - 6, y(r_) + 4, str(r_), 10, text_anchor="end"))
            for i, c in enumerate(conds):
                parts.append(svg.text(0, 0, c, 10, text_anchor="end",
                                      transform=f"translate({x(i) + 3:.1f},{top + plot_h + 12:.1f}) rotate(-45)"))
            for mi, alias in enumerate(models):
                pts = [(i, rank[(subset, split, alias, c)]) for i, c in enumerate(conds)
                       if (subset, split, alias, c) in rank]
                col = svg.colour(mi)
                parts.append(svg.polyline([(x(i), y(v)) for i, v in pts], col, 1.8))
                parts += [svg.marker("o", x(i), y(v), 3.5, col, col, f"{alias}, {conds[i]}: rank {v} of {n}")
                          for i, v in pts]
            parts.append(svg.rect(left, top, plot_w, plot_h, "none", stroke=svg.AXIS, stroke_width=0.8))
        parts.append(svg.text(12, 28 + panel_h / 2, "rank (1 = best)", 10.5, text_anchor="middle",
                              transform=f"rotate(-90 12 {28 + panel_h / 2:.1f})"))
        width = min(len(panels), cols) * panel_w
        key, key_h = svg.legend([(svg.marker("o", 0, 0, 3.5, svg.colour(mi), svg.colour(mi)), a)
                                 for mi, a in enumerate(models)], width + 4, 40)
        parts.append(key)
        rows = (len(panels) + cols - 1) // cols
        doc = svg.document(width + 40 + max(svg.text_width(a, 11) for a in models), max(28 + rows * panel_h,
                           40 + key_h) + 8, f"{task}: rank per condition", "".join(parts), "bump-chart")
        figures.append(Figure(f"ranks__{safe_name(str(task))}.svg", f"{task}: rank per condition",
                              doc.encode("utf-8")))
    return figures


def rankings_section(ranked: pd.DataFrame, agree: pd.DataFrame) -> tuple[Section, list[Figure]]:
    sec = Section("Rankings across instruction sets")
    sec.para(f"For every task with at least {rankings.MIN_MODELS} models: each model's rank under each condition "
             "(bump chart), Kendall τ-b between the ranking under none and under each other condition (95% CI from "
             f"{rankings.MIN_MODELS_CI} models: bootstrap over items, resampled jointly across models and conditions; "
             "with fewer models τ takes a few values, so the table lists how many resamples took each), and each "
             "model's best and "
             "worst rank under a paraphrase choice: one variant for all models, chosen for or against this model "
             "('shared'), or each model's own variant ('own': this model at its best against every other at its "
             "worst, and the reverse).")
    if ranked.empty:
        sec.para(f"No rankings: a task needs at least {rankings.MIN_MODELS} models.")
        return sec, []
    figures = bump_charts(ranked)
    for fig in figures:
        sec.figure(fig)
    if not agree.empty:
        rows = [{"task": r.task, "subset": r.subset, "condition": r.condition, "models": r.n_models,
                 "Kendall τ vs none": f"{r.kendall_tau:+.3f}",
                 "95% CI (or resamples per value)": f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if pd.notna(r.ci_low)
                 else (r.tau_values or "—")}
                for r in sorted(agree.itertuples(), key=lambda r: (r.task, r.subset, condition_order(r.condition)))]
        sec.table(pd.DataFrame(rows))
    ranges = rankings.rank_range(ranked)
    if not ranges.empty:
        sec.table(ranges.assign(**{"rank under none": ranges.rank_none})[
            ["task", "subset", "alias", "variant_set", "rank under none", "best_shared", "worst_shared",
             "best_own", "worst_own"]].rename(columns={"alias": "model"}))
    return sec, figures
