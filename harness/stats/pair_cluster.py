"""Average precision and v-measure, row-wise and weighted: the PairClassification and Clustering metrics, of
task folders and of mteb's registry tasks (see :mod:`harness.stats.metrics`, which builds the
:class:`~harness.stats.metrics.Metric` objects from these functions).

Registry PairClassification (``max_ap``): mteb scores every pair with five functions (the model's similarity,
cosine, dot product, and Manhattan and Euclidean *distances*, ranked ascending) and reports the best AP of the five;
each pair's rows keep all five scores (``doc_id`` = the function), and ``max_ap`` is recomputed as that maximum on
every resample (the chosen function may differ between resamples); ``max_accuracy`` likewise, with mteb's best
threshold per function re-chosen on every resample. Registry Clustering: mteb's mean over its
k-means runs of each run's v-measure on the documents it drew (with replacement); each (document, run) row keeps
the label, the cluster and how often the run drew it (``rank``), and the mean is recomputed with the documents
resampled, their clusters in every run fixed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]

# mteb's AbsTaskPairClassification._compute_metrics: name → whether a higher score means more similar
PAIR_FUNCTIONS = {"similarity": True, "cosine": True, "manhattan": False, "euclidean": False, "dot": True}
FUNCTION_APS = tuple(f"{name}_ap" for name in PAIR_FUNCTIONS)
FUNCTION_ACCURACIES = tuple(f"{name}_accuracy" for name in PAIR_FUNCTIONS)
MAX_AP_COLUMNS = tuple(f"pred_{name}" for name in PAIR_FUNCTIONS)


def _block_ends(s: np.ndarray) -> np.ndarray:
    """For scores sorted descending along the last axis: each position's index of the last item tied with it."""
    n = s.shape[-1]
    end = np.ones(s.shape, dtype=bool)
    end[..., :-1] = s[..., :-1] != s[..., 1:]
    idx = np.where(end, np.arange(n), n)
    return np.asarray(np.minimum.accumulate(idx[..., ::-1], axis=-1)[..., ::-1])


