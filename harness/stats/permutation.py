"""The paired permutation test of a delta: swaps of within-condition ranks / z-scores (correlations), per unit,
with text effects and pair residuals swapped separately for word pairs; see :mod:`harness.stats.engine`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.stats.bootstrap import standardised
from harness.stats.metrics import Columns, Metric, bitext_swap_scores, midranks
from harness.stats.units import Units, chunk_sizes, n_rows

_TOL = 1e-12  # |T*| ≥ |T| − tol: ties with the observed statistic count as extreme

_MAX_EXACT = 20  # swap units up to which exact enumeration is considered
DENSE_CROSS = 4_000_000  # items × texts up to which the text unit's cross term is one dense product (32 MB)


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

    @functools.cached_property
    def incidence(self) -> _Incidence | None:
        """The text unit's items × texts incidence and the products the swap statistic needs."""
        if self.du is None:
            return None
        assert self.units.ends is not None and self.g is not None and self.za is not None and self.zb is not None
        return _Incidence.of(self.units, self.g, self.za, self.zb)

    @functools.cached_property
    def swap_products(self) -> np.ndarray:
        """items × (5 [+ texts]): what a swap pattern's pairs S multiply — dr·g, dr·za, dr·zb, dr, dr² and, for
        the text unit while items × texts stays below :data:`DENSE_CROSS`, the incidence A∘dr (one BLAS product
        instead of a sparse one per chunk: ≈ 2–4× less time per swap on 1,081 pairs of 47 words)."""
        assert self.g is not None and self.za is not None and self.zb is not None and self.dr is not None
        dr = self.dr
        cols = [np.column_stack([dr * self.g, dr * self.za, dr * self.zb, dr, dr * dr])]
        inc = self.incidence
        if inc is not None and self.units.n_items * self.units.n_texts <= DENSE_CROSS:
            cols.append(inc.matrix.toarray() * dr[:, None])
        return np.ascontiguousarray(np.hstack(cols))

    @property
    def n_swap_units(self) -> int:
        return self.units.n_items + (self.units.n_texts if self.du is not None else 0)


@dataclass(frozen=True)
class _Incidence:
    """A (items × texts, sparse): 1 where the text is one of the item's ends. With D = S∘dr + (T∘du)·Aᵀ the swap
    statistic's sums are v·D = (S∘dr)·v + (T∘du)·(Aᵀv), and ΣD² adds a pair × text term 2·((S∘dr)·A)·(T∘du)
    and a text × text term (T∘du)·AᵀA·(T∘du) (S is 0/1, so (S∘dr)² = S·dr²)."""

    matrix: Any
    gram: np.ndarray  # AᵀA (texts × texts): on the diagonal a text's items, off it the items joining two texts
    g: np.ndarray
    za: np.ndarray
    zb: np.ndarray
    degree: np.ndarray

    @classmethod
    def of(cls, units: Units, g: np.ndarray, za: np.ndarray, zb: np.ndarray) -> _Incidence:
        from scipy.sparse import csr_matrix

        assert units.ends is not None
        n, k = units.n_items, units.n_texts
        rows, cols = [], []
        for e in units.ends:
            keep = e < k
            rows.append(np.flatnonzero(keep))
            cols.append(e[keep])
        r, c = np.concatenate(rows), np.concatenate(cols)
        a = csr_matrix((np.ones(len(r)), (r, c)), shape=(n, k))
        at = a.T.tocsr()
        return cls(a, np.asarray((at @ a).toarray()), at @ g, at @ za, at @ zb, np.asarray(at.sum(axis=1)).ravel())


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
        za, zb = standardised(a["pred"]), standardised(b["pred"])
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
    lin = s @ null.swap_products  # S is 0/1: (S∘dr)² = S·dr²; the text unit's cross term in the same product
    d_g, d_a, d_b, d_sum, d_sq = lin[:, :5].T
    if null.du is not None:  # D_k = S_k·dr_k + Σ_{texts t of k} T_t·du_t, with no rows × items matrix of D
        inc = null.incidence
        assert inc is not None
        k = null.units.n_texts
        td = swap[:, n:n + k] * null.du[:k]  # rows × texts: T_t·du_t
        d_g = d_g + td @ inc.g
        d_a = d_a + td @ inc.za
        d_b = d_b + td @ inc.zb
        d_sum = d_sum + td @ inc.degree
        # rows × texts: Σ_k S_k·dr_k·[t end of k] — a dense product with (A∘dr) where that matrix is small
        cross = lin[:, 5:] if lin.shape[1] > 5 else np.asarray((inc.matrix.T @ (s * dr).T).T)
        d_sq = d_sq + 2 * np.einsum("ij,ij->i", cross, td) + np.einsum("ij,ij->i", td @ inc.gram, td)
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
    if metric.family == "labels" and metric.paired == ("pred",):  # bitext: sparse label incidence
        score_a, score_b = bitext_swap_scores(metric.name, a["gold"], a["pred"], b["pred"], pair)
        return np.asarray(score_a - score_b)
    if metric.family in ("labels", "ap"):  # ap: the pairs' within-condition mid-ranks are swapped
        ra = {k: np.where(pair, b[k][None, :], a[k][None, :]) if k in metric.paired else
              np.broadcast_to(a[k], pair.shape) for k in a}
        rb = {k: np.where(pair, a[k][None, :], b[k][None, :]) if k in metric.paired else
              np.broadcast_to(a[k], pair.shape) for k in a}
        return np.asarray(metric.score(ra) - metric.score(rb))
    return _correlation_swap_stats(null, swap)


