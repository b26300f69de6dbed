"""The effect decomposition, paraphrase spreads, rankings and Kendall τ, on a tiny grid of three seeded mock models
(tests/control_grid.py) with exact expected values; the joint bootstrap's weighted metrics; `compare --view`;
the report's sections; and a control condition added to a finished grid encoding only its new strings."""

from __future__ import annotations

import csv
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import kendalltau

from harness import api, cli
from harness.analysis import controls, decomposition, paraphrase, rankings
from harness.models.mock import MockEmbedder, mock_spec
from harness.results import schema
from harness.run import local as runner
from harness.stats import engine, joint
from harness.taskspecs.local import TaskRegistry
from tests.conftest import ROOT, STORED, STORED_DIFF, stored_sd
from tests.control_grid import RET, STS, expected_spearman, salted_spec, sts_pairs, tiny_tasks

SALTS = ("a", "b", "c")
CONDITIONS = ["none", "format", "official", "blog", "placebo", "mismatched", "paraphrase"]
SETS = ROOT / "instructions" / "sets"
GOLDEN = ROOT / "tests" / "golden"


def instruction(set_name: str, task: str, k: int | None = None) -> str:
    entry = yaml.safe_load((SETS / f"{set_name}.yaml").read_text(encoding="utf-8"))["tasks"][task]
    return (entry[k - 1] if k else entry)["query"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tasks folder, results folder) of 3 mock models × 11 conditions × 2 tiny tasks, aggregated."""
    base = tmp_path_factory.mktemp("controls")
    root = tiny_tasks(base / "tasks")
    out = base / "results"
    s = runner.run([salted_spec(x) for x in SALTS], conditions=CONDITIONS, results_dir=out,
                   registry=TaskRegistry(root), progress=False, cache=base / "cache")
    assert len(s.ran) == 3 * 11 * 2 and not s.failed
    api.aggregate(out)
    return root, out


def main_deltas(out: Path) -> pd.DataFrame:
    d = pd.read_parquet(out / "deltas.parquet")
    return d[(d.kind == "mteb") & d.is_main]


# -- the decomposition ------------------------------------------------------------------------------------------
def test_effect_labels() -> None:
    cases = {("format", "none"): "prefix", ("placebo", "format"): "any_instruction", ("blog", "placebo"): "content",
             ("paraphrase#2", "placebo"): "content", ("mismatched", "none"): "mismatch", ("blog", "none"): "total",
             ("placebo", "none"): "total", ("blog", "format"): "over_format"}
    for (c, b), effect in cases.items():
        assert decomposition.effect_of(c, b) == effect


def test_every_instructed_delta_is_the_sum_of_its_three_parts(grid: tuple[Path, Path]) -> None:
    d = main_deltas(grid[1])
    assert (d.schema_version == schema.SCHEMA_VERSION).all() and set(d.effect) == {
        "total", "prefix", "any_instruction", "content", "mismatch"}
    checked = 0
    for _, g in d.groupby(["model", "task", "subset"]):
        part = {e: g[g.effect == e] for e in ("prefix", "any_instruction")}
        for x in ["blog", *(f"paraphrase#{k}" for k in range(1, 6))]:
            total = g[(g.condition == x) & (g.baseline == "none")].delta.item()
            content = g[(g.condition == x) & (g.effect == "content")].delta.item()
            assert total == pytest.approx(part["prefix"].delta.item() + part["any_instruction"].delta.item()
                                          + content, abs=1e-12)
            checked += 1
        # official feeds these models nothing (no recipe): same inputs as format, so it has no content effect
        assert g[(g.condition == "official") & (g.effect == "content")].empty
        assert g[g.effect == "prefix"].identical_inputs.item()
    assert checked == 3 * 2 * 6


def test_content_effects_have_the_exact_scores_of_the_mock(grid: tuple[Path, Path]) -> None:
    root, out = grid
    d = main_deltas(out)
    pairs = sts_pairs(root)
    placebo = instruction("placebo", STS) + " "
    for salt in SALTS:
        rows = d[(d.alias == f"mock-{salt}") & (d.task == STS) & (d.effect == "content")].set_index("condition")
        want_placebo = expected_spearman(salt, placebo, pairs)
        for cond, text in [("blog", instruction("blog", STS)),
                           *((f"paraphrase#{k}", instruction("paraphrase", STS, k)) for k in range(1, 6))]:
            want = expected_spearman(salt, text + " ", pairs)
            assert rows.loc[cond, "score"] == pytest.approx(want, abs=STORED)
            assert rows.loc[cond, "baseline_score"] == pytest.approx(want_placebo, abs=STORED)
            assert rows.loc[cond, "delta"] == pytest.approx(want - want_placebo, abs=STORED_DIFF)
            assert rows.loc[cond, "ci_low"] <= rows.loc[cond, "delta"] <= rows.loc[cond, "ci_high"]
        mismatch = d[(d.alias == f"mock-{salt}") & (d.task == STS) & (d.effect == "mismatch")].iloc[0]
        assert mismatch.delta == pytest.approx(
            expected_spearman(salt, instruction("mismatched", STS) + " ", pairs) - expected_spearman(salt, "", pairs),
            abs=STORED_DIFF)


def test_one_comparison_is_one_test_in_each_family(grid: tuple[Path, Path]) -> None:
    d = main_deltas(grid[1])
    # format adds nothing for the mock: placebo − format is the comparison placebo − none, tested once (one p),
    # adjusted in each family it belongs to (the decomposition parts; the deltas against none)
    anyi = d[d.effect == "any_instruction"].set_index(["model", "task", "subset"])
    plac = d[(d.condition == "placebo") & (d.baseline == "none")].set_index(["model", "task", "subset"])
    cols = ["delta", "ci_low", "ci_high", "p_value", "n_permutations"]
    assert np.allclose(anyi[cols].to_numpy(float), plac.loc[anyi.index, cols].to_numpy(float), equal_nan=True)
    assert (anyi.family.str.endswith("· decomposition")).all() and (plac.family.str.endswith("· deltas vs none")).all()
    tested = d[d.p_value.notna()]
    assert tested.family.notna().all() and tested.adjust_method.eq("holm").all()
    for name, g in tested.groupby("family"):
        assert g.model.nunique() == 1, name  # no family spans two models
        distinct = g.drop_duplicates(decomposition.SAME_TEST)
        assert (g.family_size == len(distinct)).all(), name
        expected = pd.Series(engine.holm(distinct.p_value.to_numpy()), index=distinct.index)
        assert np.allclose(d.loc[distinct.index, "p_holm"], expected), name
        assert np.allclose(d.loc[distinct.index, "p_adjusted"], expected), name


def test_decomposition_table_reads_back(grid: tuple[Path, Path]) -> None:
    wide = decomposition.wide(pd.read_parquet(grid[1] / "deltas.parquet"))
    assert list(wide.columns) == ["model", "task", "subset", "split", "prefix", "any instr.", "content blog",
                                  "mismatch"]
    assert len(wide) == 6 and wide["prefix"].str.contains("same inputs").all()


# -- the joint bootstrap ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("task_type", "metric"), [
    ("STS", "cosine_spearman"), ("STS", "cosine_pearson"), ("Retrieval", "ndcg_at_10"), ("BitextMining", "f1"),
    ("BitextMining", "precision"), ("BitextMining", "recall"), ("BitextMining", "accuracy")])
def test_weighted_metrics_equal_the_metric_of_the_expanded_sample(task_type: str, metric: str) -> None:
    rng = np.random.default_rng(7)
    n = 30
    gold = np.round(rng.normal(size=n), 1)  # ties on purpose
    cols = ({"value": rng.random(n)} if task_type == "Retrieval" else
            {"gold": gold, "pred": np.round(gold + rng.normal(size=n), 1)} if task_type == "STS" else
            {"gold": np.arange(n, dtype=float),
             "pred": np.where(rng.random(n) < 0.6, np.arange(n), rng.integers(0, n, n)).astype(float)})
    idx = rng.integers(0, n, size=(40, n))
    weights = np.stack([np.bincount(r, minlength=n) for r in idx]).astype(float)
    m = engine.metric_for(task_type, metric)
    assert m is not None
    expanded = m.score({k: v[idx] for k, v in cols.items()})
    assert np.allclose(m.weighted(cols, weights), expanded, atol=1e-12)  # the statistics engine's weighted metric


def test_joint_resamples_are_shared_by_every_cell() -> None:
    frame = pd.DataFrame({"item": np.arange(50), "gold": np.arange(50.0),
                          "prediction": np.random.default_rng(0).normal(size=50)})
    other = frame.assign(prediction=frame.prediction + np.random.default_rng(1).normal(size=50))
    js = joint.joint_scores("STS", "cosine_spearman", {"a": frame, "b": other, "a2": frame}, seed=3, n_bootstrap=300)
    assert js is not None and js.boot.shape == (300, 3) and js.n_items == 50
    assert np.array_equal(js.boot[:, 0], js.boot[:, 2])  # same items, same score, in every resample
    assert js.observed[0] == pytest.approx(engine.recompute("STS", "cosine_spearman", frame))
    again = joint.joint_scores("STS", "cosine_spearman", {"a": frame, "b": other}, seed=3, n_bootstrap=300)
    assert again is not None and np.array_equal(again.boot, js.boot[:, :2])  # seeded: reproducible


def test_bias_corrected_interval_recentres_an_inflated_statistic() -> None:
    rng = np.random.default_rng(0)
    boot = 0.5 + 0.1 * rng.standard_normal(20_000)
    assert joint.bias_corrected_ci(boot, 0.5) == pytest.approx(joint.percentile_ci(boot), abs=0.01)
    lo, hi = joint.bias_corrected_ci(boot, 0.4)  # the resamples sit above the observation: shift down
    assert hi < joint.percentile_ci(boot)[1] and lo < 0.4 < hi


# -- paraphrase spread ------------------------------------------------------------------------------------------
def test_paraphrase_spread_is_exact_and_compared_with_blog_minus_none(grid: tuple[Path, Path]) -> None:
    root, out = grid
    para = pd.read_parquet(out / "paraphrase.parquet")
    assert len(para) == 6 and (para.schema_version == schema.CONTROLS_SCHEMA_VERSION).all()
    pairs = sts_pairs(root)
    for salt in SALTS:
        r = para[(para.alias == f"mock-{salt}") & (para.task == STS)].iloc[0]
        scores = np.array([expected_spearman(salt, instruction("paraphrase", STS, k) + " ", pairs)
                           for k in range(1, 6)])
        assert r.n_variants == 5 and r.variant_set == "paraphrase"
        assert r.mean_score == pytest.approx(scores.mean(), abs=STORED)
        assert r.range == pytest.approx(scores.max() - scores.min(), abs=STORED_DIFF)
        assert r.sd == pytest.approx(scores.std(ddof=1), abs=stored_sd(len(scores)) / 2)
        assert r.best_variant == f"paraphrase#{scores.argmax() + 1}"
        assert r.worst_variant == f"paraphrase#{scores.argmin() + 1}"
        blog = expected_spearman(salt, instruction("blog", STS) + " ", pairs)
        assert r.reference == "blog − none"
        assert r.reference_delta == pytest.approx(blog - expected_spearman(salt, "", pairs), abs=STORED_DIFF)
        placebo = expected_spearman(salt, instruction("placebo", STS) + " ", pairs)
        assert r.content_mean == pytest.approx(scores.mean() - placebo, abs=STORED_DIFF)
        assert r.spread_n_permutations == paraphrase.SPREAD_PERMUTATIONS
        assert r.spread_p_value == (1 + r.spread_n_extreme) / (1 + r.spread_n_permutations)
        assert 1 / (1 + paraphrase.SPREAD_PERMUTATIONS) <= r.spread_p_value <= 1


def test_paraphrase_reference_shows_the_deltas_own_interval(grid: tuple[Path, Path]) -> None:
    out = grid[1]
    para = pd.read_parquet(out / "paraphrase.parquet")
    d = main_deltas(out)
    ref = d[(d.condition == "blog") & (d.baseline == "none")].set_index(paraphrase.REFERENCE_KEY)
    assert para.reference_ci_low.notna().all()
    for r in para.itertuples():
        want = ref.loc[tuple(getattr(r, k) for k in paraphrase.REFERENCE_KEY)]
        got = (r.reference_delta, r.reference_ci_low, r.reference_ci_high)
        assert got == (want.delta, want.ci_low, want.ci_high)  # the very same floats


def test_variant_sets_need_two_variants() -> None:
    assert paraphrase.variant_sets(["none", "paraphrase#2", "paraphrase#10", "x#1", "blog"]) == {
        "paraphrase": ["paraphrase#2", "paraphrase#10"]}


# -- rankings ---------------------------------------------------------------------------------------------------
def test_ranks_follow_the_leaderboard_scores(grid: tuple[Path, Path]) -> None:
    out = grid[1]
    ranked = pd.read_parquet(out / "ranks.parquet")
    board = pd.read_parquet(out / "leaderboard.parquet")
    main = board[(board.kind == "mteb") & board.is_main]
    assert len(ranked) == len(main) and (ranked.n_models == 3).all()
    for _, g in ranked.groupby(["task", "subset", "condition"]):
        order = g.sort_values("score", ascending=False)
        assert order["rank"].tolist() == [1, 2, 3]


def test_kendall_tau_against_none_with_a_joint_bootstrap_interval(grid: tuple[Path, Path]) -> None:
    out = grid[1]
    ranked = pd.read_parquet(out / "ranks.parquet")
    agree = pd.read_parquet(out / "rank_agreement.parquet")
    assert len(agree) == 2 * 10 and (agree.baseline == "none").all() and (agree.n_models == 3).all()
    assert agree.ci_low.isna().all() and agree.ci_high.isna().all()  # 3 models: no percentile interval
    for r in agree.itertuples():
        g = ranked[(ranked.task == r.task) & (ranked.subset == r.subset)]
        a = g[g.condition == "none"].set_index("model").score
        b = g[g.condition == r.condition].set_index("model").score[a.index]
        assert r.kendall_tau == pytest.approx(kendalltau(a, b).statistic)
        shares = dict(part.rsplit(": ", 1) for part in r.tau_values.split("; "))
        assert list(shares)[:4] == ["-1", "-1/3", "+1/3", "+1"]
        assert sum(int(x) for x in shares.values()) == r.n_bootstrap
        if r.condition in ("format", "official"):  # the same inputs as none for the mock: τ = 1 unless tied
            assert r.kendall_tau == 1.0 and shares["-1"] == shares["-1/3"] == shares["+1/3"] == "0"
            assert int(shares["+1"]) + int(shares.get("other (ties)", 0)) == r.n_bootstrap


def test_kendall_tau_values_and_the_interval_from_four_models() -> None:
    assert [str(v) for v in rankings.possible_taus(3)] == ["-1", "-1/3", "1/3", "1"]
    assert [str(v) for v in rankings.possible_taus(4)] == ["-1", "-2/3", "-1/3", "0", "1/3", "2/3", "1"]
    taus = np.array([1.0, 1 / 3, 1 / 3, 1.0, -1 / 3, np.nan, 0.5, 1.0])
    assert rankings.tau_values(taus, 3) == "-1: 0; -1/3: 1; +1/3: 2; +1: 3; other (ties): 2"
    rng = np.random.default_rng(5)
    cells = [(m, "r", c) for m in "abcd" for c in ("none", "x")]
    keys: list[Hashable] = list(cells)
    base = rng.standard_normal(8)
    js = joint.JointScores(keys, base, base + 0.3 * rng.standard_normal((400, 8)), 10)
    group = pd.DataFrame({"task": "T", "task_type": "STS", "subset": "s", "split": "test", "metric": "m",
                          "model": [k[0] for k in cells], "revision": "r", "condition": [k[2] for k in cells],
                          "score": base})
    for n in (3, 4):
        sub = group[group.model.isin(list("abcd"[:n]))]
        (row,) = rankings.agreement(js, sub)
        assert row["n_models"] == n
        if n == 4:
            assert row["tau_values"] is None and -1 <= row["ci_low"] <= row["kendall_tau"] <= row["ci_high"] <= 1
        else:
            assert row["ci_low"] is None and row["tau_values"].startswith("-1: ")


def test_kendall_rows_equal_scipy() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, size=(50, 6)).astype(float), rng.integers(0, 4, size=(50, 6)).astype(float)
    got = rankings.kendall_tau_rows(x, y)
    want = np.array([kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)])
    assert np.allclose(got, want, equal_nan=True)


def test_best_and_worst_rank_under_a_paraphrase_choice() -> None:
    scores = {"m1": [0.9, 0.5], "m2": [0.6, 0.7], "m3": [0.55, 0.4]}
    none = {"m1": 0.8, "m2": 0.7, "m3": 0.6}
    rows = []
    for cond, i in (("paraphrase#1", 0), ("paraphrase#2", 1), ("none", None)):
        vals = {m: (none[m] if i is None else s[i]) for m, s in scores.items()}
        ranks = {m: 1 + sum(v > vals[m] for v in vals.values()) for m in vals}
        rows += [{"task": "T", "task_type": "STS", "subset": "default", "split": "test", "metric": "x",
                  "condition": cond, "model": m, "alias": m, "revision": "1", "score": vals[m], "rank": ranks[m],
                  "n_models": 3} for m in vals]
    r = rankings.rank_range(pd.DataFrame(rows)).set_index("model")
    # shared: #1 ranks m1 1st, m2 2nd, m3 3rd; #2 ranks m2 1st, m1 2nd, m3 3rd
    assert r.loc["m1", ["best_shared", "worst_shared"]].tolist() == [1, 2]
    assert r.loc["m3", ["best_shared", "worst_shared"]].tolist() == [3, 3]
    # own: m3 at its best (0.55) against the others at their worst (0.5, 0.6) → 2nd; at its worst (0.4) → 3rd
    assert r.loc["m3", ["best_own", "worst_own"]].tolist() == [2, 3]
    # m2 at its worst (0.6) against the others at their best (0.9, 0.55) → 2nd
    assert r.loc["m2", ["best_own", "worst_own", "rank_none"]].tolist() == [1, 2, 2]


# -- reading it back ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("view", "expected"), [
    ("decomposition", "content blog"), ("paraphrase", "p(spread>0)"), ("ranks", "Kendall τ vs none: format"),
    ("deltas", "Δ blog − none")])
def test_compare_views(grid: tuple[Path, Path], view: str, expected: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--view", view, "--tasks", STS, "--results", str(grid[1])]) == 0
    text = capsys.readouterr().out
    assert expected in text and RET not in text


def test_compare_deltas_view_leaves_the_decomposition_rows_out(grid: tuple[Path, Path],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--results", str(grid[1])]) == 0
    text = capsys.readouterr().out
    assert "− placebo" not in text and "placebo − format" not in text


def test_report_has_the_control_sections(grid: tuple[Path, Path]) -> None:
    out = grid[1]
    md = (out / "report.md").read_text(encoding="utf-8")
    for title in ("## Effect decomposition", "## Paraphrase sensitivity", "## Rankings across instruction sets"):
        assert title in md
    files = {p.name for p in (out / "report_files").glob("*.svg")}
    charts = ({f"decomposition__mock-{s}.svg" for s in SALTS} | {f"paraphrase__mock-{s}.svg" for s in SALTS}
              | {f"ranks__{STS}.svg", f"ranks__{RET}.svg"})
    assert charts <= files
    html = (out / "report.html").read_text(encoding="utf-8")
    for kind, count in (("decomposition-chart", len(SALTS)), ("paraphrase-chart", len(SALTS)), ("bump-chart", 2)):
        assert html.count(f'class="{kind}"') == count, kind  # inline, each once
    for s in SALTS:  # every model's line in every bump chart, with its ranks as hover text
        assert html.count(f"<title>mock-{s}, none: rank ") >= 2
    decomposition = (out / "report_files" / f"decomposition__mock-{SALTS[0]}.svg").read_text(encoding="utf-8")
    assert "content (X − placebo)" in decomposition and "blog − none" in decomposition


@pytest.mark.parametrize("name", ["paraphrase", "ranks", "rank_agreement"])
def test_control_tables_match_their_golden_schema(grid: tuple[Path, Path], name: str) -> None:
    import duckdb
    import pyarrow.parquet as pq

    sch = {"paraphrase": schema.PARAPHRASE_SCHEMA, "ranks": schema.RANKS_SCHEMA,
           "rank_agreement": schema.RANK_AGREEMENT_SCHEMA}[name]
    text = "\n".join(f"{f.name}: {f.type}" for f in sch) + "\n"
    golden = GOLDEN / f"{name}_schema.txt"
    assert text == golden.read_text(), f"schema of {name} changed: bump CONTROLS_SCHEMA_VERSION, update {golden}"
    path = grid[1] / controls.FILES[name]
    assert pq.read_schema(path).remove_metadata() == sch
    assert duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0] == len(pd.read_parquet(path))


# -- item 5: a control added to a finished grid encodes only its new strings ------------------------------------
def test_adding_controls_to_a_finished_grid_encodes_only_their_new_strings(tmp_path: Path) -> None:
    root = tiny_tasks(tmp_path / "tasks")
    registry, cache, out = TaskRegistry(root), tmp_path / "cache", tmp_path / "results"
    runner.run([mock_spec(MockEmbedder())], conditions=["none", "blog"], results_dir=out, registry=registry,
               progress=False, cache=cache)
    words = {w for a, b, _ in sts_pairs(root) for w in (a, b)}
    texts = set()
    for name in ("queries.csv", "corpus.csv"):
        with (root / RET / name).open(encoding="utf-8") as f:
            texts |= {r["text"] for r in csv.DictReader(f)}
    second = MockEmbedder()
    s = runner.run([mock_spec(second)], conditions=["none", "blog", "placebo", "paraphrase#3"], results_dir=out,
                   registry=registry, progress=False, cache=cache)
    assert len(s.reused) == 4 and len(s.ran) == 4
    new = {prefix + " " + t for prefix, pool in
           [(instruction("placebo", STS), words), (instruction("paraphrase", STS, 3), words),
            (instruction("placebo", RET), texts), (instruction("paraphrase", RET, 3), texts)] for t in pool}
    assert sorted(second.encoded) == sorted(new)  # exactly the controls' new inputs, each once
    assert s.encoded == len(new)


def test_a_model_with_format_prefixes_splits_them_off(tmp_path: Path) -> None:
    """multilingual-e5-small's recipe (query: / passage: on retrieval, nothing on STS) over the mock encoder."""
    from harness.analysis.aggregate import deltas, leaderboard
    from harness.models.spec import ModelSpec

    root = tiny_tasks(tmp_path / "tasks")
    emb = MockEmbedder()
    spec = ModelSpec(alias="mock-e5", name="intfloat/multilingual-e5-small", revision="mock", loader=lambda: emb,
                     languages=["eng-Latn"], embed_dim=emb.dim, settings={"dim": emb.dim})
    out = tmp_path / "results"
    runner.run([spec], conditions=["none", "format", "blog", "placebo"], results_dir=out,
               registry=TaskRegistry(root), progress=False, cache=tmp_path / "cache")
    d = deltas(leaderboard(out), out, n_bootstrap=200, n_permutations=200)
    main = d[(d.kind == "mteb") & d.is_main]
    ret = main[main.task == RET].set_index(["condition", "baseline"])
    assert ret.loc[("format", "none"), "effect"] == "prefix"
    assert not ret.loc[("format", "none"), "identical_inputs"]  # query: / passage: change the inputs
    assert ret.loc[("placebo", "format"), "effect"] == "any_instruction"
    assert ret.loc[("placebo", "format"), "baseline_sha256"] != ret.loc[("placebo", "none"), "baseline_sha256"]
    assert ret.loc[("blog", "format"), "effect"] == "over_format"
    assert ret.loc[("blog", "none"), "delta"] == pytest.approx(
        ret.loc[("format", "none"), "delta"] + ret.loc[("placebo", "format"), "delta"]
        + ret.loc[("blog", "placebo"), "delta"], abs=1e-12)
    kept = decomposition.plain_deltas(main)
    assert ((kept.task == RET) & (kept.condition == "placebo") & (kept.baseline == "format")).any()
    assert not (kept.effect == "content").any()
    # STS: e5 has no format prefix there, so format − none is "same inputs" and placebo − format is placebo − none
    sts = main[main.task == STS].set_index(["condition", "baseline"])
    assert sts.loc[("format", "none"), "identical_inputs"]
    assert sts.loc[("placebo", "format"), "p_value"] == sts.loc[("placebo", "none"), "p_value"]


