"""Paraphrase sensitivity: how far a model's main score moves across instructions that say the same thing.

Per model × task × subset × split and variant set (``paraphrase``: conditions ``paraphrase#1`` … ``#k``):

- the variants' scores: mean, best and worst variant, **range** (best − worst) and **SD** (ddof 1), as point
  values without an interval (see below);
- a **test of "spread > 0"** (:func:`spread_test`): under the null the k variants are interchangeable on every
  item, so each item's k predictions (for correlations: the within-variant z-scores of the similarities) are
  permuted among the variants (independently per item and draw) and the SD
  across the k recomputed scores is the statistic; p = (1 + #{SD* ≥ SD}) / (1 + R), never below 1/(R + 1)
  (``spread_p_value``, ``spread_n_permutations``, ``spread_n_extreme``). Identical variants give p = 1;
- the **reference**: the delta the paraphrased instruction produced in the first place, ``blog − none``: **the
  deltas' own value and interval** (``deltas.parquet``'s ``ci_low``/``ci_high`` for that model × task × subset ×
  split, joined on the delta's key by :func:`attach_reference_ci`): one quantity, one interval;
- the **content of the mean paraphrase**: mean over variants − placebo, with a bias-corrected percentile interval
  from the joint bootstrap over items (:mod:`harness.stats.joint`; a descriptive summary, not a test: no single
  condition fed the model "the mean paraphrase").

Why the range and SD have no interval (issue 29 item 5): when the variants are (nearly) equal the true spread is 0,
on the edge of the parameter space, where bootstrap intervals are not valid: resampling inflates every range, and
the bias-corrected interval's lower bound fell below the 1/B quantile, i.e. at the smallest resample, in 34–82 % of
simulated data sets (tests/test_spread_calibration.py, which also shows the permutation test's size at the
nominal level for distinct and nearly equal variants). Read the range against |blog − none| and its interval.

Limit: for STS word-pair tasks the deltas resample the recurring *words*; this test permutes per *pair*. It asks
whether the variants differ on these words; when a variant's effect on a word moves every pair with that word
(equal in expectation over words), it rejects that null too (8.6–17.7 % at 0.05 in simulation, NOTES.md).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from harness.prompts.conditions import BASELINE
from harness.prompts.schema import split_variant
from harness.stats import engine
from harness.stats.joint import CHUNK_CELLS, JointScores, bias_corrected_ci

REFERENCE = "blog"  # the instruction the committed paraphrases rewrite (instructions/sets/paraphrase.yaml)
PLACEBO = "placebo"
SPREAD_PERMUTATIONS = 999  # draws of the spread test: p ≥ 1/1000
REFERENCE_KEY = ["model", "revision", "task", "subset", "split", "metric"]  # + condition blog, baseline none


def variant_sets(conditions: set[str] | list[str]) -> dict[str, list[str]]:
    """Variant sets with at least two variants among ``conditions``: set name → its conditions in order of k."""
    found: dict[str, list[tuple[int, str]]] = {}
    for c in conditions:
        base, k = split_variant(c)
        if k is not None:
            found.setdefault(base, []).append((k, c))
    return {base: [c for _, c in sorted(v)] for base, v in sorted(found.items()) if len(v) >= 2}


def cells_needed(conditions: set[str]) -> set[str]:
    """The conditions a model's paraphrase row reads: the variants, the reference, none and placebo."""
    variants = {c for v in variant_sets(conditions).values() for c in v}
    return (variants | ({REFERENCE, BASELINE, PLACEBO} & conditions)) if variants else set()


def _null_scale(metric: engine.Metric, pred: np.ndarray) -> np.ndarray:
    """What the spread test permutes: for a correlation metric each variant's similarities as z-scores (a variant
    that shifts or rescales every similarity leaves its score unchanged, and must not make the permuted scores
    spread), else the values. Not ranks, as the deltas' test swaps: permuted ranks of nearly equal variants are
    tied vectors, which made the test reject 25 % of true nulls at 0.05 (tests/test_spread_calibration.py)."""
    if metric.family in ("spearman", "pearson"):
        sd = pred.std()
        return (pred - pred.mean()) / (sd if sd > 0 else 1.0)
    return pred