def random_swaps(rng: np.random.Generator, rows: int, m: int) -> np.ndarray:
    """``rows`` random swap patterns of ``m`` units (rows × m booleans, each a fair coin): the bits of the bit
    generator's raw 64-bit outputs, ⌈m/64⌉ per pattern (least significant bit first). One raw output per 64 units
    instead of one double per unit (≈ 40× less drawing; METHOD_VERSION 3), and a stream: drawn in any blocks, the
    patterns are the same."""
    words = (m + 63) // 64
    raw = np.ascontiguousarray(rng.bit_generator.random_raw((rows, words)), dtype="<u8")
    return np.unpackbits(raw.view(np.uint8).reshape(rows, 8 * words), axis=1, count=m, bitorder="little").view(bool)


def all_swaps(n: int) -> np.ndarray:
    """Every one of the 2^n swap patterns of n units (row i = the bits of i)."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)


TAIL_BELOW = 10  # fewer exceedances than this: a tail estimate is reported beside p (``p_tail``; see tail_p)
TAIL_SIZE = 250  # the largest |T*| the generalized Pareto distribution is fitted to


def tail_p(null_abs: np.ndarray, observed_abs: float) -> float | None:
    """P(|T*| ≥ |T|) from a generalized Pareto fit to the upper tail of the permutation distribution, for an
    observed statistic beyond (nearly) all permutations, where the Monte-Carlo estimate is stuck at its floor
    1/(1 + R) (Knijnenburg, Wessels, Reinders & Shmulevich 2009, "Fewer permutations, more accurate P-values",
    Bioinformatics 25(12): i161–i168). The exceedances over the threshold t (midway between the TAIL_SIZE-th and
    the next largest |T*|) are fitted by maximum likelihood (location 0); the fit is accepted when a
    Kolmogorov–Smirnov test does not reject it at 0.05, else the tail is shortened by 10 and refitted, down to 50
    exceedances; p = (N_exc / R) · (1 − F(|T| − t)). None when no acceptable fit exists."""
    from scipy import stats as sps

    x = np.sort(null_abs[~np.isnan(null_abs)])[::-1]
    r = len(x)
    size = min(TAIL_SIZE, r // 4)
    while size >= 50:
        t = float(x[size - 1] + x[size]) / 2
        exc = x[:size] - t
        if observed_abs <= t or np.ptp(exc) <= 0:
            return None
        with np.errstate(all="ignore"):
            shape, _, scale = sps.genpareto.fit(exc, floc=0)
            fit_ok = sps.kstest(exc, "genpareto", args=(shape, 0, scale)).pvalue >= 0.05
        if fit_ok and scale > 0:
            return float(size / r * sps.genpareto.sf(observed_abs - t, shape, 0, scale))
        size -= 10
    return None


@dataclass(frozen=True)
class PermutationResult:
    """One delta's permutation test. ``p`` = (1 + n_extreme) / (1 + n_valid) for the swaps actually drawn (never
    below 1/(1 + n_permutations)), or the exact share over all 2^m patterns; ``p_low``/``p_high`` its Monte-Carlo
    95% interval (Clopper–Pearson on n_extreme of n_valid; equal to ``p`` when exact); ``p_tail`` a separate,
    labelled generalized-Pareto estimate (:func:`tail_p`) for an observed statistic beyond nearly every swap, never
    used for ``p`` or a verdict; ``stop`` says why drawing stopped."""

    p: float
    n_permutations: int  # swap patterns drawn (2^m when exact)
    n_extreme: int  # of them at least as extreme as observed
    method: str  # exact | permutation
    p_low: float
    p_high: float
    p_tail: float | None
    stop: str  # exact | fixed (the R asked for) | large (clearly above the threshold) | determined | limit


CONFIDENCE_MC = 0.95  # the Monte-Carlo interval of a p-value
MAX_PERMUTATIONS = 10**6  # adaptive tests draw no more than this per delta
STOP_AFTER = 10  # Besag–Clifford: exceedances after which a test may stop early (when p is clearly large)
_EARLY = (100, 200, 500, 1000, 2000)  # looks before the first R the caller asked for (early stopping only)


def mc_interval(count: int | np.ndarray, n: int | np.ndarray, confidence: float = CONFIDENCE_MC
                ) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson interval of a binomial proportion (count of n): the Monte-Carlo interval of the permutation
    p-value that infinitely many swaps would give. The quantiles are ``scipy.stats.beta.ppf``'s own function
    (``betaincinv``, equal bit for bit), called without importing scipy.stats (≈ 0.4 s)."""
    from scipy.special import betaincinv

    c, r = np.asarray(count, dtype=np.float64), np.asarray(n, dtype=np.float64)
    a = (1 - confidence) / 2
    with np.errstate(all="ignore"):
        lo = np.where(c > 0, betaincinv(c, r - c + 1, a), 0.0)
        hi = np.where(c < r, betaincinv(c + 1, r - c, 1 - a), 1.0)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def decided(p: float, low: float, high: float, threshold: float) -> bool | None:
    """True (significant: p and the whole interval below the threshold), False (not: the interval at or above
    it), or None (the Monte-Carlo error leaves the decision open)."""
    if max(high, p) < threshold:
        return True
    if min(low, p) >= threshold:
        return False
    return None


