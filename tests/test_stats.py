"""Statistics of deltas: metrics recomputed from item-level predictions equal mteb's; bootstrap CI, exact
permutation p and Holm on hand-checkable cases; the deltas table (baselines none and format) carries them."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

from harness import api
from harness.analysis.aggregate import aggregate, deltas
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.run import predictions
from harness.stats import engine
from harness.stats import units as units_module
from harness.taskspecs.local import TaskRegistry

# -- Holm ---------------------------------------------------------------------------------------------------------


def test_holm_hand_worked_example() -> None:
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06 (monotone)
    got = engine.holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1, NaN stays out of the family (m = 2 here)
    got = engine.holm([0.6, np.nan, 0.2])
    assert got[0] == pytest.approx(0.6) and np.isnan(got[1]) and got[2] == pytest.approx(0.4)
    assert engine.holm([0.7, 0.8]).tolist() == [1.0, 1.0]


# -- permutation test ---------------------------------------------------------------------------------------------


def test_exact_permutation_p_of_a_mean_metric_by_hand() -> None:
    # per-query differences 2, 1, 1, 0.5 (sum 4.5): of the 16 sign flips only all-plus and all-minus reach |4.5|
    metric = engine.metric_for("Retrieval", "ndcg_at_10")
    assert metric is not None
    a, b = {"value": np.array([2.0, 1.0, 1.0, 0.5])}, {"value": np.zeros(4)}
    st = engine.paired_stats(metric, a, b, seed=1, n_bootstrap=1000, n_permutations=1000)
    assert st.exact and st.n_permutations == 16 and st.p_method == "exact"
    assert st.p_value == pytest.approx(2 / 16)
    assert st.delta == pytest.approx(4.5 / 4)


def test_exact_permutation_p_of_spearman_swaps_within_condition_ranks() -> None:
    # 6 STS pairs: each pair's within-condition ranks (not its raw cosines, which live on two scales) are swapped
    # in every one of the 2^6 ways; the statistic is Pearson(gold ranks, swapped ranks) per condition, which at
    # the identity is Spearman itself
    gold = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    pa = np.array([0.1, 0.25, 0.2, 0.5, 0.7, 0.9])
    pb = np.array([0.6, 0.1, 0.4, 0.3, 0.2, 0.35]) + 10  # another scale: the ranks do not see it
    ra, rb, rg = rankdata(pa), rankdata(pb), rankdata(gold)
    observed = spearmanr(gold, pa).statistic - spearmanr(gold, pb).statistic
    extreme = 0
    for bits in itertools.product([False, True], repeat=6):
        s = np.array(bits)
        x, y = np.where(s, rb, ra), np.where(s, ra, rb)
        extreme += abs(pearsonr(rg, x).statistic - pearsonr(rg, y).statistic) >= abs(observed) - 1e-12
    metric = engine.metric_for("STS", "cosine_spearman")
    assert metric is not None
    st = engine.paired_stats(metric, {"gold": gold, "pred": pa}, {"gold": gold, "pred": pb}, seed=0,
                            n_permutations=1000)
    assert st.exact and st.n_permutations == 64 and st.p_value == pytest.approx(extreme / 64)
    assert st.delta == pytest.approx(observed)
    assert st.resample_unit == "item" and st.n_units == 6 and st.ci_scale == 1.0


def test_exact_permutation_p_of_pearson_swaps_within_condition_z_scores() -> None:
    rng = np.random.default_rng(5)
    gold = rng.normal(size=7)
    pa, pb = 0.3 + 0.1 * (gold + rng.normal(size=7)), 0.9 + 0.01 * (gold + rng.normal(size=7))
    za, zb = ((x - x.mean()) / x.std() for x in (pa, pb))
    observed = pearsonr(gold, pa).statistic - pearsonr(gold, pb).statistic
    extreme = sum(
        abs(pearsonr(gold, np.where(s, zb, za)).statistic - pearsonr(gold, np.where(s, za, zb)).statistic)
        >= abs(observed) - 1e-12 for s in (np.array(b) for b in itertools.product([False, True], repeat=7)))
    metric = engine.metric_for("STS", "cosine_pearson")
    assert metric is not None
    st = engine.paired_stats(metric, {"gold": gold, "pred": pa}, {"gold": gold, "pred": pb}, seed=0,
                            n_permutations=200)
    assert st.exact and st.p_value == pytest.approx(extreme / 128) and st.delta == pytest.approx(observed)


def test_monte_carlo_p_is_seeded_and_bounded() -> None:
    metric = engine.metric_for("Retrieval", "recall_at_1")
    assert metric is not None
    rng = np.random.default_rng(3)
    a = {"value": (rng.random(300) < 0.7).astype(float)}
    b = {"value": (rng.random(300) < 0.3).astype(float)}
    one = engine.paired_stats(metric, a, b, seed=7, n_permutations=2000)
    assert not one.exact and one.p_method == "permutation"
    assert one == engine.paired_stats(metric, a, b, seed=7, n_permutations=2000)  # reruns are identical
    assert one.p_value == 1 / 2001  # a 0.4 difference on 300 items: no random swap reaches it; p = 1/(1 + R)
    other = engine.paired_stats(metric, a, b, seed=8, n_permutations=2000)
    assert (other.ci_low, other.ci_high) != (one.ci_low, one.ci_high)  # the seed matters
    same = engine.paired_stats(metric, a, a, seed=7, n_permutations=2000)
    assert same.p_value == 1.0 and same.ci_low == same.ci_high == 0.0


# -- bootstrap ----------------------------------------------------------------------------------------------------


def test_bootstrap_of_a_constant_difference_is_that_constant() -> None:
    metric = engine.metric_for("Retrieval", "ndcg_at_10")
    assert metric is not None
    rng = np.random.default_rng(0)
    b = rng.random(50)
    st = engine.paired_stats(metric, {"value": b + 0.25}, {"value": b}, seed=0)
    assert st.ci_low == pytest.approx(0.25) and st.ci_high == pytest.approx(0.25)


def test_bootstrap_ci_of_a_mean_matches_the_normal_theory_interval() -> None:
    # differences ~ N(0.1, 1), n = 2000: the 95% CI is mean ± 1.96·sd/√n to within a few percent
    metric = engine.metric_for("Retrieval", "ndcg_at_10")
    assert metric is not None
    d = np.random.default_rng(11).normal(0.1, 1.0, 2000)
    st = engine.paired_stats(metric, {"value": d}, {"value": np.zeros_like(d)}, seed=5, n_bootstrap=4000,
                            n_permutations=1000)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert st.ci_low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert st.ci_high == pytest.approx(d.mean() + half, abs=0.1 * half)


def test_vectorised_bootstrap_equals_a_loop_over_the_same_resamples() -> None:
    rng = np.random.default_rng(2)
    gold = rng.random(30)
    pa, pb = gold + rng.normal(0, 0.3, 30), gold + rng.normal(0, 0.6, 30)
    metric = engine.metric_for("STS", "cosine_spearman")
    assert metric is not None
    got = engine.bootstrap_deltas(metric, {"gold": gold, "pred": pa}, {"gold": gold, "pred": pb}, 200,
                                 np.random.default_rng(9))
    idx = np.random.default_rng(9).integers(0, 30, size=(200, 30))  # one chunk: the same draws
    want = [spearmanr(gold[i], pa[i]).statistic - spearmanr(gold[i], pb[i]).statistic for i in idx]
    assert got == pytest.approx(np.array(want), abs=1e-12)


def test_bitext_weighted_scores_match_sklearn_on_resamples() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(4)
    n = 40
    gold = np.arange(n)
    pred = np.where(rng.random(n) < 0.6, gold, rng.integers(0, n, n))
    idx = rng.integers(0, n, size=(25, n))
    for name, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        metric = engine.metric_for("BitextMining", name)
        assert metric is not None
        got = metric.score({"gold": gold[idx].astype(float), "pred": pred[idx].astype(float)})
        want = [fn(gold[i], pred[i], average="weighted", zero_division=0) for i in idx]
        assert got == pytest.approx(want, abs=1e-12), name
        counts = np.stack([np.bincount(i, minlength=n) for i in idx]).astype(float)  # the same resamples as weights
        weighted = metric.weighted({"gold": gold.astype(float), "pred": pred.astype(float)}, counts)
        assert weighted == pytest.approx(want, abs=1e-12), name


@pytest.mark.parametrize("hit_rate", [0.03, 0.5, 0.97])
def test_bitext_swap_scores_count_the_swapped_predictions(hit_rate: float) -> None:
    """Swap scores from the scoring labels only (those a hit can reach) equal sklearn on the swapped predictions,
    for a model that finds almost nothing, half, and almost everything (weighted path too, with few hits)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    from harness.stats.metrics import bitext_swap_scores

    rng = np.random.default_rng(11)
    n = 60
    gold = np.arange(n)
    pa = np.where(rng.random(n) < hit_rate, gold, rng.integers(0, n + 5, n))  # labels beyond the gold ones too
    pb = np.where(rng.random(n) < hit_rate, gold, rng.integers(0, n + 5, n))
    swap = rng.random((30, n)) < 0.5
    for name, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score),
                     ("accuracy", None)):
        got_a, got_b = bitext_swap_scores(name, gold.astype(float), pa.astype(float), pb.astype(float), swap)
        for row, ga, gb in zip(swap, got_a, got_b, strict=True):
            sa, sb = np.where(row, pb, pa), np.where(row, pa, pb)
            if fn is None:
                want_a, want_b = float((sa == gold).mean()), float((sb == gold).mean())
            else:
                want_a = fn(gold, sa, average="weighted", zero_division=0)
                want_b = fn(gold, sb, average="weighted", zero_division=0)
            assert (ga, gb) == pytest.approx((want_a, want_b), abs=1e-12), name
        if fn is not None:
            metric = engine.metric_for("BitextMining", name)
            assert metric is not None
            idx = rng.integers(0, n, size=(10, n))
            counts = np.stack([np.bincount(i, minlength=n) for i in idx]).astype(float)
            weighted = metric.weighted({"gold": gold.astype(float), "pred": pa.astype(float)}, counts)
            want = [fn(gold[i], pa[i], average="weighted", zero_division=0) for i in idx]
            assert weighted == pytest.approx(want, abs=1e-12), name


