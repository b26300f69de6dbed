"""Several cells scored on the *same* resampled items: a joint bootstrap over the items of one task × subset ×
split, for statistics that involve more than two cells (the spread across paraphrases, Kendall τ between models'
rankings).

Every cell of the group (one per model × condition) is recomputed from its item-level predictions exactly as
:mod:`harness.stats.engine` does for a delta (``engine.metric_for``, ``engine.item_columns``; checked against the
leaderboard's score by the caller), and then on ``n_bootstrap`` resamples of the items drawn with replacement, the
same resample for every cell. A resample is a vector of item multiplicities (weights); each metric is computed on
the weighted items, which equals the metric of the expanded sample (an item of weight 3 listed three times) — so
every cell of a group costs O(items) per resample, whatever the number of cells (tested against expanding).

The resampling unit is the one ``engine`` uses for a delta of the same task (:func:`engine.resample_units`: queries,
sentences, pairs, or the recurring words of an STS word-pair task, drawn by :func:`engine.resample_weights`), and the
weighted metrics are ``engine``'s own (``Metric.weighted``). For the word unit the joint intervals keep the plain
vertex bootstrap's spread, which is on the wide side (the jackknife correction of :mod:`harness.stats.bootstrap`
is derived for one delta, not for ranks or spreads across many cells): these intervals err towards caution.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.stats import engine

CHUNK_CELLS = 2_000_000  # resamples × items materialised at once


@dataclass(frozen=True)
class JointScores:
    """Observed and resampled scores of the cells of one group (``keys``: e.g. (model, revision, condition))."""

    keys: list[Hashable]
    observed: np.ndarray  # (cells,)
    boot: np.ndarray  # (n_bootstrap, cells): the same resample in every row across cells
    n_items: int
    items: list[engine.Columns] | None = None  # each cell's item columns, aligned on the shared items
    metric: engine.Metric | None = None  # the metric that scored them (for tests that permute items' predictions)

    @property
    def n_bootstrap(self) -> int:
        return int(self.boot.shape[0])

    def column(self, key: Hashable) -> int:
        return self.keys.index(key)


# -- a group's joint bootstrap ----------------------------------------------------------------------------------
def joint_scores(task_type: str, metric: str, frames: Mapping[Hashable, pd.DataFrame], *, seed: int,
                 n_bootstrap: int = engine.N_BOOTSTRAP, unit: str | None = None) -> JointScores | None:
    """Each frame's metric on its items and on ``n_bootstrap`` joint resamples of the items all frames share
    (their gold must agree). None when the metric is not recomputable or no item is shared."""
    m = engine.metric_for(task_type, metric)
    if m is None or not frames:
        return None
    keys = list(frames)
    columns = [engine.item_columns(task_type, metric, frames[k]) for k in keys]
    common = columns[0][0]
    for ids, _ in columns[1:]:
        common = np.intersect1d(common, ids)
    if len(common) == 0:
        return None
    aligned: list[engine.Columns] = []
    for ids, cols in columns:
        pos = np.searchsorted(ids, common)  # item ids come sorted from engine.item_columns
        aligned.append({c: v[pos] for c, v in cols.items()})
    for c in m.gold:
        if any(not np.array_equal(aligned[0][c], a[c]) for a in aligned[1:]):
            raise ValueError(f"{metric}: the cells disagree on the gold column '{c}'")
    n = len(common)
    texts = engine.item_texts(frames[keys[0]]) if task_type == "STS" else None
    if texts is not None:
        ids, t1, t2 = texts
        pos = np.searchsorted(ids, common)
        units = engine.resample_units(task_type, n, unit=unit, text1=t1[pos], text2=t2[pos])
    else:
        units = engine.resample_units(task_type, n, unit=None if unit == "text" else unit)
    observed = np.array([m.score({c: v[None, :] for c, v in a.items()})[0] for a in aligned], dtype=np.float64)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_bootstrap, len(keys)))
    done = 0
    while done < n_bootstrap:
        rows = min(max(1, CHUNK_CELLS // n), n_bootstrap - done)
        w = engine.resample_weights(units, rows, rng)
        for j, a in enumerate(aligned):
            boot[done:done + rows, j] = m.weighted(a, w)
        done += rows
    return JointScores(keys, observed, boot, n, aligned, m)


def percentile_ci(values: np.ndarray, confidence: float = engine.CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of resampled values (NaN resamples left out)."""
    v = values[~np.isnan(values)]
    if not len(v):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(v, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bias_corrected_ci(values: np.ndarray, observed: float, confidence: float = engine.CONFIDENCE
                      ) -> tuple[float, float]:
    """Bias-corrected (BC) percentile interval (Efron 1981): the percentiles are shifted by z0 = Φ⁻¹(share of
    resamples below the observed value). For statistics that resampling inflates — the range or SD of several
    noisy scores, whose plain percentile interval sits above the observed value — it recentres the interval on
    the observation; for a statistic without that bias (z0 ≈ 0) it is the percentile interval."""
    from scipy.special import ndtr, ndtri  # scipy.stats.norm's cdf and ppf, without importing scipy.stats

    v = values[~np.isnan(values)]
    if not len(v) or np.isnan(observed):
        return float("nan"), float("nan")
    share = (np.sum(v < observed) + 0.5 * np.sum(v == observed)) / len(v)
    z0 = ndtri(np.clip(share, 0.5 / len(v), 1 - 0.5 / len(v)))
    z = ndtri((1 + confidence) / 2)
    lo, hi = np.quantile(v, [ndtr(2 * z0 - z), ndtr(2 * z0 + z)])
    return float(lo), float(hi)
