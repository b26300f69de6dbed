"""Rankings across instruction sets: does the choice of instruction reorder the models?

Per task × subset × split with at least :data:`MIN_MODELS` models:

- each model's **rank** under each condition by the main score (1 = best; tied models share the better rank);
- **Kendall τ-b** between the ranking under ``none`` and under each other condition (scipy's ``kendalltau`` on the
  scores), with a 95% percentile interval from a bootstrap over items resampled jointly across every model and
  both conditions (:mod:`harness.stats.joint`) — only with at least :data:`MIN_MODELS_CI` models. With fewer,
  τ takes a handful of values (3 models: −1, −1/3, +1/3, +1), so a percentile interval says little; the row shows
  instead every possible value and how many resamples took it (``tau_values``, :func:`tau_values`);
- each model's **best and worst possible rank** under a variant set (paraphrases), two ways: *shared* — one
  variant for every model, picked to help (hurt) this model: the best (worst) of its ranks across the variants;
  *own* — each model's own variant picked independently: this model at its best variant against every other
  model at its worst (and the reverse). "Can a prompt choice promote it to first place?" is ``best_own == 1``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.paraphrase import variant_sets
from harness.prompts.conditions import BASELINE, condition_order
from harness.stats.joint import JointScores, percentile_ci

MIN_MODELS = 3
MIN_MODELS_CI = 4  # fewer models: the possible τ values and their shares instead of a percentile interval
_GROUP = ["task", "task_type", "subset", "split", "metric"]
_MODEL = ["model", "revision"]


def _rank(scores: np.ndarray) -> np.ndarray:
    """1 + the number of strictly higher scores (ties share the better rank)."""
    return 1 + (scores[None, :] > scores[:, None]).sum(axis=1)


def ranks(main: pd.DataFrame) -> pd.DataFrame:
    """Each model's rank per task × subset × split × condition (main-metric leaderboard rows), for groups where
    at least :data:`MIN_MODELS` models ran the condition."""
    out = []
    for _, g in main.groupby([*_GROUP, "condition"], sort=True):
        g = g.drop_duplicates(_MODEL)
        if len(g) < MIN_MODELS:
            continue
        r = g[[*_GROUP, "condition", "model", "alias", "revision", "score"]].copy()
        r["rank"] = _rank(g.score.to_numpy(np.float64))
        r["n_models"] = len(g)
        out.append(r)
    if not out:
        return pd.DataFrame(columns=[*_GROUP, "condition", "model", "alias", "revision", "score", "rank", "n_models"])
    df = pd.concat(out, ignore_index=True)
    df["_o"] = df.condition.map(condition_order)
    return df.sort_values([*_GROUP, "_o", "rank", "alias"]).drop(columns="_o").reset_index(drop=True)


def kendall_tau_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's τ-b between the columns of x and y, row by row ((rows, models) each): scipy's ``kendalltau``
    (variant b) for every row at once; NaN where a row's scores are all tied."""
    i, j = np.triu_indices(x.shape[1], k=1)
    sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    den = np.sqrt((sx * sx).sum(axis=1) * (sy * sy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (sx * sy).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def possible_taus(n_models: int) -> list[Fraction]:
    """Every value τ takes between two rankings of ``n_models`` without ties: 1 − 4d / (n(n − 1)), d discordant
    pairs (0 … n(n − 1)/2), from −1 to +1."""
    pairs = n_models * (n_models - 1) // 2
    return [Fraction(pairs - 2 * d, pairs) for d in range(pairs, -1, -1)]


def tau_values(taus: np.ndarray, n_models: int) -> str:
    """``"-1: 0; -1/3: 24; …"``: each possible τ and how many of ``taus`` (the resamples) took it; resamples with
    tied scores (another value) or an undefined τ (all scores tied) are counted as ``other (ties)``."""
    n = len(taus)
    if not n:
        return ""
    parts, matched = [], np.zeros(n, dtype=bool)
    for v in possible_taus(n_models):
        hit = np.isclose(taus, float(v), rtol=0, atol=1e-9)
        matched |= hit
        parts.append(f"{'+' if v > 0 else ''}{v}: {int(hit.sum())}")
    if (~matched).any():
        parts.append(f"other (ties): {int((~matched).sum())}")
    return "; ".join(parts)


def agreement(js: JointScores, group: pd.DataFrame) -> list[dict[str, Any]]:
    """Kendall τ between the ranking under ``none`` and under every other condition of one task × subset × split
    group (``js`` keyed by (model, revision, condition); ``group``: its main-metric leaderboard rows)."""
    from scipy.stats import kendalltau

    first = group.iloc[0]
    scores = group.drop_duplicates([*_MODEL, "condition"]).set_index([*_MODEL, "condition"]).score
    none = {m for m in scores.index if m[2] == BASELINE}
    out = []
    for cond in sorted(set(group.condition) - {BASELINE}, key=condition_order):
        models = sorted({(m, r) for m, r, _ in none} & {(m, r) for m, r, c in scores.index if c == cond})
        models = [k for k in models if (*k, BASELINE) in js.keys and (*k, cond) in js.keys
                  and not np.isnan(js.observed[[js.column((*k, BASELINE)), js.column((*k, cond))]]).any()]
        if len(models) < MIN_MODELS:
            continue
        a = np.array([scores[(*k, BASELINE)] for k in models])
        b = np.array([scores[(*k, cond)] for k in models])
        tau = kendalltau(a, b).statistic
        boot_a = js.boot[:, [js.column((*k, BASELINE)) for k in models]]
        boot_b = js.boot[:, [js.column((*k, cond)) for k in models]]
        taus = kendall_tau_rows(boot_a, boot_b)
        lo, hi = percentile_ci(taus) if len(models) >= MIN_MODELS_CI else (None, None)
        values = None if len(models) >= MIN_MODELS_CI else tau_values(taus, len(models))
        out.append({"task": first.task, "task_type": first.task_type, "subset": first.subset, "split": first.split,
                    "metric": first.metric, "condition": cond, "baseline": BASELINE, "n_models": len(models),
                    "kendall_tau": float(tau), "ci_low": lo, "ci_high": hi, "tau_values": values, "n_items": js.n_items,
                    "n_bootstrap": js.n_bootstrap})
    return out


def rank_range(ranked: pd.DataFrame) -> pd.DataFrame:
    """Per task × subset × split × model and variant set: rank under none, best/worst rank with one shared
    variant, best/worst rank with each model's own variant (from ``ranks.parquet``)."""
    out = []
    for keys, g in ranked.groupby(_GROUP, sort=True):
        for name, variants in variant_sets(set(g.condition)).items():
            v = g[g.condition.isin(variants)]
            wide = v.pivot_table(index=["model", "revision", "alias"], columns="condition", values="score")
            wide = wide.dropna()  # models that ran every variant
            if len(wide) < MIN_MODELS:
                continue
            rank_wide = v.pivot_table(index=["model", "revision", "alias"], columns="condition", values="rank")
            best, worst = wide.max(axis=1).to_numpy(), wide.min(axis=1).to_numpy()
            none = g[g.condition == BASELINE].set_index(["model", "revision"])["rank"]
            for i, (model, revision, alias) in enumerate(wide.index):
                others = np.arange(len(wide)) != i
                out.append({**dict(zip(_GROUP, keys, strict=True)), "variant_set": name, "model": model,
                            "alias": alias, "revision": revision, "n_models": len(wide),
                            "rank_none": none.get((model, revision)),
                            "best_shared": int(rank_wide.loc[(model, revision, alias)].min()),
                            "worst_shared": int(rank_wide.loc[(model, revision, alias)].max()),
                            "best_own": int(1 + (worst[others] > best[i]).sum()),
                            "worst_own": int(1 + (best[others] > worst[i]).sum())})
    return pd.DataFrame(out)


def table(ranked: pd.DataFrame, agree: pd.DataFrame) -> str:
    """The console view (``harness compare --view ranks``): per task × subset, the rank of every model under every
    condition, Kendall τ against none with its 95% CI, and the best/worst rank a paraphrase choice allows."""
    if ranked.empty:
        return f"(no rankings: a task needs at least {MIN_MODELS} models)"
    ranges = rank_range(ranked)
    out = []
    for keys, g in ranked.groupby(["task", "subset", "split", "metric"], sort=True):
        task, subset, split, metric = keys
        conds = sorted(set(g.condition), key=condition_order)
        wide = g.pivot_table(index="alias", columns="condition", values="rank")[conds]
        wide = wide.sort_values(BASELINE) if BASELINE in wide.columns else wide
        width = max(len(c) for c in conds) + 1
        out += [f"{task} / {subset} / {split} ({metric}): rank per condition (1 = best)",
                f"  {'model':<22}" + "".join(f"{c:>{width}}" for c in conds)]
        for alias, row in wide.iterrows():
            out.append(f"  {alias!s:<22}" + "".join(f"{'—' if pd.isna(row[c]) else int(row[c]):>{width}}"
                                                  for c in conds))
        a = agree[(agree.task == task) & (agree.subset == subset) & (agree.split == split)] if not agree.empty \
            else agree
        if not a.empty:
            out.append(f"  Kendall τ vs {BASELINE}: " + "; ".join(
                f"{r.condition} {r.kendall_tau:+.2f} " + (f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if pd.notna(
                    r.ci_low) else f"(resamples: {r.tau_values})")
                for r in sorted(a.itertuples(), key=lambda r: condition_order(r.condition))))
        rr = ranges[(ranges.task == task) & (ranges.subset == subset) & (ranges.split == split)] if not \
            ranges.empty else ranges
        for r in rr.itertuples():
            first = " — a paraphrase choice can put it first" if r.best_own == 1 and r.rank_none != 1 else ""
            out.append(f"  {r.alias}: {r.variant_set} rank, one variant for all {r.best_shared}–{r.worst_shared}, "
                       f"each model its own {r.best_own}–{r.worst_own} (none: {r.rank_none}){first}")
        out.append("")
    out.append(f"(Kendall τ-b between the models' scores under none and under the condition; 95% CI (with ≥ "
               f"{MIN_MODELS_CI} models): bootstrap over items, resampled jointly across models and conditions; "
               "with fewer models each possible τ and how many resamples took it. Rank ranges over "
               "the paraphrase variants: 'one variant for all' = the same variant for every model, chosen "
               "for/against this model; 'its own' = this model at its best (worst) variant against every other "
               "at its worst (best))")
    return "\n".join(out)