@pytest.mark.slow
def test_minilm_controls_end_to_end(tmp_path: Path, minilm_spec) -> None:  # type: ignore[no-untyped-def]
    """The real MiniLM on the tiny tasks: every control reaches the model as its exact string, and the
    decomposition, spreads and tables come out of aggregate."""
    root = tiny_tasks(tmp_path / "tasks")
    embedder = minilm_spec.load()
    seen: list[str] = []
    original = embedder.embed

    def spy(texts: list[str], **kw):  # type: ignore[no-untyped-def]
        seen.extend(texts)
        return original(texts, **kw)

    embedder.embed = spy  # type: ignore[method-assign]
    from harness.models.spec import ModelSpec

    spec = ModelSpec(**{**minilm_spec.__dict__, "loader": lambda: embedder})
    out = tmp_path / "results"
    s = runner.run([spec], conditions=["none", "format", "blog", "placebo", "mismatched", "paraphrase"],
                   results_dir=out, registry=TaskRegistry(root), progress=False, cache=tmp_path / "cache")
    assert len(s.ran) == 10 * 2 and not s.failed
    words = {w for a, b, _ in sts_pairs(root) for w in (a, b)}
    for cond, text in [("placebo", instruction("placebo", STS)), ("mismatched", instruction("mismatched", STS)),
                       *((f"paraphrase#{k}", instruction("paraphrase", STS, k)) for k in range(1, 6))]:
        assert {f"{text} {w}" for w in words} <= set(seen), cond
    api.aggregate(out)
    d = main_deltas(out)
    sts = d[d.task == STS]
    total = sts[(sts.condition == "blog") & (sts.baseline == "none")].delta.item()
    parts = sts[sts.effect.isin(["prefix", "any_instruction"])].delta.sum() + sts[
        (sts.effect == "content") & (sts.condition == "blog")].delta.item()
    assert total == pytest.approx(parts, abs=1e-12)
    para = pd.read_parquet(out / "paraphrase.parquet")
    assert set(para.task) == {STS, RET} and (para.n_variants == 5).all() and (para.range > 0).all()


