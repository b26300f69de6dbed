"""The paired bootstrap interval of a delta over its resampling units (vertex bootstrap + jackknife spread for word
pairs); see :mod:`harness.stats.engine` for the method and its calibration."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.stats.metrics import Columns, Metric, _weighted_ranks_ties, midranks, spearman_from_ranks
from harness.stats.units import Units, chunk_sizes, n_rows, resample_weights

CONFIDENCE = 0.95


def _weighted_delta(metric: Metric, a: Columns, b: Columns, w: np.ndarray) -> np.ndarray:
    if metric.family == "spearman":  # the gold's ranks are shared by both conditions
        rg = _weighted_ranks_ties(a["gold"], w)
        return np.asarray(spearman_from_ranks(rg, _weighted_ranks_ties(a["pred"], w), w)
                          - spearman_from_ranks(rg, _weighted_ranks_ties(b["pred"], w), w))
    if metric.family == "mean":
        return np.asarray((w @ (a["value"] - b["value"])) / w.sum(axis=1))
    return np.asarray(metric.weighted(a, w) - metric.weighted(b, w))


def weighted_score_delta(metric: Metric, a: Columns, b: Columns, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(metric(a), metric(a) − metric(b)) on the resamples ``w``, equal bit for bit to ``metric.weighted(a, w)``
    and :func:`_weighted_delta`: for Spearman the three rank passes (gold, a, b) are shared, not five."""
    if metric.family != "spearman":
        return np.asarray(metric.weighted(a, w)), _weighted_delta(metric, a, b, w)
    rg = _weighted_ranks_ties(a["gold"], w)
    score = np.asarray(spearman_from_ranks(rg, _weighted_ranks_ties(a["pred"], w), w))
    return score, np.asarray(score - spearman_from_ranks(rg, _weighted_ranks_ties(b["pred"], w), w))


def bootstrap_deltas(metric: Metric, a: Columns, b: Columns, n_bootstrap: int, rng: np.random.Generator, *,
                     units: Units | None = None) -> np.ndarray:
    """Metric(a) − metric(b) on ``n_bootstrap`` paired resamples (the same weights for both conditions).

    With item units the draws are those of ``rng.integers(0, n, (rows, n))`` per chunk: the same resamples as
    indexing the items with that matrix."""
    n = n_rows(a)
    units = units or Units.items(n)
    out = [_weighted_delta(metric, a, b, resample_weights(units, rows, rng)) for rows in chunk_sizes(n_bootstrap, n)]
    return np.concatenate(out) if out else np.empty(0)


