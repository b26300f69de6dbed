"""Synthetic paired data with known truth, for calibrating :mod:`harness.stats` (used by
tests/test_stats_calibration.py; ``python -m tests.stats_calibration`` prints the figures at larger sizes).

Every generator returns one dataset of two conditions on the same items, and knows the population value of the
delta (the *true delta*) that the interval should cover.

- STS, Spearman / Pearson: gold = α_i + α_j + η_ij; condition c's latent similarity = gold + s_i + s_j + a^c_i +
  a^c_j + ε^c_ij (s: word effects shared by both conditions, a^c: condition-specific word effects, ε^c: pair
  noise). The observed "cosines" put the latent on different scales per condition (Spearman: a tanh squash vs an
  affine map; Pearson: two affine maps), as an instruction does. ``words=False`` draws every pair from fresh words
  (independent items, unit ``item``); ``words=True`` forms all pairs of ``n_words`` words (unit ``text``). The
  pairs' joint law of (gold, latent) is bivariate normal, so the true Pearson is ρ = sd(gold)/sd(latent) and the
  true Spearman (6/π)·asin(ρ/2), whatever the word structure and the monotone scale.
- Retrieval: per-query nDCG@10-like values 1/log2(1 + rank) (0 beyond rank 10), the rank of the relevant document
  geometric with a per-query difficulty shared by both conditions; true delta by a 2·10^6-query Monte Carlo.
- BitextMining F1: sentence i matched to its translation with probability p_c, else to a uniform random other
  sentence; the true delta is the n → ∞ value, E[2·1{correct} / (2 + Poisson(1 − p))] per condition (a label's
  predicted count is its own correct match plus the wrong matches that land on it).
- Classification accuracy: each test item correct with probability p_c + (a difficulty shared by both
  conditions), else another label; the true delta is p_a − p_b exactly.
- PairClassification AP (:class:`PairAP`) and Clustering v-measure (:class:`Clusters`, a fixed clustering per
  condition): see their docstrings.

Under the null both conditions have the same parameters (exchangeable), under the alternative condition b is
noisier. The OLD methods (raw-cosine swaps; pair-level resampling of shared-word data) are kept here, vectorised,
so that the tests can show they fail.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import kstest

from harness.stats import engine

Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    a: Columns
    b: Columns
    text1: np.ndarray | None = None
    text2: np.ndarray | None = None


# -- generators -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class STS:
    metric: str = "cosine_spearman"
    words: bool = True
    n_words: int = 20  # words=True: all n_words·(n_words − 1)/2 pairs
    n_pairs: int = 190  # words=False
    gold_word: float = 0.5  # sd of α
    shared_word: float = 0.3  # sd of s
    cond_word: float = 0.6  # sd of a^c
    noise: float = 1.0  # sd of ε^a
    extra_noise: float = 0.0  # condition b: sd of ε^b = noise + extra_noise

    def true_delta(self) -> float:
        vg = 2 * self.gold_word**2 + 1
        rest = 2 * self.shared_word**2 + 2 * self.cond_word**2
        ra = math.sqrt(vg / (vg + rest + self.noise**2))
        rb = math.sqrt(vg / (vg + rest + (self.noise + self.extra_noise) ** 2))
        if self.metric == "cosine_spearman":
            return 6 / math.pi * (math.asin(ra / 2) - math.asin(rb / 2))
        return ra - rb

    def draw(self, rng: np.random.Generator) -> Dataset:
        if self.words:
            i, j = np.triu_indices(self.n_words, 1)
            v = self.n_words
        else:
            n = self.n_pairs
            i, j = np.arange(n), np.arange(n, 2 * n)
            v = 2 * n
        n = len(i)
        alpha, s, wa, wb = (rng.normal(0, sd, v) for sd in (self.gold_word, self.shared_word, self.cond_word,
                                                             self.cond_word))
        gold = alpha[i] + alpha[j] + rng.normal(0, 1, n)
        la = gold + s[i] + s[j] + wa[i] + wa[j] + rng.normal(0, self.noise, n)
        lb = gold + s[i] + s[j] + wb[i] + wb[j] + rng.normal(0, self.noise + self.extra_noise, n)
        if self.metric == "cosine_spearman":  # a monotone squash vs an affine map: different cosine scales
            xa, xb = 0.55 + 0.25 * np.tanh(0.35 * la), 0.85 + 0.03 * lb
        else:
            xa, xb = 0.5 + 0.08 * la, 0.85 + 0.025 * lb
        return Dataset({"gold": gold, "pred": xa}, {"gold": gold, "pred": xb}, i, j)


@dataclass(frozen=True)
class Retrieval:
    n_queries: int = 150
    p_a: float = 0.45  # per-query success probability of the geometric rank, at mean difficulty
    p_b: float = 0.45

    metric: str = "ndcg_at_10"

    def _values(self, rng: np.random.Generator, difficulty: np.ndarray, p: float) -> np.ndarray:
        q = np.clip(p + difficulty, 0.02, 0.98)
        rank = rng.geometric(q)
        return np.where(rank <= 10, 1 / np.log2(1 + rank), 0.0)

    def true_delta(self) -> float:
        rng = np.random.default_rng(12345)
        difficulty = rng.uniform(-0.3, 0.3, 2_000_000)
        return float(self._values(rng, difficulty, self.p_a).mean() - self._values(rng, difficulty, self.p_b).mean())

    def draw(self, rng: np.random.Generator) -> Dataset:
        difficulty = rng.uniform(-0.3, 0.3, self.n_queries)
        return Dataset({"value": self._values(rng, difficulty, self.p_a)},
                       {"value": self._values(rng, difficulty, self.p_b)})


@dataclass(frozen=True)
class Bitext:
    n_sentences: int = 150
    p_a: float = 0.7
    p_b: float = 0.7

    metric: str = "f1"

    @staticmethod
    def _f1_limit(p: float) -> float:
        lam = 1 - p
        k = np.arange(60)
        poisson = np.exp(-lam + k * np.log(lam) - np.array([math.lgamma(x + 1) for x in k])) if lam > 0 else (
            k == 0).astype(float)
        return float(p * (2 / (2 + k) * poisson).sum())

    def true_delta(self) -> float:
        return self._f1_limit(self.p_a) - self._f1_limit(self.p_b)

    def _pred(self, rng: np.random.Generator, p: float) -> np.ndarray:
        n = self.n_sentences
        gold = np.arange(n)
        other = (gold + rng.integers(1, n, n)) % n  # a uniform random other sentence
        return np.where(rng.random(n) < p, gold, other).astype(np.float64)

    def draw(self, rng: np.random.Generator) -> Dataset:
        gold = np.arange(self.n_sentences, dtype=np.float64)
        return Dataset({"gold": gold, "pred": self._pred(rng, self.p_a)},
                       {"gold": gold, "pred": self._pred(rng, self.p_b)})


@dataclass(frozen=True)
class Classification:
    """Accuracy of one fitted classifier per condition: test item i (gold label in 0..2) is predicted correctly
    with probability p_c + d_i (d_i ~ U(−0.25, 0.25): an item difficulty shared by both conditions), else as one
    of the two other labels. The true delta is exactly p_a − p_b (E[d_i] = 0, no clipping)."""

    n_items: int = 150
    p_a: float = 0.7
    p_b: float = 0.7

    metric: str = "accuracy"

    def true_delta(self) -> float:
        return self.p_a - self.p_b

    def draw(self, rng: np.random.Generator) -> Dataset:
        n = self.n_items
        gold = rng.integers(0, 3, n)
        difficulty = rng.uniform(-0.25, 0.25, n)

        def pred(p: float) -> np.ndarray:
            wrong = (gold + rng.integers(1, 3, n)) % 3
            return np.where(rng.random(n) < p + difficulty, gold, wrong).astype(np.float64)

        g = gold.astype(np.float64)
        return Dataset({"gold": g, "pred": pred(self.p_a)}, {"gold": g, "pred": pred(self.p_b)})


@dataclass(frozen=True)
class PairAP:
    """Average precision of label-1 pairs ranked by a similarity: pair i (label y_i ~ Bernoulli(0.5)) has latent
    z^c_i = y_i + d_i + σ_c·ε^c_i (d_i ~ N(0, 0.5²): a pair effect shared by both conditions); condition a observes
    tanh(z), condition b an affine map of z (two monotone scales, as instructions give). AP depends on the order
    only, so the true delta is AP_a − AP_b of the population, by a 2·10^6-pair Monte Carlo (σ_a = σ_b: 0)."""

    n_items: int = 150
    sigma_a: float = 1.0
    sigma_b: float = 1.0

    metric: str = "similarity_ap"

    def _draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.5).astype(np.float64)
        d = rng.normal(0, 0.5, n)
        za = y + d + self.sigma_a * rng.normal(size=n)
        zb = y + d + self.sigma_b * rng.normal(size=n)
        return y, np.tanh(za), 3 * zb - 1

    def true_delta(self) -> float:
        if self.sigma_a == self.sigma_b:
            return 0.0
        y, a, b = self._draw(np.random.default_rng(12345), 2_000_000)
        m = engine.metric_for("PairClassification", "similarity_ap")
        assert m is not None
        return float(m.score({"gold": y[None], "pred": a[None]})[0] - m.score({"gold": y[None], "pred": b[None]})[0])

    def draw(self, rng: np.random.Generator) -> Dataset:
        y, a, b = self._draw(rng, self.n_items)
        ra, rb = engine.midranks(a) / len(a), engine.midranks(b) / len(b)  # what item_columns gives the statistics
        return Dataset({"gold": y, "pred": ra}, {"gold": y, "pred": rb})


@dataclass(frozen=True)
class Clusters:
    """v-measure of one fitted clustering per condition: text i (gold label g_i of K = 4) is in its label's cluster
    π_c(g_i) (π_c a fixed relabelling per condition) with probability p_c + d_i (d_i ~ U(−0.2, 0.2): a text
    difficulty shared by both conditions), else in a uniform random cluster. The true delta is the v-measure of the
    two population joint laws P(g, k) = (1/K)[p·1{k = π(g)} + (1 − p)/K] (E d_i = 0: the law is linear in p)."""

    n_items: int = 150
    p_a: float = 0.6
    p_b: float = 0.6
    k: int = 4

    metric: str = "v_measure"

    def _population(self, p: float) -> float:
        k = self.k
        joint = (p * np.eye(k) + (1 - p) / k) / k
        m = engine.metric_for("Clustering", "v_measure")
        assert m is not None
        return float(m.weighted({"gold": np.repeat(np.arange(k), k).astype(np.float64),
                                 "pred": np.tile(np.arange(k), k).astype(np.float64)}, joint.reshape(1, -1))[0])

    def true_delta(self) -> float:
        return self._population(self.p_a) - self._population(self.p_b)

    def draw(self, rng: np.random.Generator) -> Dataset:
        n, k = self.n_items, self.k
        gold = rng.integers(0, k, n)
        difficulty = rng.uniform(-0.2, 0.2, n)

        def pred(p: float) -> np.ndarray:
            relabel = rng.permutation(k)
            return np.where(rng.random(n) < p + difficulty, relabel[gold], rng.integers(0, k, n)).astype(np.float64)

        g = gold.astype(np.float64)
        return Dataset({"gold": g, "pred": pred(self.p_a)}, {"gold": g, "pred": pred(self.p_b)})


Generator = STS | Retrieval | Bitext | Classification | PairAP | Clusters
TASK_TYPE = {STS: "STS", Retrieval: "Retrieval", Bitext: "BitextMining", Classification: "Classification",
             PairAP: "PairClassification", Clusters: "Clustering"}


def _task_type(gen: Generator) -> str:
    """The generator's task type (generators elsewhere, e.g. tests/stats_calibration_registry.py, state theirs)."""
    return getattr(gen, "task_type", None) or TASK_TYPE[type(gen)]


