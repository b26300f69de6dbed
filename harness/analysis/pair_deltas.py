"""Spearman deltas of a handful of pairs held in memory (``harness try``), with the statistics ``aggregate``
uses for an STS cell: :func:`harness.stats.engine.delta_stats` on prediction frames of the same shape as a
cell's predictions parquet (item, gold, prediction, text1, text2), so the resampling unit (``text`` when words
recur across pairs), the 95% interval and the permutation p-value are the ones a run would get; Holm's
adjustment (:func:`harness.stats.engine.holm`) is over the deltas shown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from harness.stats import engine

METRIC = "cosine_spearman"


def _frame(text1: Sequence[str], text2: Sequence[str], gold: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"item": np.arange(len(gold)), "gold": gold, "prediction": pred,
                         "text1": list(text1), "text2": list(text2)})


def spearman_deltas(text1: Sequence[str], text2: Sequence[str], gold: Sequence[float],
                    predictions: Mapping[str, np.ndarray], *, baseline: str = "none", seed_parts: Sequence[str] = (),
                    **settings: int) -> list[dict[str, float | str | int]]:
    """One row per condition other than ``baseline``: Spearman(gold, cosines) under it and under the baseline,
    their difference with its 95% CI, p and Holm p. Pairs without a gold score (NaN) are left out. ``settings``:
    ``n_bootstrap`` / ``n_permutations`` for :func:`~harness.stats.engine.delta_stats`."""
    g = np.asarray(gold, dtype=np.float64)
    keep = ~np.isnan(g)
    t1 = [t for t, k in zip(text1, keep, strict=True) if k]
    t2 = [t for t, k in zip(text2, keep, strict=True) if k]
    if keep.sum() < 3:
        return []
    base = _frame(t1, t2, g[keep], np.asarray(predictions[baseline], dtype=np.float64)[keep])
    rows: list[dict[str, float | str | int]] = []
    for cond, pred in predictions.items():
        if cond == baseline:
            continue
        other = _frame(t1, t2, g[keep], np.asarray(pred, dtype=np.float64)[keep])
        st = engine.delta_stats("STS", METRIC, other, base, seed=engine.seed_for(*seed_parts, cond, baseline),
                               **settings)
        if st is None:
            continue
        rows.append({"label": cond, "score": float(engine.recompute("STS", METRIC, other) or np.nan),
                     "baseline_score": float(engine.recompute("STS", METRIC, base) or np.nan), "delta": st.delta,
                     "ci_low": st.ci_low, "ci_high": st.ci_high, "p_value": st.p_value, "n_items": st.n_items,
                     "resample_unit": st.resample_unit})
    for row, p in zip(rows, engine.holm([float(r["p_value"]) for r in rows]), strict=True):
        row["p_holm"] = float(p)
    return rows
