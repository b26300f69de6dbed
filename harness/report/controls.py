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
from harness.report.figure_cache import cached
from harness.report.html import Figure, Section, png_bytes, pyplot, safe_name
from harness.results.schema import row_identical, row_significant

ALPHA = 0.05
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
    content row) as grouped bars with 95% CI whiskers, and a black diamond at X − none itself."""
    eff = dec.main_effects(d)
    if eff.empty:
        return []
    totals = d[(d.kind == "mteb") & d.is_main & (d.baseline == BASELINE)]
    figures = []
    for alias, g in eff.groupby("alias", sort=True):
        instructions = [c for c in ("blog", "official") if ((g.effect == dec.CONTENT) & (g.condition == c)).any()]
        if not instructions:
            continue
        plt = pyplot()  # only where there is a chart to draw (its import is ≈ 0.2 s)
        labels = sorted({(r.task, r.subset) for r in g[g.effect == dec.CONTENT].itertuples()})
        fig, axes = plt.subplots(1, len(instructions), figsize=(6.4 * len(instructions), 0.5 * len(labels) + 1.8),
                                 squeeze=False)
        for ax, instr in zip(axes[0], instructions, strict=True):
            for yi, (task, subset) in enumerate(labels):
                at = g[(g.task == task) & (g.subset == subset)]
                parts = [at[at.effect == dec.PREFIX], at[at.effect == dec.ANY_INSTRUCTION],
                         at[(at.effect == dec.CONTENT) & (at.condition == instr)]]
                for pi, (part, rows) in enumerate(zip(dec.PARTS, parts, strict=True)):
                    if rows.empty:
                        continue
                    x = rows.iloc[0]
                    y = yi + (pi - 1) * 0.26
                    ax.barh(y, x.delta, height=0.24, color=PART_COLOURS[part], label=PART_NAMES[part],
                            edgecolor="0.2" if row_significant(x, ALPHA) else "none")
                    if pd.notna(x.ci_low) and not row_identical(x):
                        ax.errorbar(x.delta, y, xerr=[[x.delta - x.ci_low], [x.ci_high - x.delta]], fmt="none",
                                    ecolor="0.25", elinewidth=1, capsize=2)
                total = totals[(totals.alias == alias) & (totals.task == task) & (totals.subset == subset)
                               & (totals.condition == instr)]
                if len(total):
                    ax.plot(total.iloc[0].delta, yi, "D", color="black", markersize=5, label=f"{instr} − none")
            ax.axvline(0, color="0.3", linewidth=0.8)
            ax.set_yticks(range(len(labels)))
            ax.set_yticklabels([_label(t, s) for t, s in labels], fontsize=8)
            ax.invert_yaxis()
            ax.grid(axis="x", alpha=0.3)
            ax.set_xlabel("Δ main score")
            ax.set_title(f"{alias}: {instr} − none = prefix + any instruction + content", fontsize=10)
            handles, names = ax.get_legend_handles_labels()
            uniq = dict(zip(names, handles, strict=True))
            ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="best")
        fig.suptitle("Effect decomposition with 95% CIs (outlined: significant after Holm within the model's "
                     "parts)", fontsize=11)
        fig.tight_layout()
        figures.append(Figure(f"decomposition__{safe_name(str(alias))}.png", f"{alias}: effect decomposition",
                              png_bytes(fig)))
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
    """Per model: each task × subset's main score under every paraphrase variant (grey dots), none (×) and blog
    (diamond): is the spread across wordings wider than the step from none to the instruction?"""
    main = board[(board.kind == "mteb") & board.is_main]
    plt = pyplot()
    figures = []
    for alias, g in main.groupby("alias", sort=True):
        sets = variant_sets(set(g.condition))
        if not sets:
            continue
        variants = [c for v in sets.values() for c in v]
        labels = sorted({(r.task, r.subset) for r in g[g.condition.isin(variants)].itertuples()})
        fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(labels) + 1.6))
        for yi, (task, subset) in enumerate(labels):
            at = g[(g.task == task) & (g.subset == subset)].set_index("condition").score
            xs = [at[c] for c in variants if c in at.index]
            ax.plot([min(xs), max(xs)], [yi, yi], color="0.75", linewidth=3, solid_capstyle="round",
                    label="range across paraphrases")
            ax.plot(xs, [yi] * len(xs), "o", color="0.45", markersize=4, label="a paraphrase")
            if BASELINE in at.index:
                ax.plot(at[BASELINE], yi, "x", color="black", markersize=7, label=BASELINE)
            if REFERENCE in at.index:
                ax.plot(at[REFERENCE], yi, "D", color="#d95f02", markersize=6, label=REFERENCE)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels([_label(t, s) for t, s in labels], fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel("main score")
        handles, names = ax.get_legend_handles_labels()
        uniq = dict(zip(names, handles, strict=True))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="best")
        ax.set_title(f"{alias}: score under each paraphrase, none and {REFERENCE}", fontsize=10)
        fig.tight_layout()
        figures.append(Figure(f"paraphrase__{safe_name(str(alias))}.png", f"{alias}: paraphrase spread",
                              png_bytes(fig)))
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
    """Per task (a panel per subset): each model's rank under each condition, one line per model."""
    plt = pyplot()
    figures = []
    for task, g in ranked.groupby("task", sort=True):
        panels = sorted(set(zip(g.subset, g.split, strict=True)))
        fig, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 0.55 * g.condition.nunique() + 2.5) * len(panels),
                                                          3.4), squeeze=False)
        colours = plt.get_cmap("tab10")
        models = sorted(set(g.alias))
        for ax, (subset, split) in zip(axes[0], panels, strict=True):
            p = g[(g.subset == subset) & (g.split == split)]
            conds = sorted(set(p.condition), key=condition_order)
            for mi, alias in enumerate(models):
                m = p[p.alias == alias].set_index("condition")["rank"]
                xs = [i for i, c in enumerate(conds) if c in m.index]
                ax.plot(xs, [m[conds[i]] for i in xs], "o-", color=colours(mi % 10), label=alias, linewidth=1.8)
            n = int(p.n_models.max())
            ax.set_yticks(range(1, n + 1))
            ax.set_ylim(n + 0.5, 0.5)
            ax.set_xticks(range(len(conds)))
            ax.set_xticklabels(conds, rotation=45, ha="right", fontsize=8)
            ax.set_ylabel("rank (1 = best)")
            ax.grid(alpha=0.3)
            ax.set_title(f"{task} · {subset}" if subset != "default" else task, fontsize=10)
        axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        figures.append(Figure(f"ranks__{safe_name(str(task))}.png", f"{task}: rank per condition", png_bytes(fig)))
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