def _normalised(tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], where: Path) -> list[pd.DataFrame]:
    where.mkdir(parents=True, exist_ok=True)
    controls.write(where, *tables)
    return list(controls.read(where))


def test_control_tables_are_the_same_from_any_workers_and_cached_by_their_inputs(
        grid: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each group's joint bootstrap is a pool job (its own seed): 1 or 2 workers, cold or from the statistics
    cache, the tables aggregate wrote, bit for bit; a warm call runs no job, and a changed leaderboard row runs
    its own group's job again, and only that one."""
    _, out = grid
    board = pd.read_parquet(out / "leaderboard.parquet")
    d = pd.read_parquet(out / "deltas.parquet")
    written = list(controls.read(out))
    assert not written[0].empty and not written[2].empty  # paraphrase spreads and rank agreement were made
    runs: list[tuple[Any, ...]] = []
    real = controls._group_job

    def counted(job: tuple[Any, ...]) -> tuple[dict[str, list], float]:
        runs.append(job[0])
        return real(job)

    got = {}
    for workers in (1, 2):  # 2: worker processes (the counting wrapper stays in this process for workers=1 only)
        monkeypatch.setenv("HARNESS_STATS_CACHE", str(tmp_path / f"stats-{workers}"))
        if workers == 1:
            monkeypatch.setattr(controls, "_group_job", counted)
        else:
            monkeypatch.setattr(controls, "_group_job", real)
        got[workers] = _normalised(controls.tables(board, out, deltas=d, workers=workers), tmp_path / f"w{workers}")
    groups = len(runs)
    assert groups == 2  # one group per tiny task (one subset, one split each)
    for w in (1, 2):
        for want, have in zip(written, got[w], strict=True):
            pd.testing.assert_frame_equal(want, have, check_exact=True)
    monkeypatch.setenv("HARNESS_STATS_CACHE", str(tmp_path / "stats-1"))
    monkeypatch.setattr(controls, "_group_job", counted)
    runs.clear()
    warm = _normalised(controls.tables(board, out, deltas=d, workers=1), tmp_path / "warm")
    assert runs == []  # every group from the cache: no prediction read
    for want, have in zip(written, warm, strict=True):
        pd.testing.assert_frame_equal(want, have, check_exact=True)
    changed = board.copy()
    row = changed.index[(changed.kind == "mteb") & changed.is_main & (changed.task == STS)
                        & (changed.condition == "paraphrase#2")][0]
    changed.loc[row, "score"] += 0.5  # the recomputed score no longer matches: that cell is left out, with a warning
    controls.tables(changed, out, deltas=d, workers=1)
    assert len(runs) == 1 and runs[0][0] == STS