def _ap_sorted(y: np.ndarray, w: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's: precision at each distinct score, weighted by the recall gained there)
    of items already sorted by score descending: labels ``y``, weights ``w`` (rows × items), tie blocks ``ends``."""
    tp = np.cumsum(w * y, axis=-1)
    fp = np.cumsum(w * (1 - y), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = tp / (tp + fp)
        at_end = np.take_along_axis(prec, np.broadcast_to(ends, prec.shape), axis=-1)
        return np.asarray(np.nansum(w * y * at_end, axis=-1) / (w * y).sum(axis=-1), dtype=np.float64)


def _ap(cols: Columns) -> np.ndarray:
    """Row-wise average precision of label-1 items ranked by ``pred`` (higher = more similar)."""
    pred = np.asarray(cols["pred"], dtype=np.float64)
    gold = np.broadcast_to(cols["gold"], pred.shape)
    order = np.argsort(-pred, axis=-1, kind="stable")
    s = np.take_along_axis(pred, order, axis=-1)
    y = np.take_along_axis(gold, order, axis=-1)
    return _ap_sorted(y, np.ones_like(s), _block_ends(s))


def _ap_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    order = np.argsort(-cols["pred"], kind="stable")
    s, y = cols["pred"][order], cols["gold"][order]
    return _ap_sorted(y[None, :], w[:, order], _block_ends(s)[None, :])


def _v_measure_counts(table: np.ndarray) -> np.ndarray:
    """scikit-learn's v-measure (β = 1) from contingency tables (rows × labels × clusters) of (weighted) counts:
    2·I(C; K) / (H(C) + H(K)), 1 where both entropies are 0 (sklearn: homogeneity = completeness = 1)."""
    n = table.sum(axis=(1, 2))
    pc = table.sum(axis=2) / n[:, None]
    pk = table.sum(axis=1) / n[:, None]
    p = table / n[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        hc = -np.nansum(np.where(pc > 0, pc * np.log(pc), 0.0), axis=1)
        hk = -np.nansum(np.where(pk > 0, pk * np.log(pk), 0.0), axis=1)
        ratio = np.where(p > 0, p / (pc[:, :, None] * pk[:, None, :]), 1.0)
        mi = np.nansum(np.where(p > 0, p * np.log(ratio), 0.0), axis=(1, 2))
        den = hc + hk
        return np.asarray(np.where(den > 0, 2 * mi / np.where(den > 0, den, 1.0), 1.0), dtype=np.float64)


def _contingency(gold: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    g, k = gold.astype(np.int64), pred.astype(np.int64)
    mg, mk = int(g.max()) + 1, int(k.max()) + 1
    codes = np.broadcast_to(g * mk + k, w.shape) + np.arange(len(w))[:, None] * (mg * mk)
    flat = np.bincount(codes.ravel(), weights=w.ravel(), minlength=len(w) * mg * mk).astype(np.float64)
    return flat.reshape(len(w), mg, mk)


def _v_measure(cols: Columns) -> np.ndarray:
    if "cnt" in cols and np.ndim(cols["pred"]) == 3:  # registry runs: (rows × items × runs)
        return np.concatenate([runs_v_measure_w({k: v[i] for k, v in cols.items()},
                                                np.ones((1, cols["pred"].shape[1]))) for i in range(len(cols["pred"]))])
    pred = np.asarray(cols["pred"])
    gold = np.broadcast_to(cols["gold"], pred.shape)
    out = [_v_measure_counts(_contingency(gold[i], pred[i], np.ones((1, pred.shape[-1])))) for i in
           range(len(pred))]
    return np.concatenate(out) if out else np.empty(0)


def _v_measure_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    if "cnt" in cols and np.ndim(cols["pred"]) == 2:  # registry runs: (items × runs)
        return runs_v_measure_w(cols, w)
    return _v_measure_counts(_contingency(cols["gold"], cols["pred"], w))


def _distinct(cols: Columns) -> list[np.ndarray]:
    """The functions' rank columns, each distinct one once (for a model with unit-length embeddings cosine, dot,
    Euclidean and its own similarity rank the pairs alike: their APs are computed once)."""
    out: list[np.ndarray] = []
    for c in MAX_AP_COLUMNS:
        if not any(np.array_equal(cols[c], kept) for kept in out):
            out.append(cols[c])
    return out


def max_ap(cols: Columns) -> np.ndarray:
    """mteb's ``max_ap``: the largest of the five functions' APs, row-wise."""
    return np.asarray(np.max([_ap({"gold": cols["gold"], "pred": x}) for x in _distinct(cols)], axis=0))


def max_ap_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return np.asarray(np.max([_ap_w({"gold": cols["gold"], "pred": x}, w) for x in _distinct(cols)], axis=0))


def _accuracy_sorted(y: np.ndarray, w: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """mteb's best-threshold accuracy (``_find_best_acc_and_threshold``) of items sorted by score descending:
    a threshold after each tie block that leaves at least one item (of positive weight) on each side; accuracy =
    (positives above + negatives below) / total weight; 0 where no threshold exists (mteb's start value)."""
    cw = np.cumsum(w, axis=-1)
    tp = np.cumsum(w * y, axis=-1)
    total = cw[..., -1:]
    neg = total - tp[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = (tp + neg - (cw - tp)) / total
    valid = ends & (cw > 0) & (cw < total)
    return np.asarray(np.where(valid, acc, 0.0).max(axis=-1), dtype=np.float64)


def _threshold_accuracy(cols: Columns) -> np.ndarray:
    pred = np.asarray(cols["pred"], dtype=np.float64)
    gold = np.broadcast_to(cols["gold"], pred.shape)
    order = np.argsort(-pred, axis=-1, kind="stable")
    s = np.take_along_axis(pred, order, axis=-1)
    ends = np.ones(s.shape, dtype=bool)
    ends[..., :-1] = s[..., :-1] != s[..., 1:]
    return _accuracy_sorted(np.take_along_axis(gold, order, axis=-1), np.ones_like(s), ends)


def _threshold_accuracy_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    order = np.argsort(-cols["pred"], kind="stable")
    s = cols["pred"][order]
    ends = np.ones(len(s), dtype=bool)
    ends[:-1] = s[:-1] != s[1:]
    return _accuracy_sorted(cols["gold"][order][None, :], w[:, order], ends[None, :])


def max_accuracy(cols: Columns) -> np.ndarray:
    """mteb's ``max_accuracy``: the best of the five functions' best-threshold accuracies, row-wise."""
    return np.asarray(np.max([_threshold_accuracy({"gold": cols["gold"], "pred": x}) for x in _distinct(cols)],
                             axis=0))


def max_accuracy_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return np.asarray(np.max([_threshold_accuracy_w({"gold": cols["gold"], "pred": x}, w)
                              for x in _distinct(cols)], axis=0))


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(x, method="average"), dtype=np.float64)


def pair_function_columns(metric: str, d: pd.DataFrame) -> tuple[np.ndarray, Columns]:
    """(pair ids, columns) of a registry PairClassification frame (five rows per pair, ``doc_id`` = the function):
    ``gold`` and, per function, the within-cell mid-rank ÷ n of its score, distances negated (AP depends on the
    order only; mid-ranks make two conditions' values exchangeable for the swap test). ``max_ap``: all five
    (``pred_<function>``); ``<function>_ap``: that one as ``pred``."""
    wide = d.pivot(index="item", columns="doc_id", values="prediction").sort_index()
    gold = d.groupby("item")["gold"].first().sort_index().to_numpy(np.float64)
    best = metric.startswith("max_")
    names = list(PAIR_FUNCTIONS) if best else [metric.split("_")[0]]
    missing = [n for n in names if n not in wide.columns]
    if missing or wide[names].isna().any().any():
        raise ValueError(f"PairClassification predictions lack the scores of {', '.join(missing) or 'some pairs'}")
    n = len(wide)
    cols: Columns = {"gold": gold}
    for name in names:
        x = wide[name].to_numpy(np.float64) * (1.0 if PAIR_FUNCTIONS[name] else -1.0)
        cols[f"pred_{name}" if best else "pred"] = _midranks(x) / n
    return wide.index.to_numpy(np.int64), cols


def cluster_run_columns(d: pd.DataFrame) -> tuple[np.ndarray, Columns]:
    """(document ids, columns) of a registry Clustering frame (one row per document × run that drew it, ``doc_id``
    = ``<level>:<run>``, ``rank`` = times drawn): ``gold``, ``pred`` and ``cnt`` as (documents × runs) arrays (0
    where a run did not draw the document). A document that one run drew several times has one cluster in it
    (k-means assigns equal embeddings alike); if not, the run cannot be split per document and this raises."""
    if d.duplicated(["item", "doc_id"]).any():
        raise ValueError("a document drawn several times in one k-means run got different clusters: "
                         "its draws cannot be resampled as one document")
    items, pos = np.unique(d["item"].to_numpy(np.int64), return_inverse=True)
    runs = sorted(set(d["doc_id"]), key=lambda s: tuple(int(x) for x in str(s).split(":")))
    col = d["doc_id"].map({r: j for j, r in enumerate(runs)}).to_numpy(np.int64)
    shape = (len(items), len(runs))
    out = {k: np.zeros(shape) for k in ("gold", "pred", "cnt")}
    out["gold"][pos, col] = d["gold"].to_numpy(np.float64)
    out["pred"][pos, col] = d["prediction"].to_numpy(np.float64)
    out["cnt"][pos, col] = d["rank"].to_numpy(np.float64)
    return items, out


def runs_v_measure_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    """The mean over runs of each run's v-measure, its documents weighted by ``w`` (rows × documents) times how
    often the run drew them: scikit-learn's v-measure of the run's (resampled) draws, averaged as mteb does."""
    from scipy.sparse import csr_matrix

    gold, pred, cnt = cols["gold"].astype(np.int64), cols["pred"].astype(np.int64), cols["cnt"]
    total = np.zeros(len(w))
    for r in range(cnt.shape[1]):
        idx = np.flatnonzero(cnt[:, r] > 0)
        _, g = np.unique(gold[idx, r], return_inverse=True)
        _, k = np.unique(pred[idx, r], return_inverse=True)
        mg, mk = int(g.max()) + 1, int(k.max()) + 1
        inc = csr_matrix((cnt[idx, r], (np.arange(len(idx)), g * mk + k)), shape=(len(idx), mg * mk))
        table = np.ascontiguousarray((inc.T @ w[:, idx].T).T, dtype=np.float64)
        total += _v_measure_counts(table.reshape(len(w), mg, mk))
    return np.asarray(total / cnt.shape[1], dtype=np.float64)
