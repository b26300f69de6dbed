"""Paired statistics for deltas, recomputed from item-level predictions.

A delta compares two conditions of the same model on the same items. From each cell's predictions parquet
(:data:`harness.results.PREDICTIONS_SCHEMA`) this module recomputes the task's main metric exactly as mteb
computes it, on the full set (checked against mteb's stored score) and on resampled items, and reports for every
delta a paired-bootstrap 95% interval, a paired permutation p-value and, across the grid, Holm's adjustment
(:func:`holm`). Everything is vectorised (one weight or swap matrix per chunk of resamples) and seeded per delta
from a hash of its identity (:func:`seed_for`), so reruns give identical numbers whatever else is in the grid.

**Resampling unit** (:class:`Units`, recorded as ``resample_unit``). Items are resampled as independent units
only where they are: Retrieval per ``query``, BitextMining per ``sentence``, STS per ``item`` (pair) when every
text occurs in one pair only. An STS task built from pairs of a small set of words (595 pairs of 35 words) is
*dyadic* data: every pair that contains "warm" moves with whatever the model does to "warm", so pairs sharing a
word are correlated and a pair-level resample understates the variance (measured below). Its unit is the
``text``; :func:`infer_unit` picks it whenever some text occurs in two or more items, and a task may state its
unit explicitly. A text that occurs in one item only carries no dependence; it is not a unit of its own (an item
whose two texts are both of that kind is resampled as an item, one with a single recurring text moves with it).

**Bootstrap interval.** Every resample is a vector of item weights (multiplicities), and each metric is computed
on the weighted items, which is the metric of the expanded sample (an item of weight 3 listed three times):
Spearman's ranks are the expanded sample's mid-ranks (an item of weight c ties with itself c times; items of
equal value share a tie group), so ``rankdata`` on the expanded sample and the weighted ranks agree exactly.

- item / query / sentence: the paired bootstrap — n items drawn with replacement (weights = their counts);
- text: the *vertex bootstrap* for dyadic data (Snijders & Borgatti 1999, "Non-parametric standard errors and
  tests for network statistics", Connections 22(2)): the recurring texts are drawn with replacement, text i
  c_i times, and every observed pair (i, j) enters with multiplicity c_i·c_j — the product-weight ("pigeonhole")
  bootstrap of Owen (2007, Ann. Appl. Stat. 1(2)) and Owen & Eckles (2012, Ann. Appl. Stat. 6(3)) with one shared
  factor. Two copies of one text form no pair: the data hold no (i, i) pair, so nothing is imputed for it (the
  pair is missing, as in the original sample). Items without a recurring text are drawn as items, separately.
  This bootstrap is known to be conservative: its variance counts the pair-level (interaction) part of the
  variance three times (once through each of c_i and c_j, once through their product; Owen 2007, Owen & Eckles
  2012), and no exact bootstrap for such arrays exists (McCullagh 2000, Bernoulli 6). Measured at 35 words: 99.0%
  coverage, 1.24–1.28× as wide as the corrected interval (up to 1.7× when pair noise dominates). So its *shape*
  is kept and its *spread* corrected: the resampled deltas' deviations from the observed delta are multiplied by
  f = sqrt(V / their variance) (``ci_scale``), where V is Snijders & Borgatti's other proposal, the delete-one-text
  (vertex) jackknife variance, minus one copy of the pair-level term, which the jackknife counts twice (a pair
  of two recurring texts leaves the sample with either text; the Efron–Stein bias, Efron & Stein 1981, Ann.
  Stat. 9(3)):
  V = V_jack − Σ_crossed D_k² / n², with D_k the delta's empirical influence values (Spearman's: F, G from
  mid-ranks; Pearson's: from z-scores). Linearised, V is the dyadic cluster-robust variance (Fafchamps & Gubert
  2007, J. Dev. Econ. 83; Aronow, Samii & Assenova 2015, Political Analysis 23(4); the V_1 + V_2 − V_12 of
  Cameron, Gelbach & Miller 2011, JBES 29(2)) times a jackknife small-sample factor (about 1 + 3/#texts): the
  plug-in dyadic variance alone is 11–39% too small at 20–35 words for correlation deltas (measured), while V
  was within −5%…+7% of the true variance in every simulated setting (20 and 35 words; word effects strong,
  weak or absent). V is floored at the independent-pairs variance Σ D_k²/n². This combination (vertex bootstrap
  shape, jackknife spread) is our own construction from these published parts, checked by the calibration tests.

**Permutation test.** Under H0 the two conditions are exchangeable per unit, and their predictions are swapped
at random; two-sided p = (1 + #{|T*| ≥ |T|}) / (1 + R), or exact (#/2^m over all 2^m patterns of the m swap
units) when 2^m ≤ R. For a mean of per-item values (Retrieval) a swap flips the sign of the item's difference;
for bitext the two matched indices are swapped. For correlation metrics raw cosines are *not* exchangeable: an
instruction moves the whole cosine scale (warm–cold 0.73 → 0.91), so a pair's two cosines live on different
scales and a swapped vector mixes them — its rank correlation with gold is destroyed and the null distribution
is far too wide (measured: rejection rate 0.000 at 0.05 under a true null; the test loses its power exactly when
instructions act). What H0 makes exchangeable is a pair's *position within its own condition*: its within-
condition rank (Spearman, which depends on the predictions only through these ranks) or its within-condition
standardised score (Pearson, which depends on them only through z-scores). Those are swapped, and the statistic
is Pearson(gold ranks, swapped ranks) (Spearman) or Pearson(gold, swapped z-scores), which at the identity is the
metric itself. The ranks are estimated, so the test is exact only asymptotically (as for permuting residuals).

With the ``text`` unit, per-pair swaps are not enough: under H0 each condition may still shift a word's
similarities to everything (condition-specific word effects), and swapping pairs one by one scrambles those
effects into pair noise, so the null is too narrow (measured at 35 words: rejection rate 0.24–0.28 at 0.05, with
swaps of within-condition ranks; 0.000–0.003 with raw cosines, whose too-wide null dominates). No swap of
whole texts exists for pairs (a pair has two texts that may be swapped differently), so each condition's
transformed scores are split by least squares into additive text effects and pair residuals,
z_ij = μ + u_i + u_j + r_ij, and a permutation swaps u_i^A ↔ u_i^B per text and r_ij^A ↔ r_ij^B per pair,
independently (the unit-respecting analogue of permuting residuals: Freedman & Lane 1983, JBES 1(4); Anderson &
Robinson 2001, ANZJS 43(1)). Because the split is an orthogonal projection, each source of variance is swapped
once (a studentised per-pair swap, Chung & Romano 2013, was tried and rejected: at 35 words the dyadic standard
error is too noisy and the test too conservative). With no recurring text this is the per-item swap. The swap
units are then the items and the recurring texts (2^m patterns for exact enumeration, m = items + texts). The
null this tests: within each condition's ranks (z-scores), the two conditions' effects of a text are
exchangeable, and so are the two conditions' residuals of a pair — what "the instruction changes nothing about
the ranking" means when it may still move every score of a word; exact-enumeration tests check the mechanics.

**Calibration** (tests/test_stats_calibration.py, in the normal suite; at the real size by
``python -m tests.stats_calibration``: 1,000 datasets, 199 permutations / 1,000 resamples, STS all pairs of 35
words, conditions on different cosine scales). Rejection rate at 0.05 under a true null (KS p of uniformity):
Spearman pairs 0.036 (0.15), Spearman words 0.054 (0.32), Pearson pairs 0.042 (0.006), Pearson words 0.035
(0.50), retrieval 0.052 (0.29), bitext 0.044 (0.016); the old raw-cosine swaps 0.000–0.003 (KS p < 1e-6).
Coverage of the 95% interval (1,000 resamples: 94.8% nominal): 94.7, 94.4, 94.4, 93.7, 93.9, 95.4%; the old
pair-level bootstrap on the word tasks 78.3 and 75.7%, the uncorrected vertex bootstrap 99.0 and 99.0%.

**What a caller supplies.** Per delta: the two conditions' prediction frames (:func:`delta_stats`; STS rows carry
``text1``/``text2``, the pair's texts as the task states them, before any instruction — without them STS pairs
are treated as independent items) and, if the task states one, its ``unit``. At the array level
(:func:`paired_stats`): the two conditions' item columns and a :class:`Units` from :func:`resample_units`. The
result records ``resample_unit``, ``n_units`` and ``ci_scale``.

**Metrics** (per task type; anything else gets no interval):

- STS: ``cosine_spearman``, ``cosine_pearson`` (gold vs cosine, as mteb's ``scipy.stats`` calls);
- Retrieval: ``ndcg_at_k``, ``map_at_k``, ``recall_at_k``, ``precision_at_k``, ``hit_rate_at_k`` (pytrec_eval's
  definitions, relevance ≥ 1 counts), ``mrr_at_k`` (mteb's own), ``accuracy`` (= recall_at_1) — each a mean over
  queries of a per-query value computed from the 1-based ranks of the relevant documents;
- BitextMining: ``accuracy``, and ``f1`` / ``precision`` / ``recall`` as scikit-learn's support-weighted averages
  over labels with ``zero_division=0`` (what mteb calls).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

N_BOOTSTRAP = 2000
N_PERMUTATIONS = 5000
CONFIDENCE = 0.95
SEED = 0
_DENSE_TEXTS = 2000  # recurring texts up to which the text split uses a precomputed pseudo-inverse (else LSQR)
_CHUNK_CELLS = 2_000_000  # resamples × items materialised at once (bounds memory to a few tens of MB)
_TOL = 1e-12  # |T*| ≥ |T| − tol: ties with the observed statistic count as extreme
_MAX_EXACT = 20  # swap units up to which exact enumeration is considered

Columns = dict[str, np.ndarray]
Family = Literal["spearman", "pearson", "mean", "labels"]
UnitKind = Literal["item", "query", "sentence", "text"]
UNITS: dict[str, tuple[str, ...]] = {"STS": ("item", "text"), "Retrieval": ("query", "item"),
                                     "BitextMining": ("sentence", "item")}


# -- row-wise helpers -------------------------------------------------------------------------------------------
def _rank_rows(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    if x.shape[0] == 1 or x.strides[0] == 0:  # one row (or one row broadcast, e.g. a shared gold): rank once
        return np.broadcast_to(midranks(x[0]), x.shape)
    return np.asarray(rankdata(x, axis=1, method="average"), dtype=np.float64)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
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
        return np.take(mid, back, axis=1)
    tied = np.add.reduceat(ws, np.flatnonzero(new), axis=1)  # weight of each tie group
    mid = np.cumsum(tied, axis=1)
    mid -= (tied - 1) / 2
    return np.take(mid, (np.cumsum(new) - 1)[back], axis=1)


def midranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of a 1-D array, as ``scipy.stats.rankdata``."""
    return weighted_ranks(x, np.ones((1, len(x))))[0]


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
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