def _metric(gen: Generator) -> engine.Metric:
    m = engine.metric_for(_task_type(gen), gen.metric)
    assert m is not None
    return m


def _units(gen: Generator, data: Dataset, unit: str | None) -> engine.Units:
    n = len(next(iter(data.a.values())))
    return engine.resample_units(_task_type(gen), n, unit=unit, text1=data.text1, text2=data.text2)


# -- calibration runs -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NullResult:
    p_values: np.ndarray

    @property
    def rejection(self) -> float:
        return float((self.p_values <= 0.05).mean())

    @property
    def ks_p(self) -> float:
        return float(kstest(self.p_values, "uniform").pvalue)


@dataclass(frozen=True)
class CoverageResult:
    covered: np.ndarray
    widths: np.ndarray
    truth: float

    @property
    def coverage(self) -> float:
        return float(self.covered.mean())


PValue = Callable[[engine.Metric, Dataset, engine.Units, int, np.random.Generator], float]


def new_p(metric: engine.Metric, data: Dataset, units: engine.Units, n_perm: int, rng: np.random.Generator) -> float:
    observed = float(metric.score({k: v[None] for k, v in data.a.items()})[0]
                     - metric.score({k: v[None] for k, v in data.b.items()})[0])
    return engine.permutation_p(metric, data.a, data.b, observed, n_perm, rng, units=units).p


