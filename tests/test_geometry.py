"""Geometry of the embeddings (harness/analysis/geometry.py): exact values on seeded mock encoders whose
instruction adds one vector to every text (shift share 1, centred delta 0) or rotates them, and the weighted
statistics against their direct definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.analysis import geometry
from harness.models.mock import MockEmbedder, mock_spec
from harness.results import layout
from harness.run import local as runner
from harness.taskspecs.local import TaskRegistry
from tests.control_grid import RET, STS, tiny_tasks

SCALE_AGE = "Classify a given age by how old it is. "
RETRIEVAL = "Retrieve semantically similar text. Between german and english translations. "


def _grid(base: Path, effect: str) -> Path:
    root = tiny_tasks(base / "tasks")
    out = base / "results"
    emb = MockEmbedder(effects={SCALE_AGE: effect, RETRIEVAL: effect})
    s = runner.run([mock_spec(emb)], conditions=["none", "blog"], results_dir=out, registry=TaskRegistry(root),
                   progress=False, cache=base / "cache")
    assert len(s.ran) == 4 and not s.failed
    return out


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    base = tmp_path_factory.mktemp("geo-shift")
    out = _grid(base, "shift")
    return out, geometry.table(out, store=base / "cache", n_bootstrap=200)


def test_shift_share_is_one_and_centring_removes_the_effect(shifted: tuple[Path, pd.DataFrame]) -> None:
    _, geo = shifted
    share = geo[(geo.metric == "shift_share")].set_index("task")
    assert share.loc[STS, "score"] == pytest.approx(1.0, abs=1e-6)
    assert share.loc[RET, "score"] == pytest.approx(1.0, abs=1e-6)
    centred = geo[(geo.task == STS) & (geo.metric == "centred_cosine_spearman") & (geo.condition == "blog")]
    assert len(centred) == 1 and centred.delta.iloc[0] == pytest.approx(0.0, abs=1e-12)


def test_rotation_of_centred_texts_has_shift_share_zero() -> None:
    rng = np.random.default_rng(3)
    half = rng.standard_normal((5, 8))
    x = np.vstack([half, -half])  # mean exactly 0
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    ones = np.ones((1, 10))
    assert geometry.shift_share(x @ q.T - x, ones)[0] == pytest.approx(0.0, abs=1e-15)
    shift = np.tile(rng.standard_normal(8), (10, 1))
    assert geometry.shift_share(shift, ones)[0] == pytest.approx(1.0, abs=1e-15)


def test_weighted_statistics_equal_their_definitions_on_the_expanded_sample() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 4))
    w = np.array([[1.0, 2.0, 0.0, 1.0, 3.0, 1.0, 1.0], [1.0] * 7])
    for row in w:
        expanded = np.repeat(x, row.astype(int), axis=0)
        cov = np.cov(expanded.T, bias=True)
        lam = np.linalg.eigvalsh(cov)
        assert geometry.participation_ratio(x, row[None, :])[0] == pytest.approx(lam.sum() ** 2 / (lam**2).sum(),
                                                                                 rel=1e-12)
        idx = np.repeat(np.arange(7), row.astype(int))
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        cos = [u[i] @ u[j] for a, i in enumerate(idx) for b, j in enumerate(idx) if a != b and i != j]
        assert geometry.anisotropy(x, row[None, :])[0] == pytest.approx(np.mean(cos), rel=1e-12)
    assert geometry.participation_ratio(np.eye(4), np.ones((1, 4)))[0] == pytest.approx(3.0)  # 4 corners: 3 dims


def test_aggregate_writes_geometry_rows_and_their_deltas(shifted: tuple[Path, pd.DataFrame],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = shifted
    monkeypatch.setenv("HARNESS_EMBEDDING_CACHE", str(out.parent / "cache"))  # where the run stored its vectors
    api.aggregate(out)
    board = pd.read_parquet(out / "leaderboard.parquet")
    geo = board[board.kind == "geometry"]
    assert set(geo.metric) == {"anisotropy", "participation_ratio", "shift_share", "centred_cosine_spearman",
                               "centred_pc1_cosine_spearman", "centred_ndcg_at_10", "centred_pc1_ndcg_at_10"}
    d = pd.read_parquet(out / "deltas.parquet")
    row = d[(d.kind == "geometry") & (d.metric == "centred_cosine_spearman") & (d.baseline == "none")]
    assert len(row) == 1 and row.delta.iloc[0] == 0.0 and row.ci_low.iloc[0] == 0.0 == row.ci_high.iloc[0]
    aniso = d[(d.kind == "geometry") & (d.metric == "anisotropy") & (d.baseline == "none") & (d.task == STS)]
    assert aniso.ci_low.iloc[0] < aniso.delta.iloc[0] < aniso.ci_high.iloc[0]
    assert pd.read_parquet(out / geometry.FILE).shape[0] == len(geo)
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Geometry: shared shift, anisotropy and centred scores" in text
    assert "mock blog: 0 of 2 raw deltas have a 95% CI off 0; 0 keep it after centring" in text
    assert (out / "report_files" / "geometry__mock.svg").read_text().startswith("<svg")
    assert "No variant set ran (e.g. --conditions paraphrase): no prompt-robust score." in text


# -- placement as a factor --------------------------------------------------------------------------------------
def test_placement_conditions_put_the_instruction_on_one_or_both_sides(tmp_path: Path) -> None:
    root = tiny_tasks(tmp_path / "tasks")
    out = tmp_path / "results"
    s = runner.run([mock_spec()], conditions=["none", "blog@query", "blog@both"], results_dir=out,
                   registry=TaskRegistry(root), progress=False)
    # ScaleAge (STS) has one side: its placement cells are not planned, and the run says so
    assert sorted(s.ran) == sorted(["mock/none/ScaleAge", "mock/none/DeEnTranslationRetrieval",
                                    "mock/blog@query/DeEnTranslationRetrieval",
                                    "mock/blog@both/DeEnTranslationRetrieval"])
    assert ("not planned: blog@query, blog@both on 1 symmetric task(s) (STS and bitext mining have one side, so "
            "@query and @both would repeat the plain set): ScaleAge") in s.skipped
    prompts = {side["condition"]: side["prompts"] for _, side in layout.sidecars(out) if side["task"] == RET}
    assert prompts["blog@query"] == {"query": RETRIEVAL, "document": ""}
    assert prompts["blog@both"] == {"query": RETRIEVAL, "document": RETRIEVAL}
    api.aggregate(out)
    d = pd.read_parquet(out / "deltas.parquet")
    row = d[(d.effect == "placement") & (d.kind == "mteb") & d.is_main]
    assert list(zip(row.condition, row.baseline, strict=True)) == [("blog@both", "blog@query")]
    both = d[(d.condition == "blog@both") & (d.baseline == "none") & (d.kind == "mteb") & d.is_main].delta.iloc[0]
    query = d[(d.condition == "blog@query") & (d.baseline == "none") & (d.kind == "mteb") & d.is_main].delta.iloc[0]
    assert row.delta.iloc[0] == pytest.approx(both - query, abs=1e-12)
    assert row.ci_low.iloc[0] <= row.delta.iloc[0] <= row.ci_high.iloc[0]


# -- the prompt-robust score ------------------------------------------------------------------------------------
def test_robust_score_spread_percentiles_and_ranks() -> None:
    from harness.analysis import robust_score

    def rows(model: str, scores: dict[str, float]) -> list[dict[str, object]]:
        return [{"model": model, "alias": model, "revision": "1", "task": "T", "task_type": "STS", "subset": "s",
                 "split": "test", "metric": "cosine_spearman", "kind": "mteb", "is_main": True, "condition": c,
                 "score": v} for c, v in scores.items()]

    para = {f"paraphrase#{k}": v for k, v in enumerate([0.1, 0.2, 0.3, 0.4], start=1)}
    board = pd.DataFrame(rows("a", {**para, "blog": 0.3, "official": 0.5})
                         + rows("b", {**{c: v + 0.05 for c, v in para.items()}, "blog": 0.0}))
    t = robust_score.table(board).set_index("model")
    assert t.loc["a", "mean_score"] == pytest.approx(0.25) and t.loc["a", "worst_score"] == 0.1
    assert t.loc["a", "blog_percentile"] == pytest.approx(62.5)  # 2 below, 1 equal of 4
    assert t.loc["a", "official_percentile"] == 100.0 and np.isnan(t.loc["b", "official_percentile"])
    assert t.loc["b", "blog_percentile"] == 0.0
    assert (t.loc["a", "rank_by_mean"], t.loc["b", "rank_by_mean"]) == (2, 1)
    assert (t.loc["a", "rank_by_blog"], t.loc["b", "rank_by_blog"]) == (1, 2)  # blog alone reverses the order


def test_without_the_embedding_cache_unchanged_cells_keep_their_rows(shifted: tuple[Path, pd.DataFrame],
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out, geo = shifted
    monkeypatch.setenv("HARNESS_STATS_CACHE", "off")  # what the previous table alone keeps, not the row cache
    from harness.results.schema import GEOMETRY_SCHEMA, SCHEMA_VERSION, write_parquet

    write_parquet(geo.assign(schema_version=SCHEMA_VERSION), GEOMETRY_SCHEMA, out / geometry.FILE)
    again = geometry.table(out, store=tmp_path / "empty", n_bootstrap=200)
    pd.testing.assert_frame_equal(again[geometry.COLUMNS].reset_index(drop=True), geo.reset_index(drop=True),
                                  check_dtype=False)
    stale = geo.assign(cell_key="changed")  # a cell whose key changed since: its subset is not kept
    write_parquet(stale.assign(schema_version=SCHEMA_VERSION), GEOMETRY_SCHEMA, out / geometry.FILE)
    assert geometry.table(out, store=tmp_path / "empty", n_bootstrap=200).empty


# -- instruction language ---------------------------------------------------------------------------------------
def test_german_sets_translate_their_english_sources_side_by_side() -> None:
    import yaml

    from harness.analysis import decomposition
    from tests.conftest import ROOT

    def tasks(name: str) -> dict[str, object]:
        return yaml.safe_load((ROOT / "instructions" / "sets" / f"{name}.yaml").read_text(encoding="utf-8"))["tasks"]

    blog, blog_deu, para, para_deu = tasks("blog"), tasks("blog_deu"), tasks("paraphrase"), tasks("paraphrase_deu")
    german_tasks = {*(f"Scale{s}" for s in ("Age", "Brightness", "Loudness", "Size", "Speed", "Temperature",
                                             "Weight")), "DeEnTranslationRetrieval", "DeEnTranslationReranking",
                    "EnDeTranslationRetrieval", "ScaleWordClustering", "ScaleEndPairClassification"}
    assert set(blog_deu) == set(para_deu) == german_tasks
    for t in german_tasks:
        assert [set(e) for e in blog_deu[t]] == [set(blog[t])]  # same sides as the English entry
        assert [set(e) for e in para_deu[t]] == [set(e) for e in para[t]] and len(para_deu[t]) == 5
    # the English side of a translation task keeps the English instruction exactly
    assert blog_deu["DeEnTranslationRetrieval"][0]["document"] == blog["DeEnTranslationRetrieval"]["document"]
    assert blog_deu["EnDeTranslationRetrieval"][0]["query"] == blog["EnDeTranslationRetrieval"]["query"]
    assert blog_deu["DeEnTranslationReranking"] == blog_deu["DeEnTranslationRetrieval"]  # German queries alike
    assert decomposition.english_of("blog_deu#1", {"blog"}) == "blog"
    assert decomposition.english_of("paraphrase_deu#3", {"paraphrase#3", "blog"}) == "paraphrase#3"
    assert decomposition.english_of("blog#1", {"blog"}) is None
    assert decomposition.effect_of("blog_deu#1", "blog") == "language"
    assert decomposition.effect_of("blog@both", "blog@query") == "placement"


# -- the row cache (per cell × subset, in the statistics cache) ------------------------------------------------
def test_a_second_table_reads_every_row_from_the_cache(shifted: tuple[Path, pd.DataFrame], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.stats.stats_cache import StatsCache

    out, geo = shifted
    store = out.parent / "cache"
    with StatsCache(tmp_path / "stats") as cache:
        before = geometry.COMPUTED
        first = geometry.table(out, store=store, n_bootstrap=200, cache=cache)
        assert geometry.COMPUTED - before == 4  # 2 tasks × 1 subset × 2 conditions, computed
        pd.testing.assert_frame_equal(first, geo)
        before = geometry.COMPUTED
        second = geometry.table(out, store=tmp_path / "no-vectors", n_bootstrap=200, cache=cache)
        assert geometry.COMPUTED - before == 0  # nothing recomputed: not even a vector is needed
        pd.testing.assert_frame_equal(second, first)
        from harness.stats import stats_cache

        monkeypatch.setattr(stats_cache, "GEOMETRY_METHOD_VERSION", stats_cache.GEOMETRY_METHOD_VERSION + 1)
        third = geometry.table(out, store=store, n_bootstrap=200, cache=cache)
        assert geometry.COMPUTED - before == 4  # another method version: every row computed again
        pd.testing.assert_frame_equal(third, first)
        # one cell changed (its key): only its own rows are computed again; a changed none: every condition's
        sides = [(p, {**s, "key": "changed"} if s["condition"] == "blog" and s["task"] == STS else s)
                 for p, s in layout.read_sidecars(out)[0]]
        before = geometry.COMPUTED
        fourth = geometry.table(out, store=store, n_bootstrap=200, cache=cache, read=sides)
        assert geometry.COMPUTED - before == 1
        pd.testing.assert_frame_equal(fourth.drop(columns="cell_key"), first.drop(columns="cell_key"))
        changed = (fourth.task == STS) & (fourth.condition == "blog")
        assert (fourth[changed].cell_key == "changed").all() and (fourth[~changed].cell_key != "changed").all()
        sides = [(p, {**s, "key": "new-none"} if s["condition"] == "none" and s["task"] == RET else s)
                 for p, s in layout.read_sidecars(out)[0]]
        before = geometry.COMPUTED
        geometry.table(out, store=store, n_bootstrap=200, cache=cache, read=sides)
        assert geometry.COMPUTED - before == 2