def spread_test(metric: engine.Metric, cells: list[engine.Columns], *, seed: int,
                n_permutations: int = SPREAD_PERMUTATIONS) -> tuple[float, int, int]:
    """(p, draws, draws at least as extreme) of "the k variants' scores spread more than permuting each item's
    k predictions among the variants does" (``cells``: the variants' item columns, aligned on the same items;
    correlations permute within-variant z-scores, :func:`_null_scale`). Statistic: SD (ddof 1) of the k
    scores; p = (1 + n_extreme) / (1 + n_permutations)."""
    k, n = len(cells), len(cells[0][metric.paired[0]])
    obs = float(np.std([metric.score({c: v[None, :] for c, v in cell.items()})[0] for cell in cells], ddof=1))
    stacked = {c: np.stack([_null_scale(metric, cell[c]) for cell in cells]) for c in metric.paired}  # (k, n)
    rng = np.random.default_rng(seed)
    tol = 1e-12 * max(1.0, abs(obs))  # an identical SD recomputed in another order counts as "as extreme"
    items, extreme, done = np.arange(n)[None, :], 0, 0
    while done < n_permutations:
        rows = min(max(1, CHUNK_CELLS // (n * k)), n_permutations - done)
        perm = np.argsort(rng.random((rows, n, k)), axis=2)  # per draw and item: which variant feeds slot j
        scores = np.empty((rows, k))
        for j in range(k):
            cols = {c: np.broadcast_to(cells[0][c], (rows, n)) for c in metric.gold}
            cols |= {c: v[perm[:, :, j], items] for c, v in stacked.items()}
            scores[:, j] = metric.score(cols)
        extreme += int((scores.std(axis=1, ddof=1) >= obs - tol).sum())
        done += rows
    return (1 + extreme) / (1 + n_permutations), n_permutations, extreme


def spread_row(js: JointScores, key: tuple[Hashable, ...], variants: list[str], *, seed: int = 0
               ) -> dict[str, Any] | None:
    """The spread of one model's scores across ``variants``; ``key(condition)`` → the column key in ``js`` is
    ``(*key, condition)``. None with fewer than two scored variants. ``reference_ci_*`` stay empty here: they are
    the deltas' own (:func:`attach_reference_ci`)."""
    cols = [js.column((*key, v)) for v in variants if (*key, v) in js.keys]
    names = [v for v in variants if (*key, v) in js.keys]
    obs = js.observed[cols]
    ok = ~np.isnan(obs)
    cols, names, obs = [c for c, o in zip(cols, ok, strict=True) if o], [n for n, o in zip(names, ok, strict=True)
                                                                         if o], obs[ok]
    if len(cols) < 2:
        return None
    boot = js.boot[:, cols]
    row: dict[str, Any] = {
        "n_variants": len(cols), "mean_score": float(obs.mean()),
        "best_variant": names[int(np.argmax(obs))], "best_score": float(obs.max()),
        "worst_variant": names[int(np.argmin(obs))], "worst_score": float(obs.min()),
        "range": float(obs.max() - obs.min()), "sd": float(obs.std(ddof=1)),
        "n_items": js.n_items, "n_bootstrap": js.n_bootstrap,
    }
    row |= dict.fromkeys(["spread_p_value", "spread_n_permutations", "spread_n_extreme"])
    if js.items is not None and js.metric is not None:
        p, r, e = spread_test(js.metric, [js.items[c] for c in cols], seed=seed)
        row |= {"spread_p_value": p, "spread_n_permutations": r, "spread_n_extreme": e}
    ref, none, placebo = ((*key, c) for c in (REFERENCE, BASELINE, PLACEBO))
    row |= dict.fromkeys(["reference", "reference_delta", "reference_ci_low", "reference_ci_high", "content_mean",
                          "content_mean_ci_low", "content_mean_ci_high"])
    if ref in js.keys and none in js.keys:
        r, n = js.column(ref), js.column(none)
        if not np.isnan(js.observed[[r, n]]).any():
            row["reference"] = f"{REFERENCE} − {BASELINE}"
            row["reference_delta"] = float(js.observed[r] - js.observed[n])
    if placebo in js.keys and not np.isnan(js.observed[js.column(placebo)]):
        p = js.column(placebo)
        row["content_mean"] = float(obs.mean() - js.observed[p])
        row["content_mean_ci_low"], row["content_mean_ci_high"] = bias_corrected_ci(
            boot.mean(axis=1) - js.boot[:, p], row["content_mean"])
    return row


def rows(js: JointScores, group: pd.DataFrame) -> list[dict[str, Any]]:
    """Every model's spread rows in one task × subset × split group (``group``: its main-metric leaderboard rows;
    ``js`` keyed by (model, revision, condition))."""
    out = []
    for (model, revision, alias), g in group.groupby(["model", "revision", "alias"], sort=True):
        for name, variants in variant_sets(set(g.condition)).items():
            first = g.iloc[0]
            seed = engine.seed_for(model, revision, first.task, first.subset, first.split, first.metric, name,
                                  "spread")
            row = spread_row(js, (model, revision), variants, seed=seed)
            if row is not None:
                out.append({"model": model, "alias": alias, "revision": revision, "task": first.task,
                            "task_type": first.task_type, "subset": first.subset, "split": first.split,
                            "metric": first.metric, "variant_set": name, **row})
    return out


def attach_reference_ci(para: pd.DataFrame, deltas: pd.DataFrame) -> pd.DataFrame:
    """``para`` with ``reference_delta`` and ``reference_ci_low``/``high`` = the delta and interval ``deltas.parquet``
    gives blog − none for the same model × revision × task × subset × split × metric (its delta is of mteb's stored
    scores, which differ from the recomputed ones by mteb's rounding); empty where the deltas have none."""
    if para.empty:
        return para
    ref = deltas[(deltas.condition == REFERENCE) & (deltas.baseline == BASELINE)]
    if {"kind", "is_main"} <= set(ref.columns):  # the main metric's mteb row (not a probe's or geometry's)
        ref = ref[(ref.kind == "mteb") & ref.is_main.astype(bool)]
    ref = ref.drop_duplicates(REFERENCE_KEY)[[*REFERENCE_KEY, "delta", "ci_low", "ci_high"]]
    out = para.drop(columns=["reference_ci_low", "reference_ci_high"]).merge(ref, on=REFERENCE_KEY, how="left")
    has = out.reference_delta.notna() & out.delta.notna()
    out["reference"] = out.reference.where(has)
    out["reference_delta"] = out.delta.where(has)
    out["reference_ci_low"] = out.ci_low.where(has)
    out["reference_ci_high"] = out.ci_high.where(has)
    return out.drop(columns=["delta", "ci_low", "ci_high"])


def table(para: pd.DataFrame) -> str:
    """The console table: one line per model × task × subset."""
    if para.empty:
        return "(no paraphrase spreads: run at least two variants, e.g. --conditions none,blog,placebo,paraphrase)"

    def ci(lo: float, hi: float) -> str:
        return f"[{lo:.3f}, {hi:.3f}]" if pd.notna(lo) else "[no CI]"

    def p(x: float) -> str:
        return f"{x:.4f}" if pd.notna(x) else "—"

    lines = [f"{'model':<16} {'task':<30} {'subset':<12} {'k':>2} {'mean':>7} {'range':>6} {'SD':>6} "
             f"{'p(spread>0)':>11} {'best':>13} {'worst':>13} {'blog − none [95% CI]':>26}"]
    for r in para.sort_values(["alias", "task", "subset", "variant_set"]).itertuples():
        ref = (f"{r.reference_delta:+.3f} {ci(r.reference_ci_low, r.reference_ci_high)}"
               if pd.notna(r.reference_delta) else "—")
        lines.append(
            f"{r.alias:<16} {r.task:<30} {r.subset:<12} {r.n_variants:>2} {r.mean_score:>7.3f} {r.range:>6.3f} "
            f"{r.sd:>6.3f} {p(r.spread_p_value):>11} {r.best_variant:>13} {r.worst_variant:>13} {ref:>26}")
    lines.append("(range = best − worst variant, SD across variants, no interval (a zero spread is on the edge of "
                 "what a bootstrap can cover); p(spread>0): permutation test, each item's predictions permuted among "
                 "the variants, p ≥ 1/(1 + draws); blog − none with the deltas' own 95% CI, as in the deltas table)")
    return "\n".join(lines)