def old_raw_swap_p(metric: engine.Metric, data: Dataset, units: engine.Units, n_perm: int,
                   rng: np.random.Generator) -> float:
    """The old test: swap each pair's raw predictions and recompute the metric (Spearman re-ranks)."""
    a, b = data.a, data.b
    n = len(a["pred"])
    swap = np.vstack([np.zeros(n, dtype=bool), rng.random((n_perm, n)) < 0.5])
    gold = np.broadcast_to(a["gold"], swap.shape)
    sa = {"gold": gold, "pred": np.where(swap, b["pred"], a["pred"])}
    sb = {"gold": gold, "pred": np.where(swap, a["pred"], b["pred"])}
    t = metric.score(sa) - metric.score(sb)
    return float((1 + (np.abs(t[1:]) >= abs(t[0]) - 1e-12).sum()) / (1 + n_perm))


def null_run(gen: Generator, *, datasets: int, n_perm: int, seed: int, unit: str | None = None,
             p_value: PValue = new_p) -> NullResult:
    """p-values of ``datasets`` null datasets (``unit`` None: the inferred one)."""
    rng = np.random.default_rng(seed)
    metric = _metric(gen)
    ps = []
    units = None
    for _ in range(datasets):
        data = gen.draw(rng)
        units = units or _units(gen, data, unit)  # the same texts in every dataset of a generator
        ps.append(p_value(metric, data, units, n_perm, rng))
    return NullResult(np.array(ps))


