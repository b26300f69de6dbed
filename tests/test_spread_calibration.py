"""The paraphrase spread test (harness/analysis/paraphrase.py: permute each item's predictions among the k
variants) and why the range/SD intervals it replaces were dropped, by seeded simulation.

Simulated variants: item i's prediction under variant j is gold_i + u_i + σ·e_ij (u_i: the item's own deviation,
shared by every variant; e_ij independent). Every variant then has the same true score, so the null holds exactly;
σ small makes the variants nearly equal. Under the null the permutation p is super-uniform by construction
(P(p ≤ α) ≤ α), which 400 simulated data sets check within 3 binomial SEs; p is never below 1/(R + 1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from harness.analysis import paraphrase
from harness.stats import engine, joint


def _metric(task_type: str, name: str) -> engine.Metric:
    m = engine.metric_for(task_type, name)
    assert m is not None
    return m


STS = _metric("STS", "cosine_spearman")
RET = _metric("Retrieval", "ndcg_at_10")


def _sts_cells(rng: np.random.Generator, n: int, k: int, sigma: float, shift: float = 0.0) -> list[engine.Columns]:
    gold = rng.standard_normal(n)
    u = rng.standard_normal(n)
    cells = [{"gold": gold, "pred": gold + u + sigma * rng.standard_normal(n)} for _ in range(k)]
    cells[0]["pred"] = cells[0]["pred"] + shift * rng.standard_normal(n)  # variant 1 noisier: a lower true score
    return cells


def _null_ps(metric: engine.Metric, make: Callable[[np.random.Generator], list[engine.Columns]], sims: int,
             r: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.array([paraphrase.spread_test(metric, make(rng), seed=s, n_permutations=r)[0] for s in range(sims)])


@pytest.mark.parametrize("sigma", [0.5, 0.03])  # distinct and nearly equal variants: both exact nulls
def test_spread_test_is_uniform_under_the_null_and_never_below_one_over_r_plus_one(sigma: float) -> None:
    r, sims = 99, 400
    ps = _null_ps(STS, lambda rng: _sts_cells(rng, 30, 4, sigma), sims, r)
    assert ps.min() >= 1 / (r + 1)
    se = np.sqrt(0.05 * 0.95 / sims)
    for alpha in (0.05, 0.2):
        assert (ps <= alpha).mean() <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / sims), alpha
    assert (ps <= 0.05).mean() >= 0.05 - 3 * se  # not needlessly conservative either


def test_a_variant_that_shifts_and_rescales_every_similarity_is_no_spread() -> None:
    """Instructions move all cosines of a model together; that leaves a correlation unchanged. Permuting raw
    similarities across such variants mixes the offsets into every permuted score, which spreads the permuted
    scores: the raw test rejected 0 of these 300 nulls at 0.05 (all power gone; on minilm's scale views p ≈ 0.97).
    The test permutes within-variant z-scores instead and keeps its size."""
    def make(rng: np.random.Generator) -> list[engine.Columns]:
        cells = _sts_cells(rng, 30, 4, 0.1)
        return [{"gold": c["gold"], "pred": (1 + j) * c["pred"] + 2.0 * j} for j, c in enumerate(cells)]

    ps = _null_ps(STS, make, 300, 99)
    se = np.sqrt(0.05 * 0.95 / 300)
    assert 0.05 - 3 * se <= (ps <= 0.05).mean() <= 0.05 + 3 * se


def test_spread_test_on_per_query_retrieval_values_is_uniform_under_the_null() -> None:
    def make(rng: np.random.Generator) -> list[engine.Columns]:
        base = rng.uniform(0, 1, 40)
        return [{"value": np.clip(base + 0.2 * rng.standard_normal(40), 0, 1)} for _ in range(5)]

    ps = _null_ps(RET, make, 300, 99)
    assert ps.min() >= 0.01 and (ps <= 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)


def test_identical_variants_give_p_one() -> None:
    cells = _sts_cells(np.random.default_rng(0), 30, 5, 0.0)  # σ = 0: the same predictions under every variant
    assert paraphrase.spread_test(STS, cells, seed=1, n_permutations=199) == (1.0, 199, 199)


def test_spread_test_finds_a_variant_that_differs() -> None:
    rng = np.random.default_rng(4)
    ps = [paraphrase.spread_test(STS, _sts_cells(rng, 100, 4, 0.3, shift=3.0), seed=s, n_permutations=199)[0]
          for s in range(40)]
    assert np.mean(np.array(ps) <= 0.05) >= 0.95  # measured 40 of 40


@pytest.mark.parametrize(("sigma", "share"), [(0.03, 0.34), (0.3, 0.82)])  # seeded: exact shares of 50
def test_the_old_bias_corrected_range_interval_leaves_its_regime(sigma: float, share: float) -> None:
    """What the spread test replaced: the bias-corrected (BC) bootstrap interval of the range across variants of
    equal true score (true range 0). Resampling inflates every range, so z0 is large and the BC lower bound's
    percentile Φ(2·z0 − 1.96) falls below 1/B: the bound is the smallest of the B replicates, not an estimated
    2.5 % point (the issue's "bound at the 9e-8 quantile")."""
    from scipy.stats import norm

    rng, b, below = np.random.default_rng(7), 400, 0
    for _ in range(50):
        cells = _sts_cells(rng, 30, 5, sigma)
        w = engine.resample_weights(engine.resample_units("STS", 30), b, rng)
        boot = np.stack([STS.weighted(c, w) for c in cells], axis=1)
        ranges = boot.max(axis=1) - boot.min(axis=1)
        obs = np.array([STS.score({k: v[None, :] for k, v in c.items()})[0] for c in cells])
        observed = obs.max() - obs.min()
        z0 = norm.ppf(np.clip((np.sum(ranges < observed) + 0.5 * np.sum(ranges == observed)) / b, 0.5 / b,
                              1 - 0.5 / b))
        below += norm.cdf(2 * z0 - norm.ppf(0.975)) < 1 / b
        lo, hi = joint.bias_corrected_ci(ranges, float(observed))
        assert lo >= ranges.min() and hi <= ranges.max()
    assert below / 50 == share


def test_the_per_pair_test_also_rejects_word_level_variant_noise() -> None:
    """The documented limit: 10 words, all 45 pairs; each variant moves each word by its own N(0, 0.3²) offset
    (equal in expectation over words, different on these words). Permuting per pair treats those differences as
    real: far more than 5 % rejections (1,000 simulations: 17.7 %, NOTES.md)."""
    import itertools

    pairs = np.array(list(itertools.combinations(range(10), 2)))
    rng = np.random.default_rng(3)

    def make(rng: np.random.Generator) -> list[engine.Columns]:
        x = rng.standard_normal(10)
        gold = -np.abs(x[pairs[:, 0]] - x[pairs[:, 1]])
        u = 0.5 * rng.standard_normal(len(pairs))
        cells = []
        for _ in range(5):
            a = 0.3 * rng.standard_normal(10)
            cells.append({"gold": gold, "pred": gold + u + a[pairs[:, 0]] + a[pairs[:, 1]]
                          + 0.1 * rng.standard_normal(len(pairs))})
        return cells

    ps = np.array([paraphrase.spread_test(STS, make(rng), seed=s, n_permutations=99)[0] for s in range(200)])
    assert (ps <= 0.05).mean() > 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)
