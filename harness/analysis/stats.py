"""Paired statistics for deltas, recomputed from item-level predictions.

A delta compares two conditions of the same model on the same items. From each cell's predictions parquet
(:data:`harness.results.PREDICTIONS_SCHEMA`) this module recomputes the task's main metric exactly as mteb
computes it, on the full set (checked against mteb's stored score) and on resampled items:

- **paired bootstrap**: ``n_bootstrap`` resamples of the items with replacement, the *same* resampled items for both
  conditions; the 95% interval is the 2.5th and 97.5th percentile of the resampled deltas (percentile method);
- **paired permutation test**: under the null hypothesis the two conditions are exchangeable per item, so each
  item's two predictions are swapped at random (for a mean of per-item values this is a sign flip of the per-item
  difference) and the metric recomputed; two-sided p = (1 + #{|Δ*| ≥ |Δ|}) / (1 + R). When 2^n ≤ R every one of the
  2^n swap patterns is enumerated instead and p is exact (#{|Δ*| ≥ |Δ|} / 2^n);
- **Holm** adjustment across every delta of the grid (:func:`holm`).

All resampling is vectorised (one index or swap matrix per chunk of resamples) and seeded per delta from a hash of
its identity, so reruns give identical numbers whatever else is in the grid.

Metrics (per task type; anything else gets no interval):

- STS: ``cosine_spearman``, ``cosine_pearson`` (gold vs cosine, as mteb's ``scipy.stats`` calls);
- Retrieval: ``ndcg_at_k``, ``map_at_k``, ``recall_at_k``, ``precision_at_k``, ``hit_rate_at_k`` (pytrec_eval's
  definitions, relevance ≥ 1 counts), ``mrr_at_k`` (mteb's own), ``accuracy`` (= recall_at_1) — each a mean over
  queries of a per-query value computed from the 1-based ranks of the relevant documents;
- BitextMining: ``accuracy``, and ``f1`` / ``precision`` / ``recall`` as scikit-learn's support-weighted averages
  over labels with ``zero_division=0`` (what mteb calls).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

N_BOOTSTRAP = 2000
N_PERMUTATIONS = 5000
CONFIDENCE = 0.95
SEED = 0
_CHUNK_CELLS = 2_000_000  # resamples × items materialised at once (bounds memory to a few tens of MB)
_TOL = 1e-12  # |Δ*| ≥ |Δ| − tol: ties with the observed delta count as extreme

Columns = dict[str, np.ndarray]


# -- metrics on rows of resampled items -------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A metric computed row-wise: ``score(cols)`` takes 2-D arrays (resamples × items) and returns one value per
    row. ``gold`` columns are shared by both conditions; ``paired`` columns are the conditions' predictions
    (swapped by the permutation test)."""

    name: str
    score: Callable[[Columns], np.ndarray]
    gold: tuple[str, ...]
    paired: tuple[str, ...]
    linear: bool = False  # score = mean of the one paired column: deltas reduce to means of per-item differences