def coverage_run(gen: Generator, *, datasets: int, n_boot: int, seed: int, unit: str | None = None,
                 rescale: bool = True) -> CoverageResult:
    """How often the bootstrap interval (``n_boot`` resamples per dataset) covers the true delta. ``rescale=False``:
    the plain percentile interval (for the text unit: the raw vertex bootstrap)."""
    rng = np.random.default_rng(seed)
    metric = _metric(gen)
    truth = gen.true_delta()
    covered, widths = [], []
    units = None
    for _ in range(datasets):
        data = gen.draw(rng)
        units = units or _units(gen, data, unit)
        observed = float(metric.score({k: v[None] for k, v in data.a.items()})[0]
                         - metric.score({k: v[None] for k, v in data.b.items()})[0])
        if rescale:
            lo, hi, _ = engine.bootstrap_interval(metric, data.a, data.b, observed, n_boot, rng, units=units)
        else:
            boot = engine.bootstrap_deltas(metric, data.a, data.b, n_boot, rng, units=units)
            lo, hi = np.quantile(boot[~np.isnan(boot)], [0.025, 0.975])
        covered.append(lo <= truth <= hi)
        widths.append(hi - lo)
    return CoverageResult(np.array(covered), np.array(widths), truth)


# -- the scenarios of the tests and of the report -----------------------------------------------------------------
NULLS: dict[str, Generator] = {
    "spearman/item": STS(words=False),
    "spearman/text": STS(words=True),
    "pearson/item": STS("cosine_pearson", words=False),
    "pearson/text": STS("cosine_pearson", words=True),
    "retrieval/query": Retrieval(),
    "bitext/sentence": Bitext(),
    "pair_ap/item": PairAP(),
}
# Nulls of a discrete statistic (accuracy: Δ takes multiples of 1/n and many swaps tie): the permutation p is valid
# but conservative (ties count as extreme), so it is checked as P(p ≤ α) ≤ α, not as uniform.
DISCRETE_NULLS: dict[str, Generator] = {"classification/item": Classification()}
EFFECTS: dict[str, Generator] = {
    "spearman/item": STS(words=False, extra_noise=0.6),
    "spearman/text": STS(words=True, extra_noise=0.6),
    "pearson/item": STS("cosine_pearson", words=False, extra_noise=0.6),
    "pearson/text": STS("cosine_pearson", words=True, extra_noise=0.6),
    "retrieval/query": Retrieval(p_b=0.35),
    "bitext/sentence": Bitext(p_b=0.6),
    "classification/item": Classification(p_b=0.6),
    "pair_ap/item": PairAP(sigma_b=1.6),
    "v_measure/item": Clusters(p_b=0.45),
}