def _counts(idx: np.ndarray, m: int) -> np.ndarray:
    """(rows, m): how often each of 0..m-1 occurs in each row of ``idx``."""
    return _label_counts(idx, m)


# -- metrics ----------------------------------------------------------------------------------------------------
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
    return _pearson_rows(_rank_rows(cols["gold"]), _rank_rows(cols["pred"]))


def _pearson(cols: Columns) -> np.ndarray:
    return _pearson_rows(cols["gold"], cols["pred"])


def _spearman_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return _weighted_pearson(weighted_ranks(cols["gold"], w), weighted_ranks(cols["pred"], w), w)


def _pearson_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return _weighted_pearson(cols["gold"][None, :], cols["pred"][None, :], w)


def _mean_value(cols: Columns) -> np.ndarray:
    return np.asarray(cols["value"].mean(axis=1), dtype=np.float64)


def _mean_value_w(cols: Columns, w: np.ndarray) -> np.ndarray:
    return np.asarray((w @ cols["value"]) / w.sum(axis=1), dtype=np.float64)


def _bitext_counts(gold: np.ndarray, pred: np.ndarray, w: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g, p = gold.astype(np.int64), pred.astype(np.int64)
    m = int(max(g.max(), p.max())) + 1
    hit = (g == p).astype(np.float64)
    if w is None:
        return _label_counts(g, m), _label_counts(p, m), _label_counts(g, m, weights=hit)
    return _label_counts(g, m, weights=w), _label_counts(p, m, weights=w), _label_counts(g, m, weights=w * hit)


def _bitext_from_counts(kind: str, support: np.ndarray, predicted: np.ndarray, tp: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "f1":
            per_label = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        elif kind == "precision":
            per_label = np.where(predicted > 0, tp / predicted, 0.0)
        else:  # recall
            per_label = np.where(support > 0, tp / support, 0.0)
        return np.asarray((support * per_label).sum(axis=1) / support.sum(axis=1), dtype=np.float64)


def _bitext(kind: str) -> tuple[Callable[[Columns], np.ndarray], Callable[[Columns, np.ndarray], np.ndarray]]:
    """scikit-learn's ``average="weighted"`` precision / recall / F1 (zero_division=0), row-wise and weighted."""

    def score(cols: Columns) -> np.ndarray:
        return _bitext_from_counts(kind, *_bitext_counts(cols["gold"], cols["pred"], None))

    def weighted(cols: Columns, w: np.ndarray) -> np.ndarray:
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
    if task_type == "Retrieval" and (metric == "accuracy" or _AT_K.match(metric)):
        return Metric(metric, _mean_value, _mean_value_w, (), ("value",), "mean")
    if task_type == "BitextMining" and metric == "accuracy":
        return Metric(metric, _bitext_accuracy, _bitext_accuracy_w, ("gold",), ("pred",), "labels")
    if task_type == "BitextMining" and metric in ("f1", "precision", "recall"):
        score, weighted = _bitext(metric)
        return Metric(metric, score, weighted, ("gold",), ("pred",), "labels")
    return None


# -- resampling units -------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Units:
    """How the items of a delta are resampled and swapped.

    For item-level units (``item``, ``query``, ``sentence``) ``ends`` is None. For ``text``, ``ends`` is (2, n):
    each item's two ends as indices into a vector of unit counts — [0, n_texts) the recurring texts,
    [n_texts, n_texts + n_lone) the items with no recurring text (one unit each), and n_texts + n_lone for
    "no unit" (count 1): a pair of two recurring texts has two text ends, a pair with one has one, an item with
    none has its own unit."""

    kind: UnitKind
    n_items: int
    ends: np.ndarray | None = None
    n_texts: int = 0
    n_lone: int = 0

    @property
    def n_units(self) -> int:
        return self.n_items if self.ends is None else self.n_texts + self.n_lone

    @property
    def none(self) -> int:
        """Index of the "no unit" slot in ``ends``."""
        return self.n_texts + self.n_lone

    @property
    def crossed(self) -> np.ndarray:
        """Items whose two ends are both recurring texts."""
        if self.ends is None:
            return np.zeros(self.n_items, dtype=bool)
        return (self.ends[0] < self.n_texts) & (self.ends[1] < self.n_texts)

    @functools.cached_property
    def text_design(self) -> Any:
        """(items × (1 + recurring texts)) scipy.sparse design of z = μ + u_i + u_j: intercept, then each item's
        recurring-text ends."""
        from scipy.sparse import csr_matrix

        assert self.ends is not None
        n, k = self.n_items, self.n_texts
        rows, cols = [np.arange(n)], [np.zeros(n, dtype=np.int64)]
        for e in self.ends:
            keep = e < k
            rows.append(np.flatnonzero(keep))
            cols.append(e[keep] + 1)
        r_idx, c_idx = np.concatenate(rows), np.concatenate(cols)
        return csr_matrix((np.ones(len(r_idx)), (r_idx, c_idx)), shape=(n, k + 1))

    @functools.cached_property
    def text_projector(self) -> np.ndarray | None:
        """pinv(design): z ↦ the minimum-norm least-squares (μ, u), or None for many texts (then LSQR)."""
        if self.n_texts + 1 > _DENSE_TEXTS or (self.n_texts + 1) * self.n_items > _CHUNK_CELLS:
            return None
        design = self.text_design
        gram = (design.T @ design).toarray()  # pinv(XᵀX)·Xᵀ = pinv(X): the same null space
        return np.asarray(np.linalg.pinv(gram) @ design.T.toarray())

    @classmethod
    def items(cls, n_items: int, kind: UnitKind = "item") -> Units:
        if kind == "text":
            raise ValueError("the text unit needs each item's texts: use text_units(text1, text2)")
        return cls(kind, n_items)


def _text_codes(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t1, t2 = pd.Series(np.asarray(text1, dtype=object)), pd.Series(np.asarray(text2, dtype=object))
    if len(t1) != len(t2):
        raise ValueError(f"text1 and text2 differ in length ({len(t1)} vs {len(t2)})")
    if t1.isna().any() or t2.isna().any():
        raise ValueError("text1 / text2 has missing values")
    codes, _ = pd.factorize(pd.concat([t1, t2], ignore_index=True))
    n = len(t1)
    return codes[:n].astype(np.int64), codes[n:].astype(np.int64)


def _occurrences(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """In how many distinct items each text code occurs (an item whose two texts are equal counts once)."""
    m = int(max(c1.max(initial=-1), c2.max(initial=-1))) + 1
    return np.bincount(np.concatenate([c1, c2[c2 != c1]]), minlength=m)


def infer_unit(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> Literal["item", "text"]:
    """``text`` when some text occurs in two or more items (pairs built from a set of words), else ``item``."""
    c1, c2 = _text_codes(text1, text2)
    return "text" if len(c1) and bool((_occurrences(c1, c2) >= 2).any()) else "item"


def text_units(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> Units:
    """The ``text`` unit of items given their two texts (any hashable ids; equal ids = the same text)."""
    c1, c2 = _text_codes(text1, text2)
    n = len(c1)
    recurring = _occurrences(c1, c2) >= 2
    code = np.full(len(recurring), -1, dtype=np.int64)
    code[recurring] = np.arange(int(recurring.sum()))
    n_texts = int(recurring.sum())
    e1, e2 = code[c1], np.where(c2 != c1, code[c2], -1)  # an item's two equal texts count once
    swap = (e1 < 0) & (e2 >= 0)  # the recurring end first
    e1, e2 = np.where(swap, e2, e1), np.where(swap, e1, e2)
    lone = e1 < 0
    n_lone = int(lone.sum())
    none = n_texts + n_lone
    e1 = np.where(lone, n_texts + np.cumsum(lone) - 1, e1)
    e2 = np.where(e2 < 0, none, e2)
    return Units("text", n, np.vstack([e1, e2]).astype(np.int64), n_texts, n_lone)


def resample_units(task_type: str, n_items: int, *, unit: str | None = None,
                   text1: Sequence[Any] | np.ndarray | None = None,
                   text2: Sequence[Any] | np.ndarray | None = None) -> Units:
    """The resampling unit of a delta: the task's stated ``unit`` if given, else ``text`` for STS items whose
    texts recur (see :func:`infer_unit`), else the task type's independent unit (STS ``item``, Retrieval
    ``query``, BitextMining ``sentence``)."""
    allowed = UNITS.get(task_type, ("item",))
    has_texts = text1 is not None and text2 is not None
    if unit is None:
        unit = infer_unit(text1, text2) if has_texts and task_type == "STS" else allowed[0]  # type: ignore[arg-type]
    if unit not in allowed:
        raise ValueError(f"unit {unit!r} does not apply to {task_type} (one of {', '.join(allowed)})")
    if unit == "text":
        if not has_texts:
            raise ValueError("the text unit needs text1 and text2 for every item")
        units = text_units(text1, text2)  # type: ignore[arg-type]
        if units.n_items != n_items:
            raise ValueError(f"{units.n_items} text pairs for {n_items} items")
        return units
    return Units.items(n_items, unit)  # type: ignore[arg-type]


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


# -- paired bootstrap -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedStats:
    delta: float  # metric(a) − metric(b) on the full set
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    n_bootstrap: int
    n_permutations: int  # swap patterns evaluated (2^m when exact)
    exact: bool  # p by full enumeration
    resample_unit: str  # item | query | sentence | text
    n_units: int  # independent draws per resample: items, or recurring texts + items without one
    ci_scale: float  # f: the vertex bootstrap's deviations × f (1.0 unless the text unit rescaled them)

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


def _n(cols: Columns) -> int:
    return len(next(iter(cols.values())))


def resample_weights(units: Units, rows: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, n_items) multiplicities of one chunk of bootstrap resamples. Item units: n items drawn with
    replacement. Text unit: the recurring texts drawn with replacement (text t c_t times) and, separately, the
    items without one; an item's multiplicity is the product of its ends' counts (c_i·c_j for a pair of two
    recurring texts)."""
    n = units.n_items
    if units.ends is None:
        return _counts(rng.integers(0, n, size=(rows, n)), n)
    counts = np.ones((rows, units.none + 1))
    if units.n_texts:
        counts[:, :units.n_texts] = _counts(rng.integers(0, units.n_texts, size=(rows, units.n_texts)),
                                            units.n_texts)
    if units.n_lone:
        counts[:, units.n_texts:units.none] = _counts(rng.integers(0, units.n_lone, size=(rows, units.n_lone)),
                                                      units.n_lone)
    return np.ascontiguousarray(counts[:, units.ends[0]] * counts[:, units.ends[1]])


def _weighted_delta(metric: Metric, a: Columns, b: Columns, w: np.ndarray) -> np.ndarray:
    if metric.family == "spearman":  # the gold's ranks are shared by both conditions
        rg = weighted_ranks(a["gold"], w)
        return np.asarray(_weighted_pearson(rg, weighted_ranks(a["pred"], w), w)
                          - _weighted_pearson(rg, weighted_ranks(b["pred"], w), w))
    if metric.family == "mean":
        return np.asarray((w @ (a["value"] - b["value"])) / w.sum(axis=1))
    return np.asarray(metric.weighted(a, w) - metric.weighted(b, w))


def bootstrap_deltas(metric: Metric, a: Columns, b: Columns, n_bootstrap: int, rng: np.random.Generator, *,
                     units: Units | None = None) -> np.ndarray:
    """Metric(a) − metric(b) on ``n_bootstrap`` paired resamples (the same weights for both conditions).

    With item units the draws are those of ``rng.integers(0, n, (rows, n))`` per chunk: the same resamples as
    indexing the items with that matrix."""
    n = _n(a)
    units = units or Units.items(n)
    out = [_weighted_delta(metric, a, b, resample_weights(units, rows, rng)) for rows in _chunks(n_bootstrap, n)]
    return np.concatenate(out) if out else np.empty(0)


def _standardised(x: np.ndarray) -> np.ndarray:
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
    g, p = _standardised(gold), _standardised(pred)
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
    n, g = units.n_items, units.n_units
    thetas: list[np.ndarray] = []
    first = 0
    for rows in _chunks(g, n):  # row u: every item that involves unit u weighs 0
        w = np.ones((rows, n))
        for e in units.ends:
            k = np.flatnonzero((e >= first) & (e < first + rows))
            w[e[k] - first, k] = 0.0
        thetas.append(_weighted_delta(metric, a, b, w))
        first += rows
    theta = np.concatenate(thetas)
    theta = theta[~np.isnan(theta)]
    if len(theta) < 3:
        return None
    jack = (len(theta) - 1) / len(theta) * float(((theta - theta.mean()) ** 2).sum())
    pair_level = float((d[units.crossed] ** 2).sum()) / n**2
    return max(jack - pair_level, float((d * d).sum()) / n**2)  # never below the independent-pairs variance


def bootstrap_interval(metric: Metric, a: Columns, b: Columns, observed: float, n_bootstrap: int,
                       rng: np.random.Generator, *, units: Units, confidence: float = CONFIDENCE
                       ) -> tuple[float, float, float]:
    """(low, high, f): the percentile interval of the bootstrap deltas. For the text unit the deviations of the
    resampled deltas from ``observed`` are multiplied by f = sqrt(:func:`text_variance` / their variance), so
    that the interval keeps the vertex bootstrap's shape with the corrected variance; elsewhere f = 1."""
    boot = bootstrap_deltas(metric, a, b, n_bootstrap, rng, units=units)
    boot = boot[~np.isnan(boot)]
    alpha = (1 - confidence) / 2
    if not len(boot):
        return np.nan, np.nan, 1.0
    lo, hi = (float(q) for q in np.quantile(boot, [alpha, 1 - alpha]))
    target = text_variance(metric, a, b, units)
    spread = float(boot.var()) if len(boot) > 1 else 0.0
    if target is None or spread <= 0:
        return lo, hi, 1.0
    scale = float(np.sqrt(target / spread))
    return observed + scale * (lo - observed), observed + scale * (hi - observed), scale


# -- paired permutation test ------------------------------------------------------------------------------------
def _text_effects(z: np.ndarray, units: Units) -> tuple[float, np.ndarray, np.ndarray]:
    """z = μ + u[ends[0]] + u[ends[1]] + r by least squares over the recurring texts (the minimum-norm solution;
    u is padded with zeros for the non-text slots; r is the exact remainder, so the split reproduces z)."""
    assert units.ends is not None
    k = units.n_texts
    projector = units.text_projector
    if projector is not None:
        sol = projector @ z
    else:  # many texts: LSQR from 0 converges to the same minimum-norm solution
        from scipy.sparse.linalg import lsqr

        scale = float(np.abs(z).max()) or 1.0
        sol = lsqr(units.text_design, z / scale, atol=1e-14, btol=1e-14, iter_lim=100 * (k + 1))[0] * scale
    u = np.zeros(units.none + 1)
    u[:k] = sol[1:]
    mu = float(sol[0])
    return mu, u, np.asarray(z - mu - u[units.ends[0]] - u[units.ends[1]])


@dataclass(frozen=True)
class _Null:
    """What the permutation test swaps, prepared once per delta.

    Correlation metrics: with centred gold g (ranks for Spearman), the transformed predictions za, zb and the
    per-item difference that a swap moves (dr = zb − za, or its pair residual rb − ra for the text unit, whose
    text effects move by du_t = ub_t − ua_t), a swap pattern (S items, T texts) gives za* = za + D, zb* = zb − D
    with D_k = S_k·dr_k + Σ_{texts t of k} T_t·du_t. Each Pearson(g, z*) needs only g·D, za·D, zb·D, ΣD and ΣD²,
    all matrix products: no swapped matrix is built for the item unit."""

    metric: Metric
    a: Columns
    b: Columns
    units: Units
    g: np.ndarray | None = None
    za: np.ndarray | None = None
    zb: np.ndarray | None = None
    dr: np.ndarray | None = None
    du: np.ndarray | None = None  # text unit: ub − ua, padded with zeros for the non-text slots

    @property
    def n_swap_units(self) -> int:
        return self.units.n_items + (self.units.n_texts if self.du is not None else 0)


def _prepare_null(metric: Metric, a: Columns, b: Columns, units: Units) -> _Null:
    if metric.family not in ("spearman", "pearson"):
        if units.kind == "text":
            raise ValueError(f"{metric.name}: the text unit is only implemented for correlation metrics (STS)")
        return _Null(metric, a, b, units)
    if metric.family == "spearman":
        gold = midranks(a["gold"])
        za, zb = midranks(a["pred"]), midranks(b["pred"])
    else:
        gold = a["gold"]
        za, zb = _standardised(a["pred"]), _standardised(b["pred"])
    g = gold - gold.mean()
    if units.ends is None or units.n_texts == 0:
        return _Null(metric, a, b, units, g, za, zb, zb - za)
    _, ua, ra = _text_effects(za, units)
    _, ub, rb = _text_effects(zb, units)
    return _Null(metric, a, b, units, g, za, zb, rb - ra, ub - ua)


def _correlation_swap_stats(null: _Null, swap: np.ndarray) -> np.ndarray:
    assert null.g is not None and null.za is not None and null.zb is not None and null.dr is not None
    g, za, zb, dr = null.g, null.za, null.zb, null.dr
    n = len(g)
    s = swap[:, :n].astype(np.float64)
    lin = s @ np.column_stack([dr * g, dr * za, dr * zb, dr, dr * dr])  # S is 0/1: (S∘dr)² = S·dr²
    d_g, d_a, d_b, d_sum, d_sq = lin.T
    if null.du is not None:
        assert null.units.ends is not None
        k = null.units.n_texts
        shift = np.zeros((len(swap), len(null.du)))
        shift[:, :k] = swap[:, n:n + k] * null.du[:k]
        moved = shift[:, null.units.ends[0]] + shift[:, null.units.ends[1]]  # rows × items
        d_g = d_g + moved @ g
        d_a = d_a + moved @ za
        d_b = d_b + moved @ zb
        d_sum = d_sum + moved.sum(axis=1)
        d_sq = d_sq + 2 * np.einsum("ij,ij->i", s, moved * dr) + np.einsum("ij,ij->i", moved, moved)
    gg = float(g @ g)
    out = []
    for z, sign, d_z in ((za, 1.0, d_a), (zb, -1.0, d_b)):
        cov = float(z @ g) + sign * d_g
        total = float(z.sum()) + sign * d_sum
        ss = float(z @ z) + 2 * sign * d_z + d_sq
        var = ss - total * total / n
        with np.errstate(invalid="ignore", divide="ignore"):
            den = np.sqrt(gg * np.maximum(var, 0.0))
            out.append(np.where(den > 0, cov / np.where(den > 0, den, 1.0), np.nan))
    return np.asarray(out[0] - out[1])


def _swap_stats(null: _Null, swap: np.ndarray) -> np.ndarray:
    """The permutation statistic for each row of ``swap`` (rows × swap units: the items, then for the text unit
    the recurring texts). Row of all False = the observed statistic."""
    metric, a, b = null.metric, null.a, null.b
    n = null.units.n_items
    pair = swap[:, :n]
    if metric.family == "mean":  # swapping an item's two values flips the sign of its difference
        diff = a["value"] - b["value"]
        return np.asarray((np.where(pair, -1.0, 1.0) @ diff) / n, dtype=np.float64)
    if metric.family == "labels":
        ra = {k: np.where(pair, b[k][None, :], a[k][None, :]) if k in metric.paired else
              np.broadcast_to(a[k], pair.shape) for k in a}
        rb = {k: np.where(pair, a[k][None, :], b[k][None, :]) if k in metric.paired else
              np.broadcast_to(a[k], pair.shape) for k in a}
        return np.asarray(metric.score(ra) - metric.score(rb))
    return _correlation_swap_stats(null, swap)


def all_swaps(n: int) -> np.ndarray:
    """Every one of the 2^n swap patterns of n units (row i = the bits of i)."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)


def permutation_p(metric: Metric, a: Columns, b: Columns, observed: float, n_permutations: int,
                  rng: np.random.Generator, *, units: Units | None = None) -> tuple[float, int, bool]:
    """Two-sided paired permutation p-value: (p, patterns evaluated, exact?). ``observed`` is the delta; the
    test compares against the same statistic computed without swaps (equal to it up to rounding)."""
    n = _n(a)
    units = units or Units.items(n)
    null = _prepare_null(metric, a, b, units)
    m = null.n_swap_units
    stat0 = observed if metric.family == "mean" else float(_swap_stats(null, np.zeros((1, m), dtype=bool))[0])
    if m <= _MAX_EXACT and 2**m <= n_permutations:
        stats = _swap_stats(null, all_swaps(m))
        extreme = np.abs(stats) >= abs(stat0) - _TOL
        return float(extreme.mean()), 2**m, True
    count = 0
    valid = 0
    for rows in _chunks(n_permutations, m):
        stats = _swap_stats(null, rng.random((rows, m)) < 0.5)
        ok = ~np.isnan(stats)
        valid += int(ok.sum())
        count += int((np.abs(stats[ok]) >= abs(stat0) - _TOL).sum())
    return (1 + count) / (1 + valid), n_permutations, False


# -- a delta's statistics ---------------------------------------------------------------------------------------
def paired_stats(metric: Metric, a: Columns, b: Columns, *, seed: int, units: Units | None = None,
                 n_bootstrap: int = N_BOOTSTRAP, n_permutations: int = N_PERMUTATIONS,
                 confidence: float = CONFIDENCE) -> PairedStats:
    """Delta a − b with its paired-bootstrap interval and permutation p-value. ``a`` and ``b`` hold the same items
    in the same order; their ``gold`` columns must be equal. ``units`` (default: independent items) says how
    items are resampled and swapped (:func:`resample_units`)."""
    n = _n(a)
    units = units or Units.items(n)
    if units.n_items != n:
        raise ValueError(f"{metric.name}: units describe {units.n_items} items, the columns hold {n}")
    for k in metric.gold:
        if not np.array_equal(a[k], b[k]):
            raise ValueError(f"{metric.name}: the two conditions disagree on the gold column '{k}'")
    one = {k: v[None, :] for k, v in a.items()}
    two = {k: v[None, :] for k, v in b.items()}
    observed = float(metric.score(one)[0] - metric.score(two)[0])
    boot_rng, perm_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    lo, hi, scale = bootstrap_interval(metric, a, b, observed, n_bootstrap, boot_rng, units=units,
                                       confidence=confidence)
    p, n_perm, exact = permutation_p(metric, a, b, observed, n_permutations, perm_rng, units=units)
    return PairedStats(observed, float(lo), float(hi), p, n, n_bootstrap, n_perm, exact, units.kind,
                       units.n_units, scale)


def aligned_items(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame
                  ) -> tuple[Columns, Columns, np.ndarray]:
    """Align two cells' predictions (same subset and split) on their item ids: (a's columns, b's, item ids)."""
    ia, ca = item_columns(task_type, metric, a)
    ib, cb = item_columns(task_type, metric, b)
    if not np.array_equal(ia, ib):
        common, pa, pb = np.intersect1d(ia, ib, return_indices=True)
        if len(common) == 0:
            raise ValueError("the two conditions share no items")
        ca = {k: v[pa] for k, v in ca.items()}
        cb = {k: v[pb] for k, v in cb.items()}
        ia = common
    return ca, cb, ia


def pair_items(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame) -> tuple[Columns, Columns]:
    """Align two cells' predictions (same subset and split) on their item ids."""
    ca, cb, _ = aligned_items(task_type, metric, a, b)
    return ca, cb


def _texts_for(items: np.ndarray, a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """text1/text2 of ``items`` from whichever frame has them (both: they must agree)."""
    found = []
    for df in (a, b):
        t = item_texts(df)
        if t is None:
            continue
        ids, t1, t2 = t
        pos = np.searchsorted(ids, items)
        if np.any(pos >= len(ids)) or not np.array_equal(ids[np.minimum(pos, len(ids) - 1)], items):
            raise ValueError("text1/text2 missing for some items")
        found.append((t1[pos], t2[pos]))
    if not found:
        return None
    if len(found) == 2 and not (np.array_equal(found[0][0], found[1][0]) and np.array_equal(found[0][1],
                                                                                            found[1][1])):
        raise ValueError("the two conditions disagree on the items' texts (text1/text2)")
    return found[0]


def delta_stats(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame, *, seed: int,
                **kwargs: Any) -> PairedStats | None:
    """Paired statistics of metric(a) − metric(b) from two prediction frames, or None when not recomputable.

    Keyword arguments: ``unit`` (str | None), ``n_bootstrap``, ``n_permutations``, ``confidence`` (see
    :func:`paired_stats`). The resampling unit is ``unit`` when the task states it (``item`` | ``text`` for STS,
    ``query`` | ``item`` for Retrieval, ``sentence`` | ``item`` for BitextMining), else inferred: for STS from the
    frames' ``text1`` / ``text2`` columns (one row per pair; the pair's texts as the task states them, before any
    instruction, identical in both conditions), ``text`` when some text recurs; without those columns ``item``."""
    unit = kwargs.pop("unit", None)
    if unit is not None and not isinstance(unit, str):
        raise ValueError(f"unit must be a string, not {unit!r}")
    m = metric_for(task_type, metric)
    if m is None or a.empty or b.empty:
        return None
    ca, cb, items = aligned_items(task_type, metric, a, b)
    texts = _texts_for(items, a, b) if task_type == "STS" else None
    units = resample_units(task_type, len(items), unit=unit, text1=None if texts is None else texts[0],
                           text2=None if texts is None else texts[1])
    return paired_stats(m, ca, cb, seed=seed, units=units, **kwargs)


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
