"""Statistics of deltas: metrics recomputed from item-level predictions equal mteb's; bootstrap CI, exact
permutation p and Holm on hand-checkable cases; the deltas table (baselines none and format) carries them."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from harness import api
from harness.analysis import stats
from harness.analysis.aggregate import aggregate, deltas
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.run import predictions
from harness.taskspecs.local import TaskRegistry

# -- Holm ---------------------------------------------------------------------------------------------------------


def test_holm_hand_worked_example() -> None:
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06 (monotone)
    got = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1, NaN stays out of the family (m = 2 here)
    got = stats.holm([0.6, np.nan, 0.2])
    assert got[0] == pytest.approx(0.6) and np.isnan(got[1]) and got[2] == pytest.approx(0.4)
    assert stats.holm([0.7, 0.8]).tolist() == [1.0, 1.0]


# -- permutation test ---------------------------------------------------------------------------------------------


def test_exact_permutation_p_of_a_mean_metric_by_hand() -> None:
    # per-query differences 2, 1, 1, 0.5 (sum 4.5): of the 16 sign flips only all-plus and all-minus reach |4.5|
    metric = stats.metric_for("Retrieval", "ndcg_at_10")
    assert metric is not None
    a, b = {"value": np.array([2.0, 1.0, 1.0, 0.5])}, {"value": np.zeros(4)}
    st = stats.paired_stats(metric, a, b, seed=1, n_bootstrap=1000, n_permutations=1000)
    assert st.exact and st.n_permutations == 16 and st.p_method == "exact"
    assert st.p_value == pytest.approx(2 / 16)
    assert st.delta == pytest.approx(4.5 / 4)


def test_exact_permutation_p_of_spearman_matches_enumeration() -> None:
    # 6 STS pairs: swap each pair's two cosines in every one of the 2^6 ways, recompute both Spearmans
    gold = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    pa = np.array([0.1, 0.25, 0.2, 0.5, 0.7, 0.9])
    pb = np.array([0.6, 0.1, 0.4, 0.3, 0.2, 0.35])
    observed = spearmanr(gold, pa).statistic - spearmanr(gold, pb).statistic
    extreme = 0
    for bits in itertools.product([False, True], repeat=6):
        s = np.array(bits)
        x, y = np.where(s, pb, pa), np.where(s, pa, pb)
        extreme += abs(spearmanr(gold, x).statistic - spearmanr(gold, y).statistic) >= abs(observed) - 1e-12
    metric = stats.metric_for("STS", "cosine_spearman")
    assert metric is not None
    st = stats.paired_stats(metric, {"gold": gold, "pred": pa}, {"gold": gold, "pred": pb}, seed=0,
                            n_permutations=1000)
    assert st.exact and st.p_value == pytest.approx(extreme / 64)
    assert st.delta == pytest.approx(observed)


def test_monte_carlo_p_is_seeded_and_bounded() -> None:
    metric = stats.metric_for("Retrieval", "recall_at_1")
    assert metric is not None
    rng = np.random.default_rng(3)
    a = {"value": (rng.random(300) < 0.7).astype(float)}
    b = {"value": (rng.random(300) < 0.3).astype(float)}
    one = stats.paired_stats(metric, a, b, seed=7, n_permutations=2000)
    assert not one.exact and one.p_method == "permutation"
    assert one == stats.paired_stats(metric, a, b, seed=7, n_permutations=2000)  # reruns are identical
    assert one.p_value == 1 / 2001  # a 0.4 difference on 300 items: no random swap reaches it; p = 1/(1 + R)
    other = stats.paired_stats(metric, a, b, seed=8, n_permutations=2000)
    assert (other.ci_low, other.ci_high) != (one.ci_low, one.ci_high)  # the seed matters
    same = stats.paired_stats(metric, a, a, seed=7, n_permutations=2000)
    assert same.p_value == 1.0 and same.ci_low == same.ci_high == 0.0


# -- bootstrap ----------------------------------------------------------------------------------------------------


def test_bootstrap_of_a_constant_difference_is_that_constant() -> None:
    metric = stats.metric_for("Retrieval", "ndcg_at_10")
    assert metric is not None
    rng = np.random.default_rng(0)
    b = rng.random(50)
    st = stats.paired_stats(metric, {"value": b + 0.25}, {"value": b}, seed=0)
    assert st.ci_low == pytest.approx(0.25) and st.ci_high == pytest.approx(0.25)


def test_bootstrap_ci_of_a_mean_matches_the_normal_theory_interval() -> None:
    # differences ~ N(0.1, 1), n = 2000: the 95% CI is mean ± 1.96·sd/√n to within a few percent
    metric = stats.metric_for("Retrieval", "ndcg_at_10")
    assert metric is not None
    d = np.random.default_rng(11).normal(0.1, 1.0, 2000)
    st = stats.paired_stats(metric, {"value": d}, {"value": np.zeros_like(d)}, seed=5, n_bootstrap=4000,
                            n_permutations=1000)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert st.ci_low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert st.ci_high == pytest.approx(d.mean() + half, abs=0.1 * half)


def test_vectorised_bootstrap_equals_a_loop_over_the_same_resamples() -> None:
    rng = np.random.default_rng(2)
    gold = rng.random(30)
    pa, pb = gold + rng.normal(0, 0.3, 30), gold + rng.normal(0, 0.6, 30)
    metric = stats.metric_for("STS", "cosine_spearman")
    assert metric is not None
    got = stats.bootstrap_deltas(metric, {"gold": gold, "pred": pa}, {"gold": gold, "pred": pb}, 200,
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
        metric = stats.metric_for("BitextMining", name)
        assert metric is not None
        got = metric.score({"gold": gold[idx].astype(float), "pred": pred[idx].astype(float)})
        want = [fn(gold[i], pred[i], average="weighted", zero_division=0) for i in idx]
        assert got == pytest.approx(want, abs=1e-12), name


def test_retrieval_values_match_pytrec_eval_with_graded_multi_relevant_qrels(tmp_path: Path) -> None:
    """Ranks from the predictions module, per-query values from stats, against pytrec_eval (and mteb's MRR)."""
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
        items, cols = stats.item_columns("Retrieval", ours, frame)
        values = cols["value"]
        assert values == pytest.approx([want[qids[i]][theirs] for i in items], abs=1e-12), ours
    mrr10 = mrr(qrels, run, [10])["MRR@10"]
    assert stats.item_columns("Retrieval", "mrr_at_10", frame)[1]["value"] == pytest.approx(mrr10, abs=1e-12)


# -- against mteb's stored scores ---------------------------------------------------------------------------------


def tiny_tasks(root: Path) -> Path:
    """Three small tasks: graded multi-relevant retrieval (ignore_identical_ids, the query's own id is in the
    corpus), STS and bitext mining."""
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
    return root


MAIN = {"TinyRetrieval": ["ndcg_at_10", "recall_at_1", "map_at_10", "mrr_at_10", "precision_at_5"],
        "TinySTS": ["cosine_spearman", "cosine_pearson"], "TinyBitext": ["f1", "accuracy", "precision", "recall"]}


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
                    got = stats.recompute(side["task_type"], metric, f)
                    # mteb stores 6 decimals (retrieval: rounded to 5 first)
                    tol = 5.1e-6 if side["task_type"] == "Retrieval" and not metric.startswith("mrr") else 5.1e-7
                    assert got == pytest.approx(e[metric], abs=tol), (side["task"], metric)
                    checked += 1
    return checked


def test_recomputed_metrics_equal_mtebs_scores_for_each_task_type(tmp_path: Path) -> None:
    registry = TaskRegistry(tiny_tasks(tmp_path / "tasks"))
    out = tmp_path / "results"
    summary = runner.run([mock_spec()], conditions=["none"], results_dir=out, registry=registry, progress=False,
                         cache=False)
    assert len(summary.ran) == 3 and not summary.failed
    assert _check_against_mteb(out) == sum(len(v) for v in MAIN.values())
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
        assert r.n_items == 595 and r.n_bootstrap == stats.N_BOOTSTRAP and r.p_method == "permutation"
    # Holm over the two: the larger p is unchanged or raised to the smaller's adjusted value
    assert sorted(main.p_holm) == pytest.approx(sorted(stats.holm(main.p_value.to_numpy())))
    others = d[~(d.is_main & (d.kind == "mteb"))]
    assert others.ci_low.isna().all() and others.p_value.isna().all()
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