def report(datasets: int = 1000, n_perm: int = 199, n_boot: int = 1000, n_words: int = 35,
           old_datasets: int = 300) -> None:
    """Print the calibration figures of the new and the old methods (slow: many minutes)."""
    import time

    def sized(gen: Generator) -> Generator:
        return dataclasses.replace(gen, n_words=n_words) if isinstance(gen, STS) and gen.words else gen

    print(f"null: {datasets} datasets × {n_perm} permutations (old methods: {old_datasets}); coverage: {datasets} "
          f"datasets × {n_boot} resamples (old: {old_datasets}); shared-word STS: all pairs of {n_words} words",
          flush=True)
    for name, gen in {**NULLS, **DISCRETE_NULLS}.items():
        t0 = time.time()
        r = null_run(sized(gen), datasets=datasets, n_perm=n_perm, seed=1)
        line = f"null     {name:16s} new: rejection@0.05 {r.rejection:.3f}, KS p {r.ks_p:.3g}"
        if isinstance(gen, STS):
            old = null_run(sized(gen), datasets=old_datasets, n_perm=n_perm, seed=1, p_value=old_raw_swap_p)
            line += f" | old raw-cosine swaps: {old.rejection:.3f}, KS p {old.ks_p:.3g}"
            if gen.words:
                pair = null_run(sized(gen), datasets=old_datasets, n_perm=n_perm, seed=1, unit="item")
                line += f" | rank swaps per pair only: {pair.rejection:.3f}, KS p {pair.ks_p:.3g}"
        print(line + f"  ({time.time() - t0:.0f}s)", flush=True)
    for name, gen in EFFECTS.items():
        t0 = time.time()
        r = coverage_run(sized(gen), datasets=datasets, n_boot=n_boot, seed=2)
        line = f"coverage {name:16s} new: {r.coverage:.3f} (mean width {r.widths.mean():.4f})"
        if isinstance(gen, STS) and gen.words:
            old = coverage_run(sized(gen), datasets=old_datasets, n_boot=n_boot, seed=2, unit="item")
            line += f" | old pair-level bootstrap: {old.coverage:.3f} (width {old.widths.mean():.4f})"
            raw = coverage_run(sized(gen), datasets=old_datasets, n_boot=n_boot, seed=2, rescale=False)
            line += f" | raw vertex bootstrap: {raw.coverage:.3f} (width {raw.widths.mean():.4f})"
        print(line + f"  ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    report()


# -- a task family sharing words ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class STSFamily:
    """``n_tasks`` word-pair STS tasks (all pairs of their words) that share ``n_shared`` words, as the Scale tasks
    share their 14 control words, plus ``n_own`` words each. A shared word has the same effects (α, s, a^c) in
    every task, so it moves every task's delta at once; pair noise is per task. Every task has the law of
    :class:`STS`, so the family mean's true delta is :meth:`STS.true_delta`."""

    task: STS = dataclasses.field(default_factory=lambda: STS(extra_noise=0.5, cond_word=0.8))
    n_tasks: int = 4
    n_shared: int = 14
    n_own: int = 6

    def draw(self, rng: np.random.Generator) -> list[Dataset]:
        g = self.task
        shared = [rng.normal(0, sd, self.n_shared) for sd in (g.gold_word, g.shared_word, g.cond_word, g.cond_word)]
        out = []
        for t in range(self.n_tasks):
            own = [rng.normal(0, sd, self.n_own) for sd in (g.gold_word, g.shared_word, g.cond_word, g.cond_word)]
            alpha, s, wa, wb = (np.concatenate([x, y]) for x, y in zip(shared, own, strict=True))
            names = np.array([f"shared{k}" for k in range(self.n_shared)] + [f"t{t}w{k}" for k in range(self.n_own)],
                             dtype=object)
            i, j = np.triu_indices(len(names), 1)
            n = len(i)
            gold = alpha[i] + alpha[j] + rng.normal(0, 1, n)
            la = gold + s[i] + s[j] + wa[i] + wa[j] + rng.normal(0, g.noise, n)
            lb = gold + s[i] + s[j] + wb[i] + wb[j] + rng.normal(0, g.noise + g.extra_noise, n)
            xa, xb = 0.55 + 0.25 * np.tanh(0.35 * la), 0.85 + 0.03 * lb
            out.append(Dataset({"gold": gold, "pred": xa}, {"gold": gold, "pred": xb}, names[i], names[j]))
        return out


def family_coverage_run(gen: STSFamily, *, datasets: int, n_boot: int, seed: int, joint: bool) -> CoverageResult:
    """Coverage of the family-mean delta's 95% interval (harness.analysis.family) over simulated families."""
    from harness.analysis import family
    from harness.stats.bootstrap import score_variance, text_variance
    from harness.stats.units import recurring_texts

    metric = engine.metric_for("STS", gen.task.metric)
    assert metric is not None
    truth = gen.task.true_delta()
    rng = np.random.default_rng(seed)
    covered, widths = [], []
    for _ in range(datasets):
        parts, observed = [], []
        for data in gen.draw(rng):
            units = engine.resample_units("STS", len(data.a["gold"]), text1=data.text1, text2=data.text2)
            parts.append(family.Part(metric, data.a, data.b, units, recurring_texts(data.text1, data.text2),
                                     float(score_variance(metric, data.a, units) or np.nan),
                                     float(text_variance(metric, data.a, data.b, units) or np.nan)))
            observed.append(float(metric.score({k: v[None] for k, v in data.a.items()})[0]
                                  - metric.score({k: v[None] for k, v in data.b.items()})[0]))
        _, db = family.replicates(parts, n_boot, rng, joint=joint)
        lo, hi = family.mean_interval(np.array(observed), db, np.array([p.delta_var for p in parts]), 0.95)
        covered.append(lo <= truth <= hi)
        widths.append(hi - lo)
    return CoverageResult(np.array(covered), np.array(widths), truth)
