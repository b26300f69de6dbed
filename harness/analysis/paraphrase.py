"""Paraphrase sensitivity: how far a model's main score moves across instructions that say the same thing.

Per model × task × subset × split and variant set (``paraphrase``: conditions ``paraphrase#1`` … ``#k``):

- the variants' scores: mean, best and worst variant, **range** (best − worst) and **SD** (ddof 1), each with a
  95% interval from a bootstrap over items, resampled *jointly* across the variants (the same items for every
  variant; :mod:`harness.analysis.joint`). The intervals are bias-corrected percentile intervals
  (:func:`harness.analysis.joint.bias_corrected_ci`): resampling inflates a range or SD of noisy scores, so the
  plain percentile interval would sit above the observed spread and overstate it;
- the **reference**: the delta the paraphrased instruction produced in the first place, ``blog − none``, with its
  interval on the same resamples, and whether the range exceeds |blog − none| — ``larger`` / ``smaller`` when the
  interval of range − |blog − none| lies above / below 0, else ``unclear``;
- the **content of the mean paraphrase**: mean over variants − placebo, with its interval (a descriptive summary,
  not a test: no single condition fed the model "the mean paraphrase").

A range is never negative and grows with noise: k noisy scores of one true value still spread. Read it against the
reference, not against 0.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.joint import JointScores, bias_corrected_ci
from harness.prompts.conditions import BASELINE
from harness.prompts.schema import split_variant

REFERENCE = "blog"  # the instruction the committed paraphrases rewrite (instructions/sets/paraphrase.yaml)
PLACEBO = "placebo"


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


def _verdict(lo: float, hi: float) -> str | None:
    if np.isnan(lo) or np.isnan(hi):
        return None
    return "larger" if lo > 0 else "smaller" if hi < 0 else "unclear"


def spread_row(js: JointScores, key: tuple[Hashable, ...], variants: list[str]) -> dict[str, Any] | None:
    """The spread of one model's scores across ``variants``; ``key(condition)`` → the column key in ``js`` is
    ``(*key, condition)``. None with fewer than two scored variants."""
    cols = [js.column((*key, v)) for v in variants if (*key, v) in js.keys]
    names = [v for v in variants if (*key, v) in js.keys]
    obs = js.observed[cols]
    ok = ~np.isnan(obs)
    cols, names, obs = [c for c, o in zip(cols, ok, strict=True) if o], [n for n, o in zip(names, ok, strict=True)
                                                                         if o], obs[ok]
    if len(cols) < 2:
        return None
    boot = js.boot[:, cols]
    b_range = boot.max(axis=1) - boot.min(axis=1)
    b_sd = boot.std(axis=1, ddof=1)
    row: dict[str, Any] = {
        "n_variants": len(cols), "mean_score": float(obs.mean()),
        "best_variant": names[int(np.argmax(obs))], "best_score": float(obs.max()),
        "worst_variant": names[int(np.argmin(obs))], "worst_score": float(obs.min()),
        "range": float(obs.max() - obs.min()), "sd": float(obs.std(ddof=1)),
        "n_items": js.n_items, "n_bootstrap": js.n_bootstrap,
    }
    row["range_ci_low"], row["range_ci_high"] = bias_corrected_ci(b_range, row["range"])
    row["sd_ci_low"], row["sd_ci_high"] = bias_corrected_ci(b_sd, row["sd"])
    ref, none, placebo = ((*key, c) for c in (REFERENCE, BASELINE, PLACEBO))
    row |= dict.fromkeys(["reference", "reference_delta", "reference_ci_low", "reference_ci_high",
                          "excess_ci_low", "excess_ci_high", "range_vs_reference", "content_mean",
                          "content_mean_ci_low", "content_mean_ci_high"])
    if ref in js.keys and none in js.keys:
        r, n = js.column(ref), js.column(none)
        if not np.isnan(js.observed[[r, n]]).any():
            b_ref = js.boot[:, r] - js.boot[:, n]
            row["reference"] = f"{REFERENCE} − {BASELINE}"
            row["reference_delta"] = float(js.observed[r] - js.observed[n])
            row["reference_ci_low"], row["reference_ci_high"] = bias_corrected_ci(b_ref, row["reference_delta"])
            row["excess_ci_low"], row["excess_ci_high"] = bias_corrected_ci(
                b_range - np.abs(b_ref), row["range"] - abs(row["reference_delta"]))
            row["range_vs_reference"] = _verdict(row["excess_ci_low"], row["excess_ci_high"])
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
            row = spread_row(js, (model, revision), variants)
            if row is not None:
                first = g.iloc[0]
                out.append({"model": model, "alias": alias, "revision": revision, "task": first.task,
                            "task_type": first.task_type, "subset": first.subset, "split": first.split,
                            "metric": first.metric, "variant_set": name, **row})
    return out


def table(para: pd.DataFrame) -> str:
    """The console table: one line per model × task × subset."""
    if para.empty:
        return "(no paraphrase spreads: run at least two variants, e.g. --conditions none,blog,placebo,paraphrase)"

    def ci(lo: float, hi: float) -> str:
        return f"[{lo:.3f}, {hi:.3f}]" if pd.notna(lo) else "[no CI]"

    lines = [f"{'model':<16} {'task':<30} {'subset':<12} {'k':>2} {'mean':>7} {'range [95% CI]':>24} "
             f"{'SD [95% CI]':>24} {'best':>13} {'worst':>13} {'blog − none [95% CI]':>26} {'range vs it':>11}"]
    for r in para.sort_values(["alias", "task", "subset", "variant_set"]).itertuples():
        ref = (f"{r.reference_delta:+.3f} {ci(r.reference_ci_low, r.reference_ci_high)}"
               if pd.notna(r.reference_delta) else "—")
        lines.append(
            f"{r.alias:<16} {r.task:<30} {r.subset:<12} {r.n_variants:>2} {r.mean_score:>7.3f} "
            f"{f'{r.range:.3f} ' + ci(r.range_ci_low, r.range_ci_high):>24} "
            f"{f'{r.sd:.3f} ' + ci(r.sd_ci_low, r.sd_ci_high):>24} {r.best_variant:>13} {r.worst_variant:>13} "
            f"{ref:>26} {r.range_vs_reference or '—':>11}")
    lines.append("(range = best − worst variant, SD across variants; 95% CIs: bootstrap over items, the same "
                 "resampled items for every variant; range vs it: the interval of range − |blog − none| is above 0 "
                 "(larger), below 0 (smaller) or contains 0 (unclear))")
    return "\n".join(lines)
