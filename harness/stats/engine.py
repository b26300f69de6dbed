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

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.stats.bootstrap import CONFIDENCE, bootstrap_deltas, bootstrap_interval, influence, text_variance
from harness.stats.metrics import (
    TEXT_COLUMNS,
    Columns,
    Metric,
    item_columns,
    item_texts,
    metric_for,
    midranks,
    recompute,
    weighted_ranks,
)
from harness.stats.permutation import (
    MAX_PERMUTATIONS,
    PermutationResult,
    _text_effects,
    all_swaps,
    mc_interval,
    permutation_p,
)
from harness.stats.pool import map_jobs
from harness.stats.units import UNITS, Units, infer_unit, n_rows, resample_units, resample_weights, text_units

__all__ = [
    "ALPHA", "CONFIDENCE", "MAX_PERMUTATIONS", "N_BOOTSTRAP", "N_PERMUTATIONS", "SEED", "TEXT_COLUMNS", "UNITS",
    "Metric", "PairedStats", "PermutationResult", "Units", "_text_effects", "aligned_items", "aligned_texts",
    "all_swaps", "bootstrap_deltas", "bootstrap_interval", "delta_p", "delta_stats", "delta_stats_many", "holm",
    "infer_unit",
    "influence", "item_columns", "item_texts", "mc_interval", "metric_for", "midranks", "pair_items", "paired_p",
    "paired_stats", "permutation_p", "recompute", "resample_units", "resample_weights", "seed_for", "text_units",
    "text_variance", "weighted_ranks",
]

N_BOOTSTRAP = 2000
N_PERMUTATIONS = 5000  # the first look of the adaptive test (and a fixed test's R)
ALPHA = 0.05  # the level the adaptive test decides against before the family adjustment
SEED = 0


@dataclass(frozen=True)
class PairedStats:
    delta: float  # metric(a) − metric(b) on the full set
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    n_bootstrap: int
    n_permutations: int  # swap patterns evaluated (2^m when exact)
    method: str  # how p was obtained: exact | permutation
    resample_unit: str  # item | query | sentence | text
    n_units: int  # independent draws per resample: items, or recurring texts + items without one
    ci_scale: float  # f: the vertex bootstrap's deviations × f (1.0 unless the text unit rescaled them)
    n_extreme: int = 0  # swaps at least as extreme as observed
    p_mc_low: float = float("nan")  # Monte-Carlo 95% interval of p (Clopper–Pearson; = p when exact)
    p_mc_high: float = float("nan")
    p_tail: float | None = None  # generalized-Pareto tail estimate (labelled, never used for p or a verdict)
    p_stop: str = ""  # why the adaptive test stopped drawing (permutation.PermutationResult.stop)

    @property
    def exact(self) -> bool:  # p by full enumeration
        return self.method == "exact"

    @property
    def p_method(self) -> str:
        return self.method