def _targets(first: int, threshold: float | None, limit: int) -> list[int]:
    """Cumulative swap counts at which an adaptive test looks at its count."""
    if threshold is None:
        return [first]
    out = [t for t in _EARLY if t < first] + [first]
    while out[-1] < limit:
        out.append(min(2 * out[-1], limit))
    return out


NO_PERMUTATION = {
    "vmeasure": "cluster ids are arbitrary within each fitted clustering, so a text's assignment under one condition "
                "cannot stand in for its assignment under the other; a valid swap would re-run k-means per "
                "permutation (p is NaN, method 'none'; the bootstrap interval conditions on the two fitted "
                "clusterings — for mteb's registry tasks on every k-means run and the documents it drew)",
}


def permutation_p(metric: Metric, a: Columns, b: Columns, observed: float, n_permutations: int,
                  rng: np.random.Generator, *, units: Units | None = None, threshold: float | None = None,
                  max_permutations: int = MAX_PERMUTATIONS) -> PermutationResult:
    """Two-sided paired permutation test (:class:`PermutationResult`). ``observed`` is the delta; the test compares
    against the same statistic computed without swaps (equal to it up to rounding).

    ``threshold`` None: exactly ``n_permutations`` random swaps (or all 2^m patterns when 2^m ≤ that). With a
    threshold (a sequential Monte-Carlo test): swaps are drawn in blocks from ``rng`` — the same stream as a fixed
    run, so the first ``n_permutations`` draws are the fixed run's — and the count is looked at after 100, 200,
    500, 1,000, 2,000 swaps, at ``n_permutations`` and then at every doubling up to ``max_permutations``. Before
    ``n_permutations`` the test stops only when p is clearly large (Besag & Clifford 1991, Biometrika 78(2): at
    least :data:`STOP_AFTER` exceedances and the Monte-Carlo interval above ``threshold``); from ``n_permutations``
    on it stops as soon as the interval lies on one side of ``threshold`` (the decision is determined), else it
    draws on until ``max_permutations`` (``stop`` = ``limit``: undetermined there). When the next look would need
    at least 2^m swaps of m ≤ 20 units, all patterns are enumerated instead (exact)."""
    n = n_rows(a)
    units = units or Units.items(n)
    if metric.family == "vmeasure":  # no valid swap: see NO_PERMUTATION
        nan = float("nan")
        return PermutationResult(nan, 0, 0, "none", nan, nan, None, "none")
    null = _prepare_null(metric, a, b, units)
    m = null.n_swap_units
    stat0 = observed if metric.family == "mean" else float(_swap_stats(null, np.zeros((1, m), dtype=bool))[0])
    limit = max(n_permutations, max_permutations) if threshold is not None else n_permutations

    def exact() -> PermutationResult:
        stats = _swap_stats(null, all_swaps(m))
        extreme = np.abs(stats) >= abs(stat0) - _TOL
        p = float(extreme.mean())
        return PermutationResult(p, 2**m, int(extreme.sum()), "exact", p, p, None, "exact")

    can_enumerate = m <= _MAX_EXACT
    if can_enumerate and 2**m <= n_permutations:
        return exact()
    draws: list[np.ndarray] = []
    drawn = count = valid = 0
    stop = "fixed" if threshold is None else "limit"
    for target in _targets(n_permutations, threshold, limit):
        if can_enumerate and 2**m <= target:
            return exact()
        for rows in chunk_sizes(target - drawn, m):
            block = np.abs(_swap_stats(null, random_swaps(rng, rows, m)))
            block = block[~np.isnan(block)]
            draws.append(block)
            count += int((block >= abs(stat0) - _TOL).sum())
            valid += len(block)
        drawn = target
        if threshold is None:
            break
        lo, hi = (float(x) for x in mc_interval(count, max(valid, 1)))
        p = (1 + count) / (1 + valid)
        if target < n_permutations:
            if count >= STOP_AFTER and lo > threshold:
                stop = "large"
                break
        elif decided(p, lo, hi, threshold) is not None:
            stop = "determined"
            break
    lo, hi = (float(x) for x in mc_interval(count, max(valid, 1)))
    p_tail = None
    if count < TAIL_BELOW and valid:
        p_tail = tail_p(np.concatenate(draws), abs(stat0))
    return PermutationResult((1 + count) / (1 + valid), drawn, count, "permutation", lo, hi, p_tail, stop)