def standardised(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _spearman_influence(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Empirical influence values of Spearman's rho, IF(x, y) = 12[F(x)G(y) + E G(Y)1{X ≥ x} + E F(X)1{Y ≥ y}]
    − 3ρ − 9 (F, G from mid-ranks)."""
    n = len(gold)
    u = (midranks(gold) - 0.5) / n
    v = (midranks(pred) - 0.5) / n

    def upper_mean(key: np.ndarray, val: np.ndarray) -> np.ndarray:  # (1/n) Σ_j val_j 1{key_j ≥ key_k}
        order = np.argsort(key, kind="stable")
        suffix = np.cumsum(val[order][::-1])[::-1]
        return np.asarray(suffix[np.searchsorted(key[order], key, side="left")] / n)

    rho = 12 * float(np.mean(u * v)) - 3
    return np.asarray(12 * (u * v + upper_mean(gold, v) + upper_mean(pred, u)) - 3 * rho - 9)


def _pearson_influence(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    g, p = standardised(gold), standardised(pred)
    r = float(np.mean(g * p))
    return np.asarray(g * p - r / 2 * (g * g + p * p))


def influence(metric: Metric, a: Columns, b: Columns) -> np.ndarray | None:
    """Per-item empirical influence values of the delta (None where not derived: bitext)."""
    if metric.family == "spearman":
        return _spearman_influence(a["gold"], a["pred"]) - _spearman_influence(a["gold"], b["pred"])
    if metric.family == "pearson":
        return _pearson_influence(a["gold"], a["pred"]) - _pearson_influence(a["gold"], b["pred"])
    if metric.family == "mean":
        d = a["value"] - b["value"]
        return np.asarray(d - d.mean())
    return None


def _text_jackknife(statistic: Callable[[np.ndarray], np.ndarray], d: np.ndarray, units: Units) -> float | None:
    """The corrected text-unit variance of a weighted statistic (see :func:`text_variance`); ``d`` are its
    per-item influence values."""
    n, g = units.n_items, units.n_units
    thetas: list[np.ndarray] = []
    first = 0
    for rows in chunk_sizes(g, n):  # row u: every item that involves unit u weighs 0
        w = np.ones((rows, n))
        for e in (units.ends if units.ends is not None else ()):
            k = np.flatnonzero((e >= first) & (e < first + rows))
            w[e[k] - first, k] = 0.0
        thetas.append(statistic(w))
        first += rows
    theta = np.concatenate(thetas)
    theta = theta[~np.isnan(theta)]
    if len(theta) < 3:
        return None
    jack = (len(theta) - 1) / len(theta) * float(((theta - theta.mean()) ** 2).sum())
    pair_level = float((d[units.crossed] ** 2).sum()) / n**2
    return max(jack - pair_level, float((d * d).sum()) / n**2)  # never below the independent-pairs variance


def text_variance(metric: Metric, a: Columns, b: Columns, units: Units) -> float | None:
    """Variance of the delta for the text unit: the delete-one-unit (vertex) jackknife, minus one copy of the
    pair-level term that it counts twice (a pair of two recurring texts leaves with either of them), estimated
    as Σ D_k² / n² over those pairs from the influence values D. None where it does not apply (no pair of two
    recurring texts, fewer than 3 units, or no influence values for the metric)."""
    if units.ends is None or not units.crossed.any() or units.n_units < 3:
        return None
    d = influence(metric, a, b)
    if d is None:
        return None
    return _text_jackknife(lambda w: _weighted_delta(metric, a, b, w), d, units)


def score_influence(metric: Metric, a: Columns) -> np.ndarray | None:
    """Per-item empirical influence values of one condition's score (None where not derived)."""
    if metric.family == "spearman":
        return _spearman_influence(a["gold"], a["pred"])
    if metric.family == "pearson":
        return _pearson_influence(a["gold"], a["pred"])
    if metric.family == "mean":
        return np.asarray(a["value"] - a["value"].mean())
    return None


def score_variance(metric: Metric, a: Columns, units: Units) -> float | None:
    """:func:`text_variance` for one condition's score instead of a delta."""
    if units.ends is None or not units.crossed.any() or units.n_units < 3:
        return None
    d = score_influence(metric, a)
    if d is None:
        return None
    return _text_jackknife(lambda w: np.asarray(metric.weighted(a, w)), d, units)


def bootstrap_scores(metric: Metric, a: Columns, n_bootstrap: int, rng: np.random.Generator, *,
                     units: Units | None = None) -> np.ndarray:
    """One condition's metric on ``n_bootstrap`` resamples of its units."""
    n = n_rows(a)
    units = units or Units.items(n)
    out = [np.asarray(metric.weighted(a, resample_weights(units, rows, rng))) for rows in chunk_sizes(n_bootstrap, n)]
    return np.concatenate(out) if out else np.empty(0)


def bootstrap_interval(metric: Metric, a: Columns, b: Columns, observed: float, n_bootstrap: int,
                       rng: np.random.Generator, *, units: Units, confidence: float = CONFIDENCE
                       ) -> tuple[float, float, float]:
    """(low, high, f): the percentile interval of the bootstrap deltas. For the text unit the deviations of the
    resampled deltas from ``observed`` are multiplied by f = sqrt(:func:`text_variance` / their variance), so
    that the interval keeps the vertex bootstrap's shape with the corrected variance; elsewhere f = 1."""
    return bootstrap_intervals(metric, [(a, b, observed)], n_bootstrap, rng, units=units, confidence=confidence)[0]


def bootstrap_intervals(metric: Metric, deltas: list[tuple[Columns, Columns, float]], n_bootstrap: int,
                        rng: np.random.Generator, *, units: Units, confidence: float = CONFIDENCE
                        ) -> list[tuple[float, float, float]]:
    """:func:`bootstrap_interval` of several deltas (a, b, observed) over the same items and units on one set of
    resamples: each equal bit for bit to its :func:`bootstrap_interval` alone from the same ``rng`` state; the
    weights, and for Spearman the ranks of a column that several deltas share (the gold, a common baseline),
    are computed once per chunk."""
    n = n_rows(deltas[0][0])
    boots: list[list[np.ndarray]] = [[] for _ in deltas]
    for rows in chunk_sizes(n_bootstrap, n):
        w = resample_weights(units, rows, rng)
        if metric.family != "spearman":
            for out, (a, b, _) in zip(boots, deltas, strict=True):
                out.append(_weighted_delta(metric, a, b, w))
            continue
        ranks = RankMemo(w)
        for out, (a, b, _) in zip(boots, deltas, strict=True):
            rg = ranks(a["gold"])
            out.append(np.asarray(spearman_from_ranks(rg, ranks(a["pred"]), w)
                                  - spearman_from_ranks(rg, ranks(b["pred"]), w)))
    alpha = (1 - confidence) / 2
    got = []
    for chunks, (a, b, observed) in zip(boots, deltas, strict=True):
        boot = np.concatenate(chunks) if chunks else np.empty(0)
        boot = boot[~np.isnan(boot)]
        if not len(boot):
            got.append((np.nan, np.nan, 1.0))
            continue
        lo, hi = (float(q) for q in np.quantile(boot, [alpha, 1 - alpha]))
        target = text_variance(metric, a, b, units)
        spread = float(boot.var()) if len(boot) > 1 else 0.0
        if target is None or spread <= 0:
            got.append((lo, hi, 1.0))
            continue
        scale = float(np.sqrt(target / spread))
        got.append((observed + scale * (lo - observed), observed + scale * (hi - observed), scale))
    return got


class RankMemo:
    """Weighted mid-ranks (with their tie terms) of item columns under one chunk's weights ``w``, each distinct
    column ranked once: the gold and a shared baseline's predictions recur in every delta of a view."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = w
        self.seen: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = []

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for y, got in self.seen:
            if y is x or (y.shape == x.shape and np.array_equal(y, x)):
                return got
        got = _weighted_ranks_ties(x, self.w)
        self.seen.append((x, got))
        return got
