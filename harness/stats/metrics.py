"""The metrics the statistics recompute from item-level predictions, row-wise over resamples (unweighted and
weighted by resample multiplicities), exactly as mteb computes them on the full set.

See :mod:`harness.stats.engine`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.results.schema import RETRIEVAL_LIKE
from harness.stats.followir import PMRR, pmrr_values, retrieval_part
from harness.stats.pair_cluster import (
    FUNCTION_ACCURACIES,
    FUNCTION_APS,
    MAX_AP_COLUMNS,
    _ap,
    _ap_w,
    _threshold_accuracy,
    _threshold_accuracy_w,
    _v_measure,
    _v_measure_w,
    cluster_run_columns,
    max_accuracy,
    max_accuracy_w,
    max_ap,
    max_ap_w,
    pair_function_columns,
)

Columns = dict[str, np.ndarray]

Family = Literal["spearman", "pearson", "mean", "labels", "ap", "vmeasure"]


def _rank_rows(x: np.ndarray) -> np.ndarray:
    if x.shape[0] == 1 or x.strides[0] == 0:  # one row (or one row broadcast, e.g. a shared gold): rank once
        return np.broadcast_to(midranks(x[0]), x.shape)
    from scipy.stats import rankdata  # only here: importing scipy.stats costs ≈ 0.4 s of a small aggregate

    return np.asarray(rankdata(x, axis=1, method="average"), dtype=np.float64)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-ranks of the items of ``x`` (1-D) in the sample that lists item k w[r, k] times, per row r of ``w``.

    An item of value v gets (weight of items < v) + (weight of items = v + 1) / 2: the average rank of its copies
    among the tie group of v, exactly ``rankdata`` on the expanded sample. No per-row sort: the order of ``x`` is
    fixed, only the weights vary."""
    return _weighted_ranks_ties(x, w)[0]


