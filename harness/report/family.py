"""The report's task-family section: the family table and a small-multiples figure — one panel per task of the
family (the main score under none and under every instructed condition, one line per model and subset view) and a
last panel with the family mean and its word-level 95% intervals (from ``family.parquet``)."""

from __future__ import annotations

import pandas as pd

from harness.prompts.conditions import order_conditions
from harness.report.figure_cache import cached
from harness.report.html import Figure, png_bytes, pyplot, safe_name

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


@cached
def small_multiples(family: str, f: pd.DataFrame, board: pd.DataFrame) -> Figure | None:
    """One panel per task of ``family`` plus the family-mean panel; x: conditions, y: main score."""
    fam = f[f.family == family]
    if fam.empty:
        return None
    tasks = sorted({t for ts in fam.tasks for t in ts.split(",")})
    main = board[(board.kind == "mteb") & board.is_main & board.task.isin(tasks)]
    conds = order_conditions(set(fam.condition))
    plt = pyplot()
    cols = 4
    n_panels = len(tasks) + 1
    rows = (n_panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False, sharey=True)
    colours = plt.get_cmap("tab10")
    models = sorted(set(fam.alias))
    for ax in axes.ravel():
        ax.set_visible(False)
    for k, task in enumerate([*tasks, None]):
        ax = axes.ravel()[k]
        ax.set_visible(True)
        for m, alias in enumerate(models):
            for subset, marker in MARKERS.items():
                if task is None:
                    g = fam[(fam.alias == alias) & (fam.subset == subset)].set_index("condition")
                    ys = [g.mean_score.get(c) for c in conds]
                    lo = [g.score_ci_low.get(c) for c in conds]
                    hi = [g.score_ci_high.get(c) for c in conds]
                else:
                    g = main[(main.alias == alias) & (main.task == task) & (main.subset == subset)]
                    ys = [g[g.condition == c].score.mean() if (g.condition == c).any() else None for c in conds]
                    lo = hi = [None] * len(conds)
                xs = [i for i, y in enumerate(ys) if y is not None and not pd.isna(y)]
                if not xs:
                    continue
                ax.plot(xs, [ys[i] for i in xs], marker=marker, color=colours(m % 10), linewidth=1.2,
                        markersize=5, label=f"{alias} · {subset}", alpha=0.9,
                        linestyle="-" if subset.startswith("scale") else "--")
                for i in xs:
                    if lo[i] is not None and not pd.isna(lo[i]):
                        ax.plot([i, i], [lo[i], hi[i]], color=colours(m % 10), linewidth=1.0, alpha=0.7)
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.set_xticks(range(len(conds)))
        ax.set_xticklabels(conds, rotation=30, fontsize=8, ha="right")
        ax.set_title(task or f"{family}: mean over {len(tasks)} tasks (95% CI)", fontsize=9)
        ax.grid(alpha=0.25)
    axes.ravel()[0].set_ylabel("main score (cosine Spearman)")
    handles, labels = axes.ravel()[n_panels - 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8, frameon=False)
    fig.suptitle(f"Task family '{family}': none vs instructed, per task and on average (solid: scale view, "
                 "dashed: relation view)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return Figure(safe_name(f"family.{family}.png"), f"Family '{family}': per task and mean", png_bytes(fig))
