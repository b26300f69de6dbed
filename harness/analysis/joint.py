"""Several cells scored on the *same* resampled items: a joint bootstrap over the items of one task × subset ×
split, for statistics that involve more than two cells (the spread across paraphrases, Kendall τ between models'
rankings).

Every cell of the group (one per model × condition) is recomputed from its item-level predictions exactly as
:mod:`harness.analysis.stats` does for a delta (``stats.metric_for``, ``stats.item_columns``; checked against the
leaderboard's score by the caller), and then on ``n_bootstrap`` resamples of the items drawn with replacement, the
same resample for every cell. A resample is a vector of item multiplicities (weights); each metric is computed on
the weighted items, which equals the metric of the expanded sample (an item of weight 3 listed three times) — so
every cell of a group costs O(items) per resample, whatever the number of cells (tested against expanding).

The resampling unit is the item (pair, query, sentence), as in ``stats`` today. One function draws the weights
(:func:`resample_weights`): where ``stats`` resamples another unit (e.g. words of an STS word-pair task), this is
the one place to follow it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.results import layout

CHUNK_CELLS = 2_000_000  # resamples × items materialised at once


@dataclass(frozen=True)
class JointScores:
    """Observed and resampled scores of the cells of one group (``keys``: e.g. (model, revision, condition))."""

    keys: list[Hashable]
    observed: np.ndarray  # (cells,)
    boot: np.ndarray  # (n_bootstrap, cells): the same resample in every row across cells
    n_items: int

    @property
    def n_bootstrap(self) -> int:
        return int(self.boot.shape[0])

    def column(self, key: Hashable) -> int:
        return self.keys.index(key)


def prediction_files(results_dir: Path) -> dict[tuple[str, str, str, str], Path]:
    """(model, revision, condition, task) → the cell's predictions parquet, from the sidecars on disk."""
    out = {}
    for _, side in layout.sidecars(results_dir):
        if side.get("predictions_file"):
            out[(side["model"], side["revision"], side["condition"], side["task"])] = (
                results_dir / side["predictions_file"])
    return out


