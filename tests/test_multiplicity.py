"""Adaptive permutation p-values and the multiplicity families (harness/stats/permutation.py, multiplicity.py).

Seeded, seconds: the mean metric (sign flips of per-item differences) makes a swap cheap, so thousands of nulls fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kstest

from harness.analysis import multiplicity
from harness.stats import engine
from harness.stats.permutation import mc_interval, permutation_p

MEAN = engine.metric_for("Retrieval", "ndcg_at_10")
assert MEAN is not None


def _pair(rng: np.random.Generator, n: int, effect: float) -> tuple[engine.Columns, engine.Columns, float]:
    base = rng.random(n)
    a = {"value": base + effect + rng.normal(0, 0.3, n)}
    b = {"value": base + rng.normal(0, 0.3, n)}
    return a, b, float(a["value"].mean() - b["value"].mean())


def test_adaptive_p_is_uniform_under_the_null_and_never_below_one_over_r_plus_one() -> None:
    rng = np.random.default_rng(0)
    ps, floors, drawn = [], [], []
    for i in range(400):
        a, b, obs = _pair(rng, 40, 0.0)
        t = permutation_p(MEAN, a, b, obs, 200, np.random.default_rng(i), threshold=0.05, max_permutations=20_000)
        ps.append(t.p)
        floors.append(1 / (1 + t.n_permutations))
        drawn.append(t.n_permutations)
        assert t.p == (1 + t.n_extreme) / (1 + t.n_permutations)
        assert t.p_low <= t.n_extreme / t.n_permutations <= t.p_high
    p = np.array(ps)
    assert (p >= np.array(floors)).all()
    assert kstest(p, "uniform").pvalue > 0.001
    assert abs((p < 0.05).mean() - 0.05) <= 0.03  # 400 nulls: SE 0.011
    # clearly large p stop early (Besag–Clifford), an open decision draws on
    assert min(drawn) < 200 < max(drawn)


def test_early_stop_only_when_p_is_clearly_large_and_open_decisions_draw_more() -> None:
    rng = np.random.default_rng(1)
    a, b, obs = _pair(rng, 60, 0.0)
    t = permutation_p(MEAN, a, b, obs, 5000, np.random.default_rng(2), threshold=0.05)
    assert t.stop == "large" and t.n_permutations < 5000 and t.n_extreme >= 10 and t.p_low > 0.05
    fixed = permutation_p(MEAN, a, b, obs, 5000, np.random.default_rng(2))
    assert fixed.stop == "fixed" and fixed.n_permutations == 5000


def test_the_adaptive_draws_are_the_fixed_runs_draws() -> None:
    rng = np.random.default_rng(5)
    for seed in range(30):
        a, b, _ = _pair(rng, 50, 0.07)
        st = engine.paired_stats(MEAN, a, b, seed=seed, n_bootstrap=50, n_permutations=1000)
        again = engine.paired_p(MEAN, a, b, seed=seed, n_permutations=st.n_permutations)
        assert (again.n_extreme, again.p) == (st.n_extreme, st.p_value)  # the same stream, the same swaps
        if st.n_permutations > 1000:
            first = engine.paired_p(MEAN, a, b, seed=seed, n_permutations=1000)
            assert first.n_extreme <= st.n_extreme


def test_clopper_pearson_interval_covers() -> None:
    rng = np.random.default_rng(3)
    for true_p, n in ((0.01, 500), (0.05, 2000), (0.3, 100)):
        counts = rng.binomial(n, true_p, 4000)
        lo, hi = mc_interval(counts, n)
        cover = ((lo <= true_p) & (true_p <= hi)).mean()
        assert 0.95 <= cover <= 0.995, (true_p, n, cover)  # Clopper–Pearson is conservative by construction


# -- families -------------------------------------------------------------------------------------------------
def _frame(model: str, effects: list[float], seed: int, *, n_permutations: int = 500
           ) -> tuple[pd.DataFrame, dict[int, tuple[engine.Columns, engine.Columns, int]]]:
    rng = np.random.default_rng(seed)
    rows, data = [], {}
    for j, eff in enumerate(effects):
        a, b, _ = _pair(rng, 200, eff)
        s = engine.paired_stats(MEAN, a, b, seed=seed * 1000 + j, n_bootstrap=50, n_permutations=n_permutations)
        for effect, baseline in (("total", "none"), ("content", "placebo")):
            rows.append({"model": model, "alias": model, "revision": "1", "task": f"T{j}", "subset": "default",
                         "split": "test", "metric": "ndcg_at_10", "instruction_sha256": f"c{j}",
                         "baseline_sha256": baseline, "condition": "blog", "baseline": baseline, "effect": effect,
                         "p_value": s.p_value, "p_mc_low": s.p_mc_low, "p_mc_high": s.p_mc_high,
                         "p_tail": s.p_tail, "n_permutations": s.n_permutations, "n_extreme": s.n_extreme,
                         "p_method": s.p_method, "p_stop": s.p_stop})
            data[len(rows) - 1] = (a, b, seed * 1000 + j)
    return pd.DataFrame(rows), data


def _rerun(frame: pd.DataFrame, data: dict[int, tuple[engine.Columns, engine.Columns, int]]
           ) -> multiplicity.Rerun:
    def rerun(i: int, n: int) -> engine.PermutationResult:
        a, b, seed = data[i]
        return engine.paired_p(MEAN, a, b, seed=seed, n_permutations=n)
    return rerun


def test_adding_a_model_leaves_another_models_adjusted_p_bit_identical() -> None:
    one, d1 = _frame("m1", [0.0, 0.05, 0.1, 0.2, 0.03], seed=1)
    two, d2 = _frame("m2", [0.0, 0.3, 0.02, 0.1, 0.15, 0.0, 0.08], seed=2)
    alone = one.copy()
    multiplicity.adjust(alone, rerun=_rerun(alone, d1))
    both = pd.concat([one, two], ignore_index=True)
    data = d1 | {i + len(one): v for i, v in d2.items()}
    multiplicity.adjust(both, rerun=_rerun(both, data))
    cols = [*multiplicity.COLUMNS, "p_value", "n_permutations"]
    pd.testing.assert_frame_equal(alone[cols], both.iloc[:len(one)][cols], check_exact=True)
    # one family per model × kind, each of its own size
    assert set(both.family) == {"m1 · deltas vs none", "m1 · decomposition", "m2 · deltas vs none",
                                "m2 · decomposition"}
    assert (both[both.model == "m2"].family_size == 7).all() and (alone.family_size == 5).all()
    # the old grid-wide family would couple them: m1's smallest Holm p grows with m2's tests
    grid = engine.holm(both.p_value.to_numpy())[:len(one)]  # every row here is its own test
    assert (grid > alone.p_holm.to_numpy().astype(float)).any()


def test_the_second_stage_redraws_undetermined_tests_until_decided() -> None:
    frame, data = _frame("m", [0.4] * 10, seed=3, n_permutations=500)
    assert (frame.n_extreme == 0).all()  # p = 1/501 everywhere; its interval reaches 7.4e-3
    first = frame.copy()
    multiplicity.adjust(first)  # no redraw: Holm over 10 needs the upper ends below 5e-3
    assert first.verdict.str.startswith("undetermined at 500").all()
    done = multiplicity.adjust(frame, rerun=_rerun(frame, data))
    assert (frame.verdict == "significant").all() and (frame.n_permutations == 5000).all()
    assert (frame.p_value == 1 / 5001).all() and done.redrawn == 20 and done.undetermined == 0  # 2 families × 10
    assert (frame.p_holm == np.minimum(1, 10 / 5001)).all()


def test_benjamini_hochberg_by_hand_and_recorded_per_row() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4·p/i = 0.02, 0.02, 0.04, 0.04 (running min from the top)
    assert multiplicity.bh(p)[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02]) and np.isnan(multiplicity.bh(p)[4])
    frame, data = _frame("m", [0.0, 0.1, 0.2], seed=4)
    multiplicity.adjust(frame, method="bh", rerun=_rerun(frame, data))
    assert (frame.adjust_method == "bh").all()
    for _, g in frame.groupby("family"):
        assert g.p_adjusted.to_numpy() == pytest.approx(multiplicity.bh(g.p_value.to_numpy()))
    with pytest.raises(ValueError, match="holm, bh"):
        multiplicity.adjust(frame, method="bonferroni")