def test_weighted_ranks_are_the_ranks_of_the_expanded_sample() -> None:
    # an item of weight c is c tied copies; items of equal value share a tie group; weight 0 leaves the sample
    x = np.array([0.3, 0.1, 0.3, 0.7, 0.1, 0.5])
    w = np.array([[2.0, 1.0, 0.0, 3.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 4.0, 1.0, 1.0, 0.0, 2.0]])
    got = engine.weighted_ranks(x, w)
    for row, ranks in zip(w, got, strict=True):
        expanded = np.repeat(x, row.astype(int))
        want = rankdata(expanded)
        first = np.concatenate([[0], np.cumsum(row.astype(int))[:-1]])
        for k in np.flatnonzero(row > 0):
            assert ranks[k] == pytest.approx(want[first[k]])


def _sts_words(n_words: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray,
                                                  np.ndarray]:
    """All pairs of n_words words, with word effects and the two conditions on different cosine scales."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n_words, 1)
    effect = rng.normal(size=(3, n_words))
    gold = np.round(effect[0][i] + effect[0][j] + rng.normal(size=len(i)), 1)  # ties in gold
    pa = 0.5 + 0.1 * (gold + effect[1][i] + effect[1][j] + rng.normal(size=len(i)))
    pb = 0.8 + 0.02 * (gold + effect[2][i] + effect[2][j] + rng.normal(size=len(i)))
    words = np.array([f"w{k}" for k in range(n_words)], dtype=object)
    return {"gold": gold, "pred": pa}, {"gold": gold, "pred": pb}, words[i], words[j]


def test_vertex_bootstrap_is_spearman_of_the_expanded_word_sample() -> None:
    """One resample draws the words with replacement; the resampled data are every pair of two drawn copies of
    different words (copies of one word form no pair), so pair (i, j) enters c_i·c_j times."""
    a, b, t1, t2 = _sts_words(7, seed=1)
    units = engine.text_units(t1, t2)
    assert units.kind == "text" and units.n_texts == 7 and units.n_units == 7 and units.crossed.all()
    metric = engine.metric_for("STS", "cosine_spearman")
    assert metric is not None
    got = engine.bootstrap_deltas(metric, a, b, 50, np.random.default_rng(3), units=units)
    draws = np.random.default_rng(3).integers(0, 7, size=(50, 7))  # one chunk: the same draws, word codes 0..6
    code = {w: k for k, w in enumerate(dict.fromkeys([*t1, *t2]))}
    pair_of = {frozenset((code[x], code[y])): k for k, (x, y) in enumerate(zip(t1, t2, strict=True))}
    for drawn, want_row in zip(draws, got, strict=True):
        rows = [pair_of[frozenset((u, v))] for p, u in enumerate(drawn) for v in drawn[p + 1:] if u != v]
        want = (spearmanr(a["gold"][rows], a["pred"][rows]).statistic
                - spearmanr(b["gold"][rows], b["pred"][rows]).statistic)
        assert want_row == pytest.approx(want, abs=1e-12)


def test_retrieval_values_match_pytrec_eval_with_graded_multi_relevant_qrels(tmp_path: Path) -> None:
    """Ranks from the predictions module, per-query values from harness.stats, against pytrec_eval (and mteb's MRR)."""
    import pytrec_eval
    from mteb._evaluators.retrieval_metrics import mrr

    rng = np.random.default_rng(8)
    qids = [f"q{i}" for i in range(15)]
    docs = [f"d{j:02d}" for j in range(40)]
    qrels = {q: {d: int(rng.integers(1, 4)) for d in rng.choice(docs, size=int(rng.integers(1, 5)), replace=False)}
             for q in qids}
    qrels["q0"]["d39"] = 0  # a judged non-relevant document
    run = {q: {d: float(rng.integers(0, 20)) / 4 for d in rng.choice(docs, size=25, replace=False)} for q in qids}
    data = {"default": {"test": {"queries": {"id": qids}, "relevant_docs": qrels}}}
    frame = predictions.to_frame("Retrieval", {"default": {"test": run}}, data)
    measures = {"ndcg_cut.10", "map_cut.10", "recall.10", "P.5", "success.10", "ndcg_cut.3"}
    want = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    pairs = {"ndcg_at_10": "ndcg_cut_10", "ndcg_at_3": "ndcg_cut_3", "map_at_10": "map_cut_10",
             "recall_at_10": "recall_10", "precision_at_5": "P_5", "hit_rate_at_10": "success_10"}
    for ours, theirs in pairs.items():
        items, cols = engine.item_columns("Retrieval", ours, frame)
        values = cols["value"]
        assert values == pytest.approx([want[qids[i]][theirs] for i in items], abs=1e-12), ours
    mrr10 = mrr(qrels, run, [10])["MRR@10"]
    assert engine.item_columns("Retrieval", "mrr_at_10", frame)[1]["value"] == pytest.approx(mrr10, abs=1e-12)


# -- resampling units ---------------------------------------------------------------------------------------------


def test_the_unit_is_the_text_when_texts_recur() -> None:
    assert engine.infer_unit(["warm", "warm", "cold"], ["cold", "hot", "hot"]) == "text"
    assert engine.infer_unit(["a b", "c d"], ["e f", "g h"]) == "item"
    assert engine.infer_unit(["same", "other"], ["same", "thing"]) == "item"  # a text paired with itself: once
    # two pairs of recurring texts (crossed), one with one recurring text, one with none (its own unit)
    units = engine.text_units(["warm", "warm", "cold", "x", "y"], ["cold", "hot", "tepid", "z", "y"])
    assert (units.n_texts, units.n_lone, units.n_units) == (2, 2, 4)
    assert units.crossed.tolist() == [True, False, False, False, False]
    assert units.ends[:, 0].tolist() == [0, 1] and units.ends[:, 2].tolist() == [1, 4]  # cold, none
    assert units.ends[:, 3].tolist() == [2, 4] and units.ends[:, 4].tolist() == [3, 4]  # own units
    # weights: crossed = product of the two counts, one recurring text = its count, lone = own count
    w = engine.resample_weights(units, 400, np.random.default_rng(0))
    assert np.all(w[:, 2] >= 0) and w.mean(axis=0) == pytest.approx([0.5, 1, 1, 1, 1], abs=0.15)


def test_units_by_task_type_and_stated_units() -> None:
    assert engine.resample_units("Retrieval", 10).kind == "query"
    assert engine.resample_units("BitextMining", 10).kind == "sentence"
    assert engine.resample_units("STS", 3).kind == "item"  # no texts given: independent pairs
    assert engine.resample_units("STS", 3, text1=["a", "a", "b"], text2=["b", "c", "c"]).kind == "text"
    assert engine.resample_units("STS", 3, unit="item", text1=["a", "a", "b"], text2=["b", "c", "c"]).kind == "item"
    with pytest.raises(ValueError, match="does not apply"):
        engine.resample_units("Retrieval", 3, unit="text")
    with pytest.raises(ValueError, match="needs text1 and text2"):
        engine.resample_units("STS", 3, unit="text")
    with pytest.raises(ValueError, match="2 text pairs for 3 items"):
        engine.resample_units("STS", 3, unit="text", text1=["a", "a"], text2=["b", "c"])


def test_text_swaps_split_scores_into_word_effects_and_pair_residuals_exactly() -> None:
    """The text unit's exact p: each condition's ranks = μ + u_i + u_j + r_ij (least squares); every pattern of
    swapping u per word and r per pair, recomputed by brute force with numpy's own least squares."""
    a, b, t1, t2 = _sts_words(4, seed=2)  # 6 pairs, 4 words: 2^10 patterns
    units = engine.text_units(t1, t2)
    code = {w: k for k, w in enumerate(dict.fromkeys([*t1, *t2]))}
    i, j = np.array([code[x] for x in t1]), np.array([code[x] for x in t2])
    design = np.zeros((6, 5))
    design[:, 0] = 1
    design[np.arange(6), 1 + i] += 1
    design[np.arange(6), 1 + j] += 1

    def split(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coef = np.linalg.lstsq(design, z, rcond=None)[0]
        return coef, z - design @ coef

    rg = rankdata(a["gold"])
    (ca, ra), (cb, rb) = split(rankdata(a["pred"])), split(rankdata(b["pred"]))
    observed = spearmanr(a["gold"], a["pred"]).statistic - spearmanr(b["gold"], b["pred"]).statistic
    extreme = 0
    for bits in itertools.product([False, True], repeat=10):
        pair, word = np.array(bits[:6]), np.array(bits[6:])
        ua = np.concatenate([[ca[0]], np.where(word, cb[1:], ca[1:])])
        ub = np.concatenate([[cb[0]], np.where(word, ca[1:], cb[1:])])
        x, y = design @ ua + np.where(pair, rb, ra), design @ ub + np.where(pair, ra, rb)
        extreme += abs(pearsonr(rg, x).statistic - pearsonr(rg, y).statistic) >= abs(observed) - 1e-9
    metric = engine.metric_for("STS", "cosine_spearman")
    assert metric is not None
    st = engine.paired_stats(metric, a, b, seed=0, units=units, n_bootstrap=200, n_permutations=2000)
    assert st.exact and st.n_permutations == 1024 and st.p_value == pytest.approx(extreme / 1024)
    assert st.resample_unit == "text" and st.n_units == 4


def test_large_designs_split_by_lsqr_as_small_ones_do_densely(monkeypatch: pytest.MonkeyPatch) -> None:
    a, _, t1, t2 = _sts_words(15, seed=4)
    units = engine.text_units(t1, t2)
    z = rankdata(a["pred"])
    mu, u, r = engine._text_effects(z, units)
    monkeypatch.setattr(units_module, "_DENSE_TEXTS", 0)
    fresh = engine.text_units(t1, t2)  # the pseudo-inverse is cached per Units
    assert fresh.text_projector is None
    mu2, u2, r2 = engine._text_effects(z, fresh)
    assert mu2 == pytest.approx(mu, abs=1e-8) and u2 == pytest.approx(u, abs=1e-8) and r2 == pytest.approx(r, abs=1e-8)


def test_delta_stats_reads_the_texts_from_the_frames() -> None:
    a, b, t1, t2 = _sts_words(12, seed=3)
    n = len(t1)

    def frame(cols: dict[str, np.ndarray], texts: bool = True) -> pd.DataFrame:
        df = pd.DataFrame({"item": np.arange(n), "gold": cols["gold"], "prediction": cols["pred"]})
        if texts:
            df["text1"], df["text2"] = t1, t2
        return df.sample(frac=1, random_state=0)  # row order does not matter: items are aligned by id

    fa, fb = frame(a), frame(b, texts=False)
    st = engine.delta_stats("STS", "cosine_spearman", fa, fb, seed=1, n_bootstrap=300, n_permutations=300)
    assert st is not None and st.resample_unit == "text" and st.n_units == 12 and st.n_items == 66
    assert st.ci_scale > 0 and st.ci_low <= st.delta <= st.ci_high
    items = engine.delta_stats("STS", "cosine_spearman", fa, fb, seed=1, unit="item", n_bootstrap=300,
                              n_permutations=300)
    assert items is not None and items.resample_unit == "item" and items.n_units == 66 and items.ci_scale == 1.0
    assert items.delta == st.delta
    other = frame(b)
    other["text1"] = other["text1"].where(other["item"] != 5, "else")
    with pytest.raises(ValueError, match="disagree on the items' texts"):
        engine.delta_stats("STS", "cosine_spearman", fa, other, seed=1)
    plain = engine.delta_stats("STS", "cosine_spearman", frame(a, texts=False), fb, seed=1, n_bootstrap=100,
                              n_permutations=100)
    assert plain is not None and plain.resample_unit == "item"


# -- against mteb's stored scores ---------------------------------------------------------------------------------


def tiny_tasks(root: Path) -> Path:
    """Seven small tasks: graded multi-relevant retrieval (ignore_identical_ids, the query's own id is in the
    corpus), STS, bitext mining, classification (12 train, 12 test texts, labels a/b/c), graded multi-relevant
    reranking (each query's relevant documents among 7 of the 24), pair classification (10 pairs, labels 0/1) and
    clustering (15 texts, labels a/b/c)."""
    rng = np.random.default_rng(0)
    meta = """description: tiny test task
reference: https://example.org
splits: [test]
date: ["2026-01-01", "2026-01-01"]
domains: [Written]
license: cc-by-4.0
annotations_creators: expert-annotated
sample_creation: created
"""
    words = [f"word{i} text" for i in range(24)]
    t = root / "TinyRetrieval"
    t.mkdir(parents=True)
    (t / "task.yaml").write_text(textwrap.dedent("""\
        name: TinyRetrieval
        type: Retrieval
        subsets: {default: [eng-Latn]}
        main_score: ndcg_at_10
        data: {corpus: corpus.csv, queries: queries.csv, qrels: qrels.csv}
        ignore_identical_ids: true
        """) + meta)
    pd.DataFrame({"id": [f"x{i}" for i in range(24)], "text": words}).to_csv(t / "corpus.csv", index=False)
    pd.DataFrame({"id": [f"x{i}" for i in range(8)], "text": [w + " query" for w in words[:8]]}).to_csv(
        t / "queries.csv", index=False)
    rows = [(f"x{q}", f"x{d}", int(rng.integers(1, 3))) for q in range(8)
            for d in rng.choice(np.arange(8, 24), size=int(rng.integers(1, 4)), replace=False)]
    rows.append(("x0", "x0", 1))  # the query's own id: ignored by mteb in the ranking
    pd.DataFrame(rows, columns=["query_id", "doc_id", "score"]).to_csv(t / "qrels.csv", index=False)
    s = root / "TinySTS"
    s.mkdir()
    (s / "task.yaml").write_text(textwrap.dedent("""\
        name: TinySTS
        type: STS
        subsets: {default: [eng-Latn]}
        main_score: cosine_spearman
        data: pairs.csv
        min_score: 0
        max_score: 5
        """) + meta)
    pairs = [(words[i], words[j], float(rng.integers(0, 6))) for i, j in itertools.combinations(range(9), 2)]
    pd.DataFrame(pairs, columns=["sentence1", "sentence2", "score"]).to_csv(s / "pairs.csv", index=False)
    b = root / "TinyBitext"
    b.mkdir()
    (b / "task.yaml").write_text(textwrap.dedent("""\
        name: TinyBitext
        type: BitextMining
        subsets: {default: [eng-Latn]}
        main_score: f1
        data: pairs.csv
        """) + meta)
    pd.DataFrame({"sentence1": words[:12], "sentence2": [w.upper() if i % 3 else w for i, w in
                                                         enumerate(words[:12])]}).to_csv(b / "pairs.csv", index=False)
    c = root / "TinyClassification"
    c.mkdir()
    (c / "task.yaml").write_text(textwrap.dedent("""\
        name: TinyClassification
        type: Classification
        subsets: {default: [eng-Latn]}
        main_score: accuracy
        data: items.csv
        """) + meta)
    pd.DataFrame({"text": words, "label": [("a", "b", "c")[i % 3] for i in range(24)],
                  "split": ["train" if i < 12 else "test" for i in range(24)]}).to_csv(c / "items.csv", index=False)
    k = root / "TinyReranking"
    k.mkdir()
    (k / "task.yaml").write_text(textwrap.dedent("""\
        name: TinyReranking
        type: Reranking
        subsets: {default: [eng-Latn]}
        main_score: ndcg_at_10
        data: {corpus: corpus.csv, queries: queries.csv, qrels: qrels.csv, candidates: candidates.csv}
        """) + meta)
    pd.DataFrame({"id": [f"d{i}" for i in range(24)], "text": words}).to_csv(k / "corpus.csv", index=False)
    pd.DataFrame({"id": [f"q{i}" for i in range(8)], "text": [w + " question" for w in words[:8]]}).to_csv(
        k / "queries.csv", index=False)
    cand = {q: [int(d) for d in rng.choice(24, size=7, replace=False)] for q in range(8)}
    rel = [(f"q{q}", f"d{d}", int(rng.integers(1, 3))) for q in range(8) for d in cand[q][:int(rng.integers(1, 4))]]
    pd.DataFrame(rel, columns=["query_id", "doc_id", "score"]).to_csv(k / "qrels.csv", index=False)
    pd.DataFrame([(f"q{q}", f"d{d}") for q in range(8) for d in cand[q]], columns=["query_id", "doc_id"]).to_csv(
        k / "candidates.csv", index=False)
    p = root / "TinyPairClassification"
    p.mkdir()
    (p / "task.yaml").write_text(textwrap.dedent("""\
        name: TinyPairClassification
        type: PairClassification
        subsets: {default: [eng-Latn]}
        main_score: similarity_ap
        data: pairs.csv
        """) + meta)
    pd.DataFrame({"sentence1": words[:10], "sentence2": words[10:20],
                  "label": [i % 2 for i in range(10)]}).to_csv(p / "pairs.csv", index=False)
    k = root / "TinyClustering"
    k.mkdir()
    (k / "task.yaml").write_text(textwrap.dedent("""\
        name: TinyClustering
        type: Clustering
        subsets: {default: [eng-Latn]}
        main_score: v_measure
        data: items.csv
        """) + meta)
    pd.DataFrame({"text": words[:15], "label": [("a", "b", "c")[i % 3] for i in range(15)]}).to_csv(
        k / "items.csv", index=False)
    return root


MAIN = {"TinyRetrieval": ["ndcg_at_10", "recall_at_1", "map_at_10", "mrr_at_10", "precision_at_5"],
        "TinySTS": ["cosine_spearman", "cosine_pearson"], "TinyBitext": ["f1", "accuracy", "precision", "recall"],
        "TinyClassification": ["accuracy"],
        "TinyReranking": ["ndcg_at_10", "recall_at_1", "map_at_10", "mrr_at_10", "precision_at_5"],
        "TinyPairClassification": ["similarity_ap"], "TinyClustering": ["v_measure"]}


def _check_against_mteb(results_dir: Path) -> int:
    import json

    from mteb.results import TaskResult

    checked = 0
    for side_path in sorted((results_dir / "cells").glob("*/*/*/*.json")):
        side = json.loads(side_path.read_text())
        tr = TaskResult.from_disk(results_dir / side["result_file"])
        frame = pd.read_parquet(results_dir / side["predictions_file"])
        for split, entries in tr.scores.items():
            for e in entries:
                f = frame[(frame.subset == e["hf_subset"]) & (frame.split == split)]
                for metric in MAIN.get(side["task"], [side["main_score"]]):
                    got = engine.recompute(side["task_type"], metric, f)
                    # mteb stores 6 decimals (retrieval: rounded to 5 first)
                    tol = 5.1e-6 if side["task_type"] in ("Retrieval", "Reranking") and not metric.startswith(
                        "mrr") else 5.1e-7
                    assert got == pytest.approx(e[metric], abs=tol), (side["task"], metric)
                    checked += 1
    return checked


def test_recomputed_metrics_equal_mtebs_scores_for_each_task_type(tmp_path: Path) -> None:
    registry = TaskRegistry(tiny_tasks(tmp_path / "tasks"))
    out = tmp_path / "results"
    summary = runner.run([mock_spec()], conditions=["none"], results_dir=out, registry=registry, progress=False,
                         cache=False)
    assert len(summary.ran) == 7 and not summary.failed
    assert _check_against_mteb(out) == sum(len(v) for v in MAIN.values())
    # reranking: every relevant document ranked among its query's 7 candidates (mteb scores no other document)
    rerank = pd.read_parquet(next((out / "cells").glob("*/*/none/TinyReranking.predictions.parquet")))
    assert rerank["rank"].notna().all() and rerank["rank"].between(1, 7).all()
    # the ignored identical id is not ranked: rank 1 of query x0 is some other document
    frame = pd.read_parquet(next((out / "cells").glob("*/*/none/TinyRetrieval.predictions.parquet")))
    assert frame[(frame.query_id == "x0") & (frame.doc_id == "x0")]["rank"].isna().all()


@pytest.mark.slow
def test_recomputed_main_scores_equal_mtebs_on_the_real_tasks(tmp_path: Path) -> None:
    tasks = ["TemperatureBySensation", "DeEnTranslationBitextMining", "MixedPoolTranslationRetrieval"]
    summary = api.run([mock_spec()], tasks=tasks, conditions=["none"], results_dir=tmp_path, progress=False)
    assert not summary.failed
    assert _check_against_mteb(tmp_path) == 4  # two STS subsets, bitext, retrieval


# -- the deltas table ---------------------------------------------------------------------------------------------


def test_aggregate_deltas_carry_seeded_intervals(tmp_path: Path) -> None:
    task = "TemperatureBySensation"
    api.run([mock_spec()], tasks=[task], conditions=["none", "format", "blog"], results_dir=tmp_path,
            progress=False)
    _, d = aggregate(tmp_path)
    # the mock has no format prefixes: `format` fed the same strings as `none`, a zero delta by construction that
    # gets no p-value and stays out of the Holm family (and `format` is no second baseline)
    same = d[d.is_main & (d.condition == "format")]
    assert len(same) == 2 and same.identical_inputs.all() and same.p_value.isna().all()
    assert same.p_method.isna().all()  # p_method is a method only; the status is identical_inputs
    assert not d[d.condition == "blog"].identical_inputs.any()
    assert (same.delta == 0).all() and (same.ci_low == 0).all() and (same.ci_high == 0).all()
    assert set(d.baseline) == {"none"}
    first = d
    d = d[d.condition != "format"]
    main = d[d.is_main & (d.kind == "mteb")].set_index("subset")
    assert set(main.index) == {"sensation", "relation"} and (main.baseline == "none").all()
    for subset, r in main.iterrows():
        assert r.ci_low <= r.delta <= r.ci_high, subset
        assert 0 < r.p_value <= 1 and r.p_value <= r.p_holm <= 1
        assert r.n_items == 595 and r.n_bootstrap == engine.N_BOOTSTRAP and r.p_method == "permutation"
    # Holm over the two: the larger p is unchanged or raised to the smaller's adjusted value
    assert sorted(main.p_holm) == pytest.approx(sorted(engine.holm(main.p_value.to_numpy())))
    others = d[~(d.is_main & (d.kind == "mteb")) & (d.kind != "geometry")]
    assert others.ci_low.isna().all() and others.p_value.isna().all()
    geo = d[d.kind == "geometry"]  # geometry deltas carry their own bootstrap interval, no test (NOTES.md)
    assert len(geo) and geo.p_value.isna().all()
    _, again = aggregate(tmp_path)
    pd.testing.assert_frame_equal(first, again)  # seeded: a rerun gives identical numbers


def _board(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    base = {"schema_version": 2, "model": "m", "alias": "m", "revision": "1", "task": "T", "task_type": "STS",
            "subset": "default", "split": "test", "kind": "mteb", "metric": "cosine_spearman", "is_main": True,
            "n_items": 10}
    return pd.DataFrame([base | {"condition": c, "instruction_sha256": sha, "score": s} for c, sha, s in rows])


def test_format_is_a_second_baseline_only_where_it_adds_prefixes() -> None:
    board = _board([("none", "a", 0.5), ("format", "b", 0.6), ("blog", "c", 0.7), ("official", "d", 0.4)])
    d = deltas(board)
    got = {(r.condition, r.baseline): round(r.delta, 6) for r in d.itertuples()}
    assert got == {("format", "none"): 0.1, ("blog", "none"): 0.2, ("official", "none"): -0.1,
                   ("blog", "format"): 0.1, ("official", "format"): -0.2}
    # a model without format prefixes: `format` is `none` (same exact strings, same hash): no second baseline
    same = deltas(_board([("none", "a", 0.5), ("format", "a", 0.5), ("blog", "c", 0.7)]))
    assert set(same.baseline) == {"none"}


# -- p-values beyond the permutation floor ---------------------------------------------------------------------
def test_tail_p_extrapolates_a_known_null_beyond_every_permutation() -> None:
    from scipy.stats import norm

    from harness.stats.permutation import tail_p

    null = np.abs(np.random.default_rng(0).standard_normal(5000))  # |N(0, 1)|: a known permutation null
    for z in (4.0, 5.0):
        truth = 2 * norm.sf(z)
        got = tail_p(null, z)
        assert got is not None and truth / 10 < got < truth * 10  # within an order of magnitude
    assert tail_p(null, 0.5) is None  # not in the tail: the Monte-Carlo estimate stands


def test_a_clear_effect_keeps_its_p_at_the_monte_carlo_floor_and_reports_the_tail_fit_beside_it() -> None:
    rng = np.random.default_rng(3)
    n = 300
    gold = rng.normal(size=n)
    a = {"gold": gold, "pred": gold + 0.3 * rng.normal(size=n)}  # close to gold
    b = {"gold": gold, "pred": gold + 3.0 * rng.normal(size=n)}  # far from it
    m = engine.metric_for("STS", "cosine_spearman")
    assert m is not None
    st = engine.paired_stats(m, a, b, seed=1, n_bootstrap=200, n_permutations=2000)
    # no swap reaches it: p is the floor 1/(1 + R) for the R drawn (the decision at 0.05 is determined there),
    # never an extrapolation below it; the tail fit is a separate, labelled number
    assert st.p_method == "permutation" and st.n_extreme == 0 and st.p_value == 1 / 2001
    assert st.p_stop == "determined" and st.p_mc_low == 0.0 and 1 / 2001 < st.p_mc_high < 4 / 2000
    assert st.p_tail is not None and st.p_tail < 1 / 2001