def resample_weights(n_items: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, n_items) multiplicities: n items drawn with replacement, per row."""
    idx = rng.integers(0, n_items, size=(rows, n_items))
    flat = (idx + np.arange(rows)[:, None] * n_items).ravel()
    return np.bincount(flat, minlength=rows * n_items).reshape(rows, n_items).astype(np.float64)


# -- metrics on weighted items -------------------------------------------------------------------------------
def weighted_midranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row of ``w``, the mid-rank of each item in the expanded sample (item i repeated w_i times): items of
    equal value share one tie group. (rows, items)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1  # tie group of each sorted position
    total = np.add.reduceat(w[:, order], starts, axis=1)  # weight per tie group
    before = np.cumsum(total, axis=1) - total
    ranks_sorted = (before + (total + 1) / 2)[:, group]
    out = np.empty_like(ranks_sorted)
    out[:, order] = ranks_sorted
    return out


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row, Pearson's r of x and y with item weights w (x, y: (items,) or (rows, items))."""
    sw = w.sum(axis=1, keepdims=True)
    xc = x - (w * x).sum(axis=1, keepdims=True) / sw
    yc = y - (w * y).sum(axis=1, keepdims=True) / sw
    den = np.sqrt((w * xc * xc).sum(axis=1) * (w * yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (w * xc * yc).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def _weighted_bitext(kind: str, gold: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """scikit-learn's support-weighted precision / recall / F1 (zero_division=0) on weighted items."""
    g, p = gold.astype(np.int64), pred.astype(np.int64)
    m = int(max(g.max(), p.max())) + 1
    rows = w.shape[0]
    offset = (np.arange(rows) * m)[:, None]

    def counts(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
        flat = (labels[None, :] + offset).ravel()
        return np.bincount(flat, weights=weights.ravel(), minlength=rows * m).reshape(rows, m)

    support, predicted = counts(g, w), counts(p, w)
    tp = counts(g, w * (g == p)[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "f1":
            per = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        elif kind == "precision":
            per = np.where(predicted > 0, tp / predicted, 0.0)
        else:
            per = np.where(support > 0, tp / support, 0.0)
        return np.asarray((support * per).sum(axis=1) / support.sum(axis=1), dtype=np.float64)


def weighted_score(task_type: str, metric: str, cols: stats.Columns, w: np.ndarray) -> np.ndarray:
    """The metric of each row's weighted items (= the metric of the expanded sample)."""
    if task_type == "Retrieval":
        return np.asarray((w @ cols["value"]) / w.sum(axis=1), dtype=np.float64)
    gold, pred = cols["gold"], cols["pred"]
    if task_type == "STS" and metric in ("cosine_spearman", "spearman"):
        return weighted_pearson(weighted_midranks(gold, w), weighted_midranks(pred, w), w)
    if task_type == "STS":
        return weighted_pearson(np.broadcast_to(gold, w.shape), np.broadcast_to(pred, w.shape), w)
    if metric == "accuracy":
        return np.asarray((w @ (gold == pred).astype(np.float64)) / w.sum(axis=1), dtype=np.float64)
    return _weighted_bitext(metric, gold, pred, w)


# -- a group's joint bootstrap ----------------------------------------------------------------------------------
def joint_scores(task_type: str, metric: str, frames: Mapping[Hashable, pd.DataFrame], *, seed: int,
                 n_bootstrap: int = stats.N_BOOTSTRAP) -> JointScores | None:
    """Each frame's metric on its items and on ``n_bootstrap`` joint resamples of the items all frames share
    (their gold must agree). None when the metric is not recomputable or no item is shared."""
    m = stats.metric_for(task_type, metric)
    if m is None or not frames:
        return None
    keys = list(frames)
    columns = [stats.item_columns(task_type, metric, frames[k]) for k in keys]
    common = columns[0][0]
    for ids, _ in columns[1:]:
        common = np.intersect1d(common, ids)
    if len(common) == 0:
        return None
    aligned: list[stats.Columns] = []
    for ids, cols in columns:
        pos = np.searchsorted(ids, common)  # item ids come sorted from stats.item_columns
        aligned.append({c: v[pos] for c, v in cols.items()})
    for c in m.gold:
        if any(not np.array_equal(aligned[0][c], a[c]) for a in aligned[1:]):
            raise ValueError(f"{metric}: the cells disagree on the gold column '{c}'")
    n = len(common)
    observed = np.array([m.score({c: v[None, :] for c, v in a.items()})[0] for a in aligned], dtype=np.float64)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_bootstrap, len(keys)))
    done = 0
    while done < n_bootstrap:
        rows = min(max(1, CHUNK_CELLS // n), n_bootstrap - done)
        w = resample_weights(n, rows, rng)
        for j, a in enumerate(aligned):
            boot[done:done + rows, j] = weighted_score(task_type, metric, a, w)
        done += rows
    return JointScores(keys, observed, boot, n)


def percentile_ci(values: np.ndarray, confidence: float = stats.CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of resampled values (NaN resamples left out)."""
    v = values[~np.isnan(values)]
    if not len(v):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(v, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bias_corrected_ci(values: np.ndarray, observed: float, confidence: float = stats.CONFIDENCE
                      ) -> tuple[float, float]:
    """Bias-corrected (BC) percentile interval (Efron 1981): the percentiles are shifted by z0 = Φ⁻¹(share of
    resamples below the observed value). For statistics that resampling inflates — the range or SD of several
    noisy scores, whose plain percentile interval sits above the observed value — it recentres the interval on
    the observation; for a statistic without that bias (z0 ≈ 0) it is the percentile interval."""
    from scipy.stats import norm

    v = values[~np.isnan(values)]
    if not len(v) or np.isnan(observed):
        return float("nan"), float("nan")
    share = (np.sum(v < observed) + 0.5 * np.sum(v == observed)) / len(v)
    z0 = norm.ppf(np.clip(share, 0.5 / len(v), 1 - 0.5 / len(v)))
    z = norm.ppf((1 + confidence) / 2)
    lo, hi = np.quantile(v, [norm.cdf(2 * z0 - z), norm.cdf(2 * z0 + z)])
    return float(lo), float(hi)