def _weighted_ranks_ties(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`weighted_ranks`, Σ over tie groups of c³ − c per row, c = a group's total weight): the second term
    gives the mid-ranks' spread in closed form (:func:`_spearman_w`)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.empty(len(xs), dtype=bool)
    new[:1] = True
    new[1:] = xs[1:] != xs[:-1]
    back = np.empty(len(x), dtype=np.int64)  # position of each item in the sorted order
    back[order] = np.arange(len(x))
    ws = np.take(w, order, axis=1)
    if new.all():  # no ties: every item is its own tie group
        mid = np.cumsum(ws, axis=1)
        mid -= (ws - 1) / 2
        return np.take(mid, back, axis=1), np.einsum("ij,ij,ij->i", ws, ws, ws) - ws.sum(axis=1)
    tied = np.add.reduceat(ws, np.flatnonzero(new), axis=1)  # weight of each tie group
    mid = np.cumsum(tied, axis=1)
    mid -= (tied - 1) / 2
    ties = np.einsum("ij,ij,ij->i", tied, tied, tied) - tied.sum(axis=1)
    return np.take(mid, (np.cumsum(new) - 1)[back], axis=1), ties


def midranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of a 1-D array, as ``scipy.stats.rankdata``."""
    return weighted_ranks(x, np.ones((1, len(x))))[0]


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of x and y with weights w (rows broadcast against w)."""
    x, y = np.broadcast_to(x, w.shape), np.broadcast_to(y, w.shape)
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = x - (np.einsum("ij,ij->i", w, x) / sw)[:, None]
        yc = y - (np.einsum("ij,ij->i", w, y) / sw)[:, None]
        wx = w * xc
        den = np.sqrt(np.einsum("ij,ij->i", wx, xc) * np.einsum("ij,ij,ij->i", w, yc, yc))
        return np.where(den > 0, np.einsum("ij,ij->i", wx, yc) / np.where(den > 0, den, 1.0), np.nan)


def _label_counts(labels: np.ndarray, n_labels: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per row, how often each label occurs (optionally weighted): (rows, n_labels)."""
    if weights is not None:
        labels = np.broadcast_to(labels, weights.shape)
    rows = labels.shape[0]
    flat = (labels + np.arange(rows)[:, None] * n_labels).ravel()
    w = None if weights is None else weights.ravel()
    return np.bincount(flat, weights=w, minlength=rows * n_labels).reshape(rows, n_labels).astype(np.float64)


def multiplicities(idx: np.ndarray, m: int) -> np.ndarray:
    """(rows, m): how often each of 0..m-1 occurs in each row of ``idx``."""
    return _label_counts(idx, m)


@dataclass(frozen=True)


class Metric:
    """A recomputable metric. ``score(cols)`` takes 2-D arrays (rows × items) and returns one value per row;
    ``weighted(cols, w)`` takes 1-D item columns and a (rows × items) weight matrix (the bootstrap's
    multiplicities). ``gold`` columns are shared by both conditions; ``paired`` columns are the conditions'
    predictions (swapped by the permutation test). ``family`` picks the permutation scheme."""

    name: str
    score: Callable[[Columns], np.ndarray]
    weighted: Callable[[Columns, np.ndarray], np.ndarray]
    gold: tuple[str, ...]
    paired: tuple[str, ...]
    family: Family

    @property
    def linear(self) -> bool:
        """score = mean of the one paired column: deltas reduce to means of per-item differences."""
        return self.family == "mean"


def _spearman(cols: Columns) -> np.ndarray:
    return pearson_rows(_rank_rows(cols["gold"]), _rank_rows(cols["pred"]))


def _pearson(cols: Columns) -> np.ndarray:
    return pearson_rows(cols["gold"], cols["pred"])


def _spearman_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return spearman_from_ranks(_weighted_ranks_ties(cols["gold"], w), _weighted_ranks_ties(cols["pred"], w), w)


def spearman_from_ranks(gold: tuple[np.ndarray, np.ndarray], pred: tuple[np.ndarray, np.ndarray],
                        w: np.ndarray) -> np.ndarray:
    """Weighted Pearson of two sets of weighted mid-ranks (each with its tie term from
    :func:`_weighted_ranks_ties`) in closed form: in the expanded sample of size W the mid-ranks' mean is
    (W + 1)/2 and their sum of squared deviations (W³ − W − Σ(c³ − c))/12, so only the cross product Σ w·rg·rp
    needs a pass over the items (one einsum instead of centring both rank matrices)."""
    (rg, tg), (rp, tp) = gold, pred
    total = w.sum(axis=1)
    mean = (total + 1) / 2
    sxx = (total**3 - total - tg) / 12
    syy = (total**3 - total - tp) / 12
    sxy = np.einsum("ij,ij,ij->i", w, rg, rp) - total * mean * mean
    den = np.sqrt(np.maximum(sxx, 0.0) * np.maximum(syy, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, sxy / np.where(den > 0, den, 1.0), np.nan)


def _pearson_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return weighted_pearson(cols["gold"][None, :], cols["pred"][None, :], w)


def _mean_value(cols: Columns) -> np.ndarray:
    return np.asarray(cols["value"].mean(axis=1), dtype=np.float64)


def _mean_value_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return np.asarray((w @ cols["value"]) / w.sum(axis=1), dtype=np.float64)


def _incidence(labels: np.ndarray, m: int, values: np.ndarray | None = None) -> Any:
    """(items × m) scipy.sparse one-hot of the items' labels (entries ``values``, default 1)."""
    from scipy.sparse import csr_matrix

    n = len(labels)
    data = np.ones(n) if values is None else np.asarray(values, dtype=np.float64)
    return csr_matrix((data, (np.arange(n), labels)), shape=(n, m))


def _times(w: np.ndarray, incidence: Any) -> np.ndarray:
    """Dense (rows × items) @ sparse (items × m) as a dense (rows × m) array."""
    return np.ascontiguousarray((incidence.T @ w.T).T, dtype=np.float64)


def _bitext_counts(gold: np.ndarray, pred: np.ndarray, w: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g, p = gold.astype(np.int64), pred.astype(np.int64)
    m = int(max(g.max(), p.max())) + 1
    hit = (g == p).astype(np.float64)
    if w is None:
        return _label_counts(g, m), _label_counts(p, m), _label_counts(g, m, weights=hit)
    return _label_counts(g, m, weights=w), _label_counts(p, m, weights=w), _label_counts(g, m, weights=w * hit)


def _scoring_labels(g: np.ndarray, *preds: np.ndarray) -> np.ndarray:
    """The labels whose term in a weighted precision / recall / F1 can be non-zero: each term is support × a
    ratio with the label's true positives on top, and an item is a true positive only of its own gold label and
    only where a prediction hits it. Every other label adds exactly 0 (sums over the rest differ from sums over
    all labels only in the order of the additions)."""
    hit = np.zeros(len(g), dtype=bool)
    for p in preds:
        hit |= g == p
    return np.unique(g[hit])


def _bitext_weighted(kind: str, gold: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`_bitext_from_counts` of the weighted counts (1-D item columns, rows × items weights) over the
    scoring labels only; the denominator Σ support = Σ w (each item has one gold label)."""
    g, p = gold.astype(np.int64), pred.astype(np.int64)
    m = int(max(g.max(), p.max())) + 1
    keep = _scoring_labels(g, p)
    hit = (g == p).astype(np.float64)
    return _bitext_from_counts(kind, _times(w, _incidence(g, m)[:, keep]), _times(w, _incidence(p, m)[:, keep]),
                               _times(w, _incidence(g, m, hit)[:, keep]), total=w.sum(axis=1))


def bitext_swap_scores(kind: str, gold: np.ndarray, pa: np.ndarray, pb: np.ndarray, swap: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The two conditions' bitext scores (``kind``: accuracy | f1 | precision | recall) after each row of
    ``swap`` (rows × items, True = the item's two predictions exchanged), from sparse label incidence: a swap
    moves an item's predicted-label and true-positive counts by the difference of the two conditions' one-hot
    rows, so every count is base + S @ (difference), integer-valued and exact (equal to counting the swapped
    predictions)."""
    g, a, b = gold.astype(np.int64), pa.astype(np.int64), pb.astype(np.int64)
    s = swap.astype(np.float64)
    hit_a, hit_b = (g == a).astype(np.float64), (g == b).astype(np.float64)
    n = len(g)
    if kind == "accuracy":
        moved = s @ (hit_b - hit_a)
        return (hit_a.sum() + moved) / n, (hit_b.sum() - moved) / n
    m = int(max(g.max(), a.max(), b.max())) + 1
    keep = _scoring_labels(g, a, b)  # every other label's term is 0 whatever the swap
    support = np.broadcast_to(_label_counts(g[None, :], m)[:, keep], (len(s), len(keep)))
    pred_move = _times(s, (_incidence(b, m) - _incidence(a, m))[:, keep])
    tp_move = _times(s, _incidence(g, m, hit_b - hit_a)[:, keep])
    base_pa, base_pb = _label_counts(a[None, :], m)[:, keep], _label_counts(b[None, :], m)[:, keep]
    base_ta = _label_counts(g[None, :], m, weights=hit_a[None, :])[:, keep]
    base_tb = _label_counts(g[None, :], m, weights=hit_b[None, :])[:, keep]
    total = np.full(len(s), float(n))  # Σ support: each item has one gold label
    return (_bitext_from_counts(kind, support, base_pa + pred_move, base_ta + tp_move, total=total),
            _bitext_from_counts(kind, support, base_pb - pred_move, base_tb - tp_move, total=total))


def _bitext_from_counts(kind: str, support: np.ndarray, predicted: np.ndarray, tp: np.ndarray,
                        total: np.ndarray | None = None) -> np.ndarray:
    """Σ support × per-label score / Σ support, per row (``total``: Σ support where only some labels are given)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "f1":
            per_label = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        elif kind == "precision":
            per_label = np.where(predicted > 0, tp / predicted, 0.0)
        else:  # recall
            per_label = np.where(support > 0, tp / support, 0.0)
        den = support.sum(axis=1) if total is None else total
        return np.asarray((support * per_label).sum(axis=1) / den, dtype=np.float64)


def _bitext(kind: str) -> tuple[Callable[[Columns], np.ndarray], Callable[[Columns, np.ndarray], np.ndarray]]:
    """scikit-learn's ``average="weighted"`` precision / recall / F1 (zero_division=0), row-wise and weighted."""

    def score(cols: Columns) -> np.ndarray:
        return _bitext_from_counts(kind, *_bitext_counts(cols["gold"], cols["pred"], None))

    def weighted(cols: Columns, w: np.ndarray) -> np.ndarray:
        if np.ndim(cols["gold"]) == 1 and np.ndim(cols["pred"]) == 1:
            return _bitext_weighted(kind, cols["gold"], cols["pred"], w)
        return _bitext_from_counts(kind, *_bitext_counts(cols["gold"], cols["pred"], w))

    return score, weighted


def _bitext_accuracy(cols: Columns) -> np.ndarray:
    return np.asarray((cols["gold"] == cols["pred"]).mean(axis=1), dtype=np.float64)


def _bitext_accuracy_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return np.asarray((w @ (cols["gold"] == cols["pred"]).astype(np.float64)) / w.sum(axis=1), dtype=np.float64)


_AT_K = re.compile(r"^(ndcg|map|recall|precision|mrr|hit_rate)_at_(\d+)$")


def metric_for(task_type: str, metric: str) -> Metric | None:
    """The recomputable metric ``metric`` of a task type, or None."""
    if task_type == "STS" and metric in ("cosine_spearman", "spearman"):
        return Metric(metric, _spearman, _spearman_w, ("gold",), ("pred",), "spearman")
    if task_type == "STS" and metric in ("cosine_pearson", "pearson"):
        return Metric(metric, _pearson, _pearson_w, ("gold",), ("pred",), "pearson")
    if task_type in RETRIEVAL_LIKE and (metric == "accuracy" or _AT_K.match(metric)):
        return Metric(metric, _mean_value, _mean_value_w, (), ("value",), "mean")
    if task_type == "InstructionReranking" and metric == PMRR:  # mean over queries of a per-query value
        return Metric(metric, _mean_value, _mean_value_w, (), ("value",), "mean")
    if task_type == "Summarization" and metric in SUMMARIZATION_METRICS:  # mean over texts of a per-text value
        return Metric(metric, _mean_value, _mean_value_w, (), ("value",), "mean")
    if task_type in ("BitextMining", "Classification", "MultilabelClassification") and metric == "accuracy":
        return Metric(metric, _bitext_accuracy, _bitext_accuracy_w, ("gold",), ("pred",), "labels")
    if task_type == "PairClassification" and metric in FUNCTION_APS:  # registry frames: any of mteb's five
        return Metric(metric, _ap, _ap_w, ("gold",), ("pred",), "ap")
    if task_type == "PairClassification" and metric == "max_ap":  # registry: the best of the five, per resample
        return Metric(metric, max_ap, max_ap_w, ("gold",), MAX_AP_COLUMNS, "ap")
    if task_type == "PairClassification" and metric in FUNCTION_ACCURACIES:  # the best threshold, per resample
        return Metric(metric, _threshold_accuracy, _threshold_accuracy_w, ("gold",), ("pred",), "ap")
    if task_type == "PairClassification" and metric == "max_accuracy":
        return Metric(metric, max_accuracy, max_accuracy_w, ("gold",), MAX_AP_COLUMNS, "ap")
    if task_type == "Clustering" and metric == "v_measure":  # cnt: how often a run drew the text (folders: 1)
        return Metric(metric, _v_measure, _v_measure_w, ("gold", "cnt"), ("pred",), "vmeasure")
    if task_type == "BitextMining" and metric in ("f1", "precision", "recall"):
        score, weighted = _bitext(metric)
        return Metric(metric, score, weighted, ("gold",), ("pred",), "labels")
    return None


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


SUMMARIZATION_METRICS = ("cosine_spearman", "cosine_pearson")


def _summarization_values(df: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per source text (item), the Spearman or Pearson correlation between its machine summaries' human scores
    and their cosine scores — mteb's per-text value, whose mean over texts is the task's score (NaN where a text's
    scores are constant, as in scipy and hence mteb)."""
    from scipy.stats import pearsonr, spearmanr

    d = df.sort_values(["item"], kind="stable")
    items = np.unique(d["item"].to_numpy(np.int64))
    corr = spearmanr if metric == "cosine_spearman" else pearsonr
    values = np.array([float(corr(g.gold.to_numpy(np.float64), g.prediction.to_numpy(np.float64)).statistic)
                       for _, g in d.groupby("item", sort=True)])
    return items, values


def item_columns(task_type: str, metric: str, df: pd.DataFrame) -> tuple[np.ndarray, Columns]:
    """(item ids, {column: per-item values}) for one cell × subset × split of predictions."""
    if task_type == "InstructionReranking":  # FollowIR: p-MRR rows beside the Retrieval rows
        if metric == PMRR:
            items, values = pmrr_values(df)
            return items, {"value": values}
        df = retrieval_part(df)
    if task_type in RETRIEVAL_LIKE:
        items, values = _retrieval_values(df, metric)
        return items, {"value": values}
    if task_type == "Summarization":
        items, values = _summarization_values(df, metric)
        return items, {"value": values}
    registry = "doc_id" in df.columns and bool(df["doc_id"].notna().any())  # mteb's registry tasks' rows
    if registry and task_type == "PairClassification":  # five rows per pair: one per scoring function
        return pair_function_columns(metric, df)
    if registry and task_type == "Clustering":  # one row per (text, k-means run that drew it)
        return cluster_run_columns(df)
    d = df.sort_values("item")
    pred = d["prediction"].to_numpy(np.float64)
    if task_type == "PairClassification" and metric not in ("similarity_ap", "similarity_accuracy"):
        raise ValueError(f"{metric}: a task folder's pair predictions hold the model's similarity only")
    if task_type == "Clustering":  # each text once
        return d["item"].to_numpy(), {"gold": d["gold"].to_numpy(np.float64), "pred": pred, "cnt": np.ones(len(d))}
    if task_type == "PairClassification":  # AP depends on the order only: the within-cell mid-rank, scaled to
        pred = midranks(pred) / len(pred)  # (0, 1], makes two conditions' values exchangeable for the swap test
    return d["item"].to_numpy(), {"gold": d["gold"].to_numpy(np.float64), "pred": pred}

TEXT_COLUMNS = ("text1", "text2")


def item_texts(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(item ids, text1, text2) sorted by item, from a predictions frame with ``text1``/``text2`` columns (STS:
    the pair's two texts as the task states them, before any instruction), or None without them."""
    if not set(TEXT_COLUMNS) <= set(df.columns):
        return None
    d = df.sort_values("item")
    return d["item"].to_numpy(), d["text1"].to_numpy(object), d["text2"].to_numpy(object)


def recompute(task_type: str, metric: str, df: pd.DataFrame) -> float | None:
    """The metric on the full set of items (what mteb reported, up to its rounding to 6 decimals)."""
    m = metric_for(task_type, metric)
    if m is None or df.empty:
        return None
    _, cols = item_columns(task_type, metric, df)
    return float(m.score({k: v[None, :] for k, v in cols.items()})[0])