def _rank_rows(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    if x.shape[0] > 1 and x.strides[0] == 0:  # one row broadcast (the permutation test's shared gold): rank once
        return np.broadcast_to(np.asarray(rankdata(x[0]), dtype=np.float64), x.shape)
    return np.asarray(rankdata(x, axis=1, method="average"), dtype=np.float64)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def _spearman(cols: Columns) -> np.ndarray:
    return _pearson_rows(_rank_rows(cols["gold"]), _rank_rows(cols["pred"]))


def _pearson(cols: Columns) -> np.ndarray:
    return _pearson_rows(cols["gold"], cols["pred"])


def _mean_value(cols: Columns) -> np.ndarray:
    return np.asarray(cols["value"].mean(axis=1), dtype=np.float64)


def _label_counts(labels: np.ndarray, n_labels: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per row, how often each label occurs (optionally weighted): (rows, n_labels)."""
    rows = labels.shape[0]
    flat = (labels + np.arange(rows)[:, None] * n_labels).ravel()
    w = None if weights is None else weights.ravel()
    return np.bincount(flat, weights=w, minlength=rows * n_labels).reshape(rows, n_labels).astype(np.float64)


def _bitext(kind: str) -> Callable[[Columns], np.ndarray]:
    """scikit-learn's ``average="weighted"`` precision / recall / F1 (zero_division=0), row-wise."""

    def score(cols: Columns) -> np.ndarray:
        gold, pred = cols["gold"].astype(np.int64), cols["pred"].astype(np.int64)
        m = int(max(gold.max(), pred.max())) + 1
        support = _label_counts(gold, m)
        predicted = _label_counts(pred, m)
        tp = _label_counts(gold, m, weights=(gold == pred).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "f1":
                per_label = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
            elif kind == "precision":
                per_label = np.where(predicted > 0, tp / predicted, 0.0)
            else:  # recall
                per_label = np.where(support > 0, tp / support, 0.0)
        return np.asarray((support * per_label).sum(axis=1) / support.sum(axis=1), dtype=np.float64)

    return score


def _bitext_accuracy(cols: Columns) -> np.ndarray:
    return np.asarray((cols["gold"] == cols["pred"]).mean(axis=1), dtype=np.float64)


_AT_K = re.compile(r"^(ndcg|map|recall|precision|mrr|hit_rate)_at_(\d+)$")


def metric_for(task_type: str, metric: str) -> Metric | None:
    """The recomputable metric ``metric`` of a task type, or None."""
    if task_type == "STS" and metric in ("cosine_spearman", "spearman"):
        return Metric(metric, _spearman, ("gold",), ("pred",))
    if task_type == "STS" and metric in ("cosine_pearson", "pearson"):
        return Metric(metric, _pearson, ("gold",), ("pred",))
    if task_type == "Retrieval" and (metric == "accuracy" or _AT_K.match(metric)):
        return Metric(metric, _mean_value, (), ("value",), linear=True)
    if task_type == "BitextMining" and metric == "accuracy":
        return Metric(metric, _bitext_accuracy, ("gold",), ("pred",))
    if task_type == "BitextMining" and metric in ("f1", "precision", "recall"):
        return Metric(metric, _bitext(metric), ("gold",), ("pred",))
    return None


# -- item columns from a predictions frame ----------------------------------------------------------------------
def _retrieval_values(df: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per query (item), the metric's per-query value from the ranks of its relevant documents (vectorised over
    the rows: one row per query × relevant document)."""
    if metric == "accuracy":
        name, k = "recall", 1
    else:
        match = _AT_K.match(metric)
        if match is None:
            raise ValueError(f"not a retrieval metric: {metric}")
        name, k = match.group(1), int(match.group(2))
    item = df["item"].to_numpy(np.int64)
    rel = df["gold"].to_numpy(np.float64)
    rank = df["rank"].to_numpy(dtype=np.float64, na_value=np.inf)  # not retrieved: never within k
    items, pos = np.unique(item, return_inverse=True)
    n = len(items)

    def per_item(x: np.ndarray) -> np.ndarray:
        return np.bincount(pos, weights=x.astype(np.float64), minlength=n)

    relevant = rel >= 1  # pytrec_eval's default relevance level
    hits = relevant & (rank <= k)
    n_rel = per_item(relevant)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "ndcg":  # gain = relevance, discount log2(rank + 1); ideal = the qrels sorted, cut at k
            within = (rank <= k) & (rel > 0)
            dcg = per_item(np.where(within, rel / np.log2(np.where(within, rank, 1.0) + 1), 0.0))
            order = np.lexsort((-rel, pos))
            first = np.searchsorted(pos[order], np.arange(n))
            place = np.arange(len(order)) - first[pos[order]]  # 0-based position in the ideal ranking
            ideal_gain = np.where(place < k, np.clip(rel[order], 0, None) / np.log2(place + 2.0), 0.0)
            idcg = np.bincount(pos[order], weights=ideal_gain, minlength=n)
            values = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)
        elif name == "recall":
            values = np.where(n_rel > 0, per_item(hits) / np.where(n_rel > 0, n_rel, 1.0), 0.0)
        elif name == "precision":
            values = per_item(hits) / k
        elif name == "hit_rate":
            values = (per_item(hits) > 0).astype(np.float64)
        elif name == "map":  # sum over hits of (hits up to this rank) / rank, over all relevant documents
            order = np.lexsort((rank, pos))
            h = hits[order].astype(np.float64)
            cum = np.cumsum(h)
            start = np.searchsorted(pos[order], np.arange(n))
            before = np.concatenate([[0.0], cum])[start][pos[order]]
            prec = np.where(h > 0, (cum - before) / rank[order], 0.0)
            ap = np.bincount(pos[order], weights=prec, minlength=n)
            values = np.where(n_rel > 0, ap / np.where(n_rel > 0, n_rel, 1.0), 0.0)
        else:  # mrr (mteb's own): 1 / rank of the first document with relevance > 0 within k
            best = np.full(n, np.inf)
            np.minimum.at(best, pos, np.where((rel > 0) & (rank <= k), rank, np.inf))
            values = np.where(np.isfinite(best), 1.0 / best, 0.0)
    return items, values


def item_columns(task_type: str, metric: str, df: pd.DataFrame) -> tuple[np.ndarray, Columns]:
    """(item ids, {column: per-item values}) for one cell × subset × split of predictions."""
    if task_type == "Retrieval":
        items, values = _retrieval_values(df, metric)
        return items, {"value": values}
    d = df.sort_values("item")
    return d["item"].to_numpy(), {"gold": d["gold"].to_numpy(np.float64), "pred": d["prediction"].to_numpy(
        np.float64)}


def recompute(task_type: str, metric: str, df: pd.DataFrame) -> float | None:
    """The metric on the full set of items (what mteb reported, up to its rounding to 6 decimals)."""
    m = metric_for(task_type, metric)
    if m is None or df.empty:
        return None
    _, cols = item_columns(task_type, metric, df)
    return float(m.score({k: v[None, :] for k, v in cols.items()})[0])


# -- paired bootstrap and permutation test ----------------------------------------------------------------------
@dataclass(frozen=True)
class PairedStats:
    delta: float  # metric(a) − metric(b) on the full set
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    n_bootstrap: int
    n_permutations: int  # swap patterns evaluated (2^n when exact)
    exact: bool  # p by full enumeration

    @property
    def p_method(self) -> str:
        return "exact" if self.exact else "permutation"


def seed_for(*parts: object) -> int:
    """A stable 64-bit seed from a delta's identity (independent of grid order and Python's hash salt)."""
    blob = "\x1f".join(str(p) for p in (SEED, *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little")


def _chunks(total: int, n_items: int) -> Iterator[int]:
    size = max(1, _CHUNK_CELLS // max(1, n_items))
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def bootstrap_deltas(metric: Metric, a: Columns, b: Columns, n_bootstrap: int, rng: np.random.Generator
                     ) -> np.ndarray:
    """Metric(a) − metric(b) on ``n_bootstrap`` paired resamples (the same item indices for both)."""
    n = len(next(iter(a.values())))
    out = []
    diff = a["value"] - b["value"] if metric.linear else None
    for rows in _chunks(n_bootstrap, n):
        idx = rng.integers(0, n, size=(rows, n))
        if diff is not None:
            out.append(diff[idx].mean(axis=1))
            continue
        ra = {k: v[idx] for k, v in a.items()}
        rb = {k: (a[k] if k in metric.gold else v)[idx] for k, v in b.items()}
        out.append(metric.score(ra) - metric.score(rb))
    return np.concatenate(out)


def _swap_deltas(metric: Metric, a: Columns, b: Columns, swap: np.ndarray) -> np.ndarray:
    if metric.linear:  # swapping an item's two values flips the sign of its difference
        diff = a["value"] - b["value"]
        return np.asarray((np.where(swap, -1.0, 1.0) @ diff) / len(diff), dtype=np.float64)
    ra: Columns = {}
    rb: Columns = {}
    for k in a:
        if k in metric.paired:
            ra[k] = np.where(swap, b[k][None, :], a[k][None, :])
            rb[k] = np.where(swap, a[k][None, :], b[k][None, :])
        else:
            ra[k] = rb[k] = np.broadcast_to(a[k], swap.shape)
    return metric.score(ra) - metric.score(rb)


def all_swaps(n: int) -> np.ndarray:
    """Every one of the 2^n swap patterns of n items (row i = the bits of i)."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)


def permutation_p(metric: Metric, a: Columns, b: Columns, observed: float, n_permutations: int,
                  rng: np.random.Generator) -> tuple[float, int, bool]:
    """Two-sided paired permutation p-value: (p, patterns evaluated, exact?)."""
    n = len(next(iter(a.values())))
    if n <= 20 and 2**n <= n_permutations:
        stats = _swap_deltas(metric, a, b, all_swaps(n))
        extreme = np.abs(stats) >= abs(observed) - _TOL
        return float(extreme.mean()), 2**n, True
    count = 0
    valid = 0
    for rows in _chunks(n_permutations, n):
        stats = _swap_deltas(metric, a, b, rng.random((rows, n)) < 0.5)
        ok = ~np.isnan(stats)
        valid += int(ok.sum())
        count += int((np.abs(stats[ok]) >= abs(observed) - _TOL).sum())
    return (1 + count) / (1 + valid), n_permutations, False


def paired_stats(metric: Metric, a: Columns, b: Columns, *, seed: int, n_bootstrap: int = N_BOOTSTRAP,
                 n_permutations: int = N_PERMUTATIONS, confidence: float = CONFIDENCE) -> PairedStats:
    """Delta a − b with its paired-bootstrap interval and permutation p-value. ``a`` and ``b`` hold the same items
    in the same order; their ``gold`` columns must be equal."""
    n = len(next(iter(a.values())))
    for k in metric.gold:
        if not np.array_equal(a[k], b[k]):
            raise ValueError(f"{metric.name}: the two conditions disagree on the gold column '{k}'")
    one = {k: v[None, :] for k, v in a.items()}
    two = {k: v[None, :] for k, v in b.items()}
    observed = float(metric.score(one)[0] - metric.score(two)[0])
    boot_rng, perm_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    boot = bootstrap_deltas(metric, a, b, n_bootstrap, boot_rng)
    boot = boot[~np.isnan(boot)]
    alpha = (1 - confidence) / 2
    lo, hi = (np.quantile(boot, [alpha, 1 - alpha]) if len(boot) else (np.nan, np.nan))
    p, n_perm, exact = permutation_p(metric, a, b, observed, n_permutations, perm_rng)
    return PairedStats(observed, float(lo), float(hi), p, n, n_bootstrap, n_perm, exact)


def pair_items(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame) -> tuple[Columns, Columns]:
    """Align two cells' predictions (same subset and split) on their item ids."""
    ia, ca = item_columns(task_type, metric, a)
    ib, cb = item_columns(task_type, metric, b)
    if not np.array_equal(ia, ib):
        common, pa, pb = np.intersect1d(ia, ib, return_indices=True)
        if len(common) == 0:
            raise ValueError("the two conditions share no items")
        ca = {k: v[pa] for k, v in ca.items()}
        cb = {k: v[pb] for k, v in cb.items()}
    return ca, cb


def delta_stats(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame, *, seed: int,
                **kwargs: Any) -> PairedStats | None:
    """Paired statistics of metric(a) − metric(b) from two prediction frames, or None when not recomputable."""
    m = metric_for(task_type, metric)
    if m is None or a.empty or b.empty:
        return None
    ca, cb = pair_items(task_type, metric, a, b)
    return paired_stats(m, ca, cb, seed=seed, **kwargs)


# -- multiple comparisons ---------------------------------------------------------------------------------------
def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN entries are left out of the family and stay NaN).

    Sorted ascending, p_(i) is multiplied by (m − i + 1); a running maximum keeps the order; capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = p[ok]
    order = np.argsort(vals, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(vals[order] * (m - np.arange(m))))
    res = np.empty(m)
    res[order] = adjusted
    out[ok] = res
    return out
