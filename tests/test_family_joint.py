"""The family summary draws texts that several tasks share once per replicate (harness/analysis/family.py).

Simulated families (tests/stats_calibration.py: four word-pair STS tasks that share 14 words, as the Scale tasks
share their control words, plus 6 words each): the joint draw's 95% interval of the family-mean delta covers the
true delta at the nominal rate (400 resamples: 94.5% nominal; 400 families, SE 1.1%), the old scheme — every
task's words drawn independently — does not (its interval ignores that a shared word moves every task at once).
"""

from __future__ import annotations

import numpy as np

from harness.stats import engine
from harness.stats.units import recurring_texts
from tests import stats_calibration as sc


def test_joint_draw_of_shared_words_covers_the_family_mean_delta() -> None:
    joint = sc.family_coverage_run(sc.STSFamily(), datasets=400, n_boot=400, seed=2, joint=True)
    assert 0.925 <= joint.coverage <= 0.97, joint.coverage


def test_the_old_independent_draw_is_too_narrow_with_shared_words() -> None:
    old = sc.family_coverage_run(sc.STSFamily(), datasets=150, n_boot=400, seed=3, joint=False)
    assert old.coverage < 0.88, old.coverage


def test_a_shared_text_carries_one_count_into_every_task() -> None:
    from harness.stats.metrics import multiplicities
    from harness.stats.units import shared_weights

    data = sc.STSFamily(n_tasks=2, n_shared=3, n_own=2).draw(np.random.default_rng(0))
    units = [engine.resample_units("STS", len(d.a["gold"]), text1=d.text1, text2=d.text2) for d in data]
    texts = [recurring_texts(d.text1, d.text2) for d in data]
    union = sorted({str(t) for ts in texts for t in ts})
    assert len(union) == 3 + 2 * 2
    counts = multiplicities(np.random.default_rng(1).integers(0, len(union), (50, len(union))), len(union))
    w0, w1 = (shared_weights(u, counts[:, [union.index(str(t)) for t in ts]], np.random.default_rng(2))
              for u, ts in zip(units, texts, strict=True))
    pair0 = {(a, b): k for k, (a, b) in enumerate(zip(data[0].text1, data[0].text2, strict=True))}
    pair1 = {(a, b): k for k, (a, b) in enumerate(zip(data[1].text1, data[1].text2, strict=True))}
    common = sorted(set(pair0) & set(pair1))  # pairs of two shared words: in both tasks
    assert len(common) == 3
    for key in common:  # the same count of each shared word in both tasks: the same pair weight
        assert np.array_equal(w0[:, pair0[key]], w1[:, pair1[key]])
    assert not np.array_equal(w0[:, pair0[("t0w0", "t0w1")]], w0[:, pair0[common[0]]])


def _parts(data: list[sc.Dataset], cond: str) -> list:
    """One family row's parts: every task's ``cond`` predictions (``a`` or ``b``) against ``b`` (the baseline)."""
    from harness.analysis import family
    from harness.stats.bootstrap import score_variance, text_variance

    metric = engine.metric_for("STS", "cosine_spearman")
    assert metric is not None
    out = []
    for d in data:
        units = engine.resample_units("STS", len(d.a["gold"]), text1=d.text1, text2=d.text2)
        a = d.a if cond == "a" else d.b
        out.append(family.Part(metric, a, d.b, units, recurring_texts(d.text1, d.text2),
                               float(score_variance(metric, a, units) or np.nan),
                               float(text_variance(metric, a, d.b, units) or np.nan)))
    return out


def test_conditions_of_one_view_share_one_resample_and_each_equals_its_own_draw(monkeypatch) -> None:
    """METHOD_VERSION 4: a view's condition rows are drawn once (family.shared_replicates); each row's replicates
    equal bit for bit those of the row computed alone from the same seed, and the shared columns (gold, the
    baseline's predictions) are ranked once per chunk, not once per row."""
    from harness.analysis import family
    from harness.stats import bootstrap, metrics

    data = sc.STSFamily(n_tasks=3).draw(np.random.default_rng(4))
    rows = [_parts(data, "b"), _parts(data, "a"), _parts(data, "a")]  # the baseline's own row, two conditions
    alone = [family.replicates(r, 300, np.random.default_rng(9)) for r in rows]
    calls = {"n": 0}
    real = bootstrap._weighted_ranks_ties

    def counted(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls["n"] += 1
        return real(x, w)

    monkeypatch.setattr(bootstrap, "_weighted_ranks_ties", counted)
    shared = family.shared_replicates(rows, 300, np.random.default_rng(9))
    for (s1, d1), (s2, d2) in zip(alone, shared, strict=True):
        assert np.array_equal(s1, s2) and np.array_equal(d1, d2)
    assert np.array_equal(shared[0][1], np.zeros_like(shared[0][1]))  # the baseline's row: Δ 0 on every resample
    chunks = 1  # 300 resamples × ≤ 3 × 190 pairs fit one chunk
    assert calls["n"] == chunks * 3 * 3  # per task: gold, the baseline's predictions, the condition's (once for both)
    assert metrics._weighted_ranks_ties is real


def test_deltas_of_one_view_share_one_resample_and_each_equals_its_interval_alone() -> None:
    """bootstrap.bootstrap_intervals (geometry's centred-score deltas, GEOMETRY_METHOD_VERSION 3): several deltas
    against one baseline on one set of resamples, each interval equal bit for bit to bootstrap_interval alone from
    the same seed — for the text unit (with its jackknife scaling) and for item units."""
    from harness.stats.bootstrap import bootstrap_interval, bootstrap_intervals

    metric = engine.metric_for("STS", "cosine_spearman")
    assert metric is not None
    d = sc.STSFamily(n_tasks=1).draw(np.random.default_rng(5))[0]
    rng = np.random.default_rng(6)
    others = [{"gold": d.a["gold"], "pred": d.a["pred"] + rng.normal(0, s, len(d.a["pred"]))} for s in (0.01, 0.3)]
    for units in (engine.resample_units("STS", len(d.a["gold"]), text1=d.text1, text2=d.text2),
                  engine.resample_units("STS", len(d.a["gold"]), unit="item")):
        deltas = [(a, d.b, float(metric.score({k: v[None] for k, v in a.items()})[0]
                                 - metric.score({k: v[None] for k, v in d.b.items()})[0])) for a in [d.a, *others]]
        together = bootstrap_intervals(metric, deltas, 400, np.random.default_rng(7), units=units)
        alone = [bootstrap_interval(metric, a, b, obs, 400, np.random.default_rng(7), units=units)
                 for a, b, obs in deltas]
        assert together == alone
        assert len({ci for ci in together}) == 3  # three different deltas, not one interval copied