def seed_for(*parts: object) -> int:
    """A stable 64-bit seed from a delta's identity (independent of grid order and Python's hash salt)."""
    blob = "\x1f".join(str(p) for p in (SEED, *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little")


def paired_stats(metric: Metric, a: Columns, b: Columns, *, seed: int, units: Units | None = None,
                 n_bootstrap: int = N_BOOTSTRAP, n_permutations: int = N_PERMUTATIONS,
                 confidence: float = CONFIDENCE, threshold: float | None = ALPHA,
                 max_permutations: int = MAX_PERMUTATIONS) -> PairedStats:
    """Delta a − b with its paired-bootstrap interval and permutation p-value. ``a`` and ``b`` hold the same items
    in the same order; their ``gold`` columns must be equal. ``units`` (default: independent items) says how
    items are resampled and swapped (:func:`resample_units`). The test is adaptive against ``threshold``
    (:func:`harness.stats.permutation.permutation_p`: at least ``n_permutations`` swaps unless p is clearly
    large, more while the decision at ``threshold`` is open, up to ``max_permutations``); None: exactly
    ``n_permutations``."""
    n = n_rows(a)
    units = units or Units.items(n)
    if units.n_items != n:
        raise ValueError(f"{metric.name}: units describe {units.n_items} items, the columns hold {n}")
    for k in metric.gold:
        if not np.array_equal(a[k], b[k]):
            raise ValueError(f"{metric.name}: the two conditions disagree on the gold column '{k}'")
    one = {k: v[None, :] for k, v in a.items()}
    two = {k: v[None, :] for k, v in b.items()}
    observed = float(metric.score(one)[0] - metric.score(two)[0])
    boot_rng, perm_rng = _rngs(seed)
    lo, hi, scale = bootstrap_interval(metric, a, b, observed, n_bootstrap, boot_rng, units=units,
                                       confidence=confidence)
    t = permutation_p(metric, a, b, observed, n_permutations, perm_rng, units=units, threshold=threshold,
                      max_permutations=max_permutations)
    return PairedStats(observed, float(lo), float(hi), t.p, n, n_bootstrap, t.n_permutations, t.method, units.kind,
                       units.n_units, scale, t.n_extreme, t.p_low, t.p_high, t.p_tail, t.stop)


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The bootstrap's and the permutation test's generators of a delta's seed."""
    boot_rng, perm_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return boot_rng, perm_rng


def paired_p(metric: Metric, a: Columns, b: Columns, *, seed: int, units: Units | None = None,
             n_permutations: int) -> PermutationResult:
    """The permutation test of :func:`paired_stats` alone, with exactly ``n_permutations`` swaps from the same
    stream (its first draws are the adaptive test's): how the multiplicity stage draws more for one delta."""
    units = units or Units.items(n_rows(a))
    observed = float(metric.score({k: v[None, :] for k, v in a.items()})[0]
                     - metric.score({k: v[None, :] for k, v in b.items()})[0])
    return permutation_p(metric, a, b, observed, n_permutations, _rngs(seed)[1], units=units)


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


def aligned_texts(items: np.ndarray, a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """The raw texts (``text1``, ``text2``) of aligned STS items, or None when the predictions carry none."""
    return _texts_for(items, a, b)


def delta_stats(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame, *, seed: int,
                **kwargs: Any) -> PairedStats | None:
    """Paired statistics of metric(a) − metric(b) from two prediction frames, or None when not recomputable.

    Keyword arguments: ``unit`` (str | None), ``n_bootstrap``, ``n_permutations``, ``confidence``, ``threshold``,
    ``max_permutations`` (see
    :func:`paired_stats`). The resampling unit is ``unit`` when the task states it (``item`` | ``text`` for STS,
    ``query`` | ``item`` for Retrieval, ``sentence`` | ``item`` for BitextMining), else inferred: for STS from the
    frames' ``text1`` / ``text2`` columns (one row per pair; the pair's texts as the task states them, before any
    instruction, identical in both conditions), ``text`` when some text recurs; without those columns ``item``."""
    got = _delta_inputs(task_type, metric, a, b, kwargs.pop("unit", None))
    if got is None:
        return None
    m, ca, cb, units = got
    return paired_stats(m, ca, cb, seed=seed, units=units, **kwargs)


def delta_p(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame, *, seed: int, n_permutations: int,
            unit: str | None = None) -> PermutationResult | None:
    """The permutation test of :func:`delta_stats` alone with exactly ``n_permutations`` swaps (same seed, same
    stream: its first draws are those the adaptive test drew), or None when not recomputable."""
    got = _delta_inputs(task_type, metric, a, b, unit)
    if got is None:
        return None
    m, ca, cb, units = got
    return paired_p(m, ca, cb, seed=seed, units=units, n_permutations=n_permutations)


def _delta_inputs(task_type: str, metric: str, a: pd.DataFrame, b: pd.DataFrame, unit: object
                  ) -> tuple[Metric, Columns, Columns, Units] | None:
    if unit is not None and not isinstance(unit, str):
        raise ValueError(f"unit must be a string, not {unit!r}")
    m = metric_for(task_type, metric)
    if m is None or a.empty or b.empty:
        return None
    ca, cb, items = aligned_items(task_type, metric, a, b)
    texts = _texts_for(items, a, b) if task_type == "STS" else None
    units = resample_units(task_type, len(items), unit=unit, text1=None if texts is None else texts[0],
                           text2=None if texts is None else texts[1])
    return m, ca, cb, units


DeltaJob = tuple[str, str, pd.DataFrame, pd.DataFrame, int, "str | None", dict[str, Any]]


def _delta_job(job: DeltaJob) -> tuple[PairedStats | str | None, float]:
    """(one delta's :func:`delta_stats` with one BLAS thread, the CPU seconds it took): a worker function
    (module-level, picklable); a ValueError comes back as its message."""
    import time

    from threadpoolctl import threadpool_limits

    task_type, metric, a, b, seed, unit, settings = job
    t0 = time.process_time()
    with threadpool_limits(1):
        try:
            got: PairedStats | str | None = delta_stats(task_type, metric, a, b, seed=seed, unit=unit, **settings)
        except ValueError as e:
            got = str(e)
    return got, time.process_time() - t0


def delta_stats_many(jobs: list[DeltaJob], *, workers: int | None = None) -> list[PairedStats | str | None]:
    """:func:`delta_stats` of every job, in order, where :func:`harness.stats.pool.map_jobs` puts them (this
    process, the shared pool, a pool of up to ``workers`` processes, or Ray), the largest first. Each delta draws
    from its own seed, so the results do not depend on the number of workers or on the order in which they
    finish."""
    return map_jobs(_delta_job, jobs, workers=workers, timer=TIMER, cost=lambda j: len(j[2]))


def _redraw_job(job: tuple[Any, ...]) -> tuple[PermutationResult | None, float]:
    """(one second-stage redraw, :func:`delta_p` with one BLAS thread, the CPU seconds it took): a worker
    function."""
    import time

    from threadpoolctl import threadpool_limits

    task_type, metric, a, b, seed, unit, n_permutations = job
    t0 = time.process_time()
    with threadpool_limits(1):
        got = delta_p(task_type, metric, a, b, seed=seed, n_permutations=n_permutations, unit=unit)
    return got, time.process_time() - t0


def redraw_many(jobs: list[tuple[Any, ...]], *, workers: int | None = None) -> list[PermutationResult | None]:
    """:func:`delta_p` of every (task type, metric, a, b, seed, unit, swaps) job, in order, like
    :func:`delta_stats_many` (each from its own seed: the same whatever the workers)."""
    return map_jobs(_redraw_job, jobs, workers=workers, timer=REDRAW_TIMER, cost=lambda j: len(j[2]) * j[6])


TIMER = "statistics: deltas"
REDRAW_TIMER = "statistics: redraws"
FAMILY_TIMER = "statistics: family contributions"


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
