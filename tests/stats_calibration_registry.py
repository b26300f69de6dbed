"""Synthetic paired data with known truth for the metrics of mteb's registry PairClassification and Clustering
tasks (used by tests/test_stats_calibration_registry.py; ``python -m tests.stats_calibration_registry`` prints the
figures at larger sizes). The runs are those of :mod:`tests.stats_calibration`.

- :class:`MaxPairAP`: mteb's ``max_ap``, the best AP of five scoring functions per cell, recomputed on every
  resample (the chosen function may change).
- :class:`ClusterRuns`: mteb's mean v-measure over k-means runs that each draw documents with replacement; the
  documents are resampled, every run's draws and clusters fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from harness.stats import engine
from harness.stats.pair_cluster import MAX_AP_COLUMNS
from tests import stats_calibration as sc


@dataclass(frozen=True)
class MaxPairAP:
    """Pair i (label y_i ~ Bernoulli(0.5)) has a latent z^c_i = y_i + d_i + σ_c·ε^c_i per condition (d_i ~ N(0,
    0.5²) shared by both conditions, as in :class:`tests.stats_calibration.PairAP`); scoring function f sees
    z^c_i + τ_f·η^c_if (independent noise per function: the model's similarity and cosine identical, τ = 0, as for a
    cosine model; dot product and the two distances noisier). Only the order matters for AP, so each function's
    column is its within-cell mid-rank ÷ n (what ``item_columns`` gives; distances are negated before ranking, and
    a monotone scale changes nothing). The true delta is max_f AP_a,f − max_f AP_b,f of the population (a 2·10^6-
    pair Monte Carlo per function); ``taus`` all equal is the worst case for the max (a near-tie of five noisy
    functions: the sample maximum is biased upward)."""

    n_items: int = 150
    sigma_a: float = 1.0
    sigma_b: float = 1.0
    taus: tuple[float, ...] = (0.0, 0.0, 0.3, 0.3, 0.5)

    metric: str = "max_ap"
    task_type: ClassVar[str] = "PairClassification"

    def _draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                dict[str, np.ndarray]]:
        y = (rng.random(n) < 0.5).astype(np.float64)
        d = rng.normal(0, 0.5, n)
        za = y + d + self.sigma_a * rng.normal(size=n)
        zb = y + d + self.sigma_b * rng.normal(size=n)
        same = rng.normal(size=(2, n))  # similarity = cosine: one noise draw for both (τ = 0 here anyway)

        def functions(z: np.ndarray, base: np.ndarray) -> dict[str, np.ndarray]:
            return {c: z + t * (base if j < 2 else rng.normal(size=n)) for j, (c, t) in
                    enumerate(zip(MAX_AP_COLUMNS, self.taus, strict=True))}

        return y, functions(za, same[0]), functions(zb, same[1])

    def true_delta(self) -> float:
        if self.sigma_a == self.sigma_b:
            return 0.0
        y, a, b = self._draw(np.random.default_rng(12345), 2_000_000)
        m = engine.metric_for("PairClassification", self.metric)
        assert m is not None
        return float(m.score({"gold": y[None], **{k: v[None] for k, v in a.items()}})[0]
                     - m.score({"gold": y[None], **{k: v[None] for k, v in b.items()}})[0])

    def draw(self, rng: np.random.Generator) -> sc.Dataset:
        y, a, b = self._draw(rng, self.n_items)
        n = self.n_items
        return sc.Dataset({"gold": y, **{k: engine.midranks(v) / n for k, v in a.items()}},
                          {"gold": y, **{k: engine.midranks(v) / n for k, v in b.items()}})


@dataclass(frozen=True)
class ClusterRuns:
    """mteb's runs: ``n_items`` documents (gold label g_i of K = 4, a difficulty d_i ~ U(−0.2, 0.2) shared by both
    conditions); each of ``runs`` runs draws ``draws`` documents with replacement (the same draws in both conditions:
    mteb's seeded generator) and clusters them: document i lands in its label's cluster π_cr(g_i) (a relabelling per
    condition and run) with probability p_c + d_i, else in a uniform random cluster, independently per run (each
    run is another k-means fit) and alike for its repeated draws. The score is the mean over runs of each run's
    v-measure on its draws; as documents and draws grow it tends to the v-measure of the population joint law, so
    the true delta is that of :class:`tests.stats_calibration.Clusters`."""

    n_items: int = 150
    draws: int = 600
    runs: int = 10
    p_a: float = 0.6
    p_b: float = 0.6
    k: int = 4

    metric: str = "v_measure"
    task_type: ClassVar[str] = "Clustering"

    def true_delta(self) -> float:
        return sc.Clusters(p_a=self.p_a, p_b=self.p_b, k=self.k).true_delta()

    def draw(self, rng: np.random.Generator) -> sc.Dataset:
        n, k, r = self.n_items, self.k, self.runs
        gold = rng.integers(0, k, n)
        difficulty = rng.uniform(-0.2, 0.2, n)
        cnt = np.stack([np.bincount(rng.integers(0, n, self.draws), minlength=n) for _ in range(r)], axis=1)

        def pred(p: float) -> np.ndarray:
            cols = []
            for _ in range(r):
                relabel = rng.permutation(k)
                cols.append(np.where(rng.random(n) < p + difficulty, relabel[gold], rng.integers(0, k, n)))
            return np.stack(cols, axis=1).astype(np.float64)

        drawn = cnt.sum(axis=1) > 0  # the items: documents some run drew
        g = np.repeat(gold[:, None], r, axis=1).astype(np.float64)[drawn]
        c = cnt.astype(np.float64)[drawn]
        return sc.Dataset({"gold": g, "pred": pred(self.p_a)[drawn], "cnt": c},
                          {"gold": g, "pred": pred(self.p_b)[drawn], "cnt": c})


NULLS = {"max_ap/item": MaxPairAP()}
# max_accuracy's Δ is discrete (multiples of 1/n): its p is checked as valid (P(p ≤ α) ≤ α), not uniform
DISCRETE_NULLS = {"max_accuracy/item": MaxPairAP(metric="max_accuracy")}
EFFECTS = {"max_ap/item": MaxPairAP(sigma_b=1.6), "max_accuracy/item": MaxPairAP(sigma_b=1.6, metric="max_accuracy"),
           "v_measure_runs/item": ClusterRuns(p_b=0.45)}
REPORT_ONLY = {"max_ap near-tie/item": MaxPairAP(sigma_b=1.6, taus=(0.3,) * 5)}


def report(datasets: int = 1000, n_perm: int = 199, n_boot: int = 1000) -> None:
    """Print the figures (slow: minutes)."""
    import time

    print(f"null: {datasets} datasets × {n_perm} permutations; coverage: {datasets} × {n_boot} resamples",
          flush=True)
    for name, gen in {**NULLS, **DISCRETE_NULLS, "max_ap near-tie/item": MaxPairAP(taus=(0.3,) * 5)}.items():
        t0 = time.time()
        res = sc.null_run(gen, datasets=datasets, n_perm=n_perm, seed=1)  # type: ignore[arg-type]
        print(f"null     {name:22s} rejection@0.05 {res.rejection:.3f}, KS p {res.ks_p:.3g}, P(p ≤ α) at 0.01, "
              f"0.05, 0.1, 0.2, 0.5: {[round(float((res.p_values <= a).mean()), 3) for a in (.01, .05, .1, .2, .5)]}"
              f"  ({time.time() - t0:.0f}s)", flush=True)
    for name, gen in {**EFFECTS, **REPORT_ONLY}.items():
        t0 = time.time()
        cov = sc.coverage_run(gen, datasets=datasets, n_boot=n_boot, seed=2)  # type: ignore[arg-type]
        print(f"coverage {name:22s} {cov.coverage:.3f} (true Δ {cov.truth:+.4f}, mean width {cov.widths.mean():.4f})"
              f"  ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    import sys

    report(*(int(x) for x in sys.argv[1:]))
