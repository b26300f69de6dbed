"""InstructionReranking (FollowIR): p-MRR through the harness's real cell path, recomputed from the predictions
rows, and its statistics (resampled by query, sign-flip test per query) calibrated on synthetic data.

mteb's own MockInstructionReranking has ``ndcg_at_10`` as main score and no ``qrel_diff`` (it runs in
tests/test_mteb_mock_tasks.py); :class:`MockFollowIR` below is a FollowIR-shaped task (every query as ``<id>-og``
and ``<id>-changed``, a changed-qrels dict, ``task_specific_scores`` as mteb's Core17InstructionRetrieval writes
it, main score p-MRR), so the capture of mteb's qrel_diff and the p-MRR rows are exercised end to end."""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.core.offline import configure
from harness.models.mock import MockEmbedder, mock_spec
from harness.prompts.files import list_model_files
from harness.run import local as runner
from harness.stats import engine
from harness.stats.followir import pmrr_values
from harness.stats.metrics import item_columns
from harness.taskspecs.local import TaskRegistry
from harness.taskspecs.registry_tasks import RegistryTask
from tests import stats_calibration as sc
from tests.test_registry_tasks import hub_readme

configure()

import mteb  # noqa: E402
from datasets import Dataset  # noqa: E402
from mteb._evaluators.retrieval_metrics import evaluate_p_mrr_change  # noqa: E402
from mteb.abstasks import AbsTaskRetrieval  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402

DOCS = {f"d{k}": t for k, t in enumerate([
    "the river floods the valley every spring", "a recipe for cold cucumber soup", "the court ruled on the appeal",
    "hot summer nights in the desert", "a guide to winter mountain hiking", "the senate passed the budget bill",
    "ice forms on the lake in january", "a report on tropical storms", "the judge dismissed the case"])}
QUERIES = {"q1": ("weather events", "Relevant documents describe floods.", "Relevant documents describe storms."),
           "q2": ("legal decisions", "Relevant documents are about courts.", "Only judges' dismissals are relevant."),
           "q3": ("cold places", "Relevant documents mention ice or winter.", "Only lakes are relevant."),
           "q4": ("food", "Relevant documents are recipes.", "No document is relevant.")}
QRELS = {"q1-og": {"d0": 1, "d7": 1, "d3": 0}, "q1-changed": {"d0": 0, "d7": 1, "d3": 0},
         "q2-og": {"d2": 1, "d8": 1, "d5": 0}, "q2-changed": {"d2": 0, "d8": 1, "d5": 0},
         "q3-og": {"d4": 1, "d6": 1}, "q3-changed": {"d4": 0, "d6": 1},
         "q4-og": {"d1": 1}}  # q4-changed has no qrels: mteb drops the query, and its p-MRR skips q4
CHANGED = {"q1": ["d0", "d3"], "q2": ["d2"], "q3": ["d4", "d8"], "q4": ["d1"]}  # d8: not among q3's candidates
CANDIDATES = {"q1": ["d0", "d3", "d7", "d1"], "q2": ["d2", "d5", "d8", "d6"], "q3": ["d4", "d6", "d0", "d7"],
              "q4": ["d1", "d3", "d5", "d2"]}


class MockFollowIR(AbsTaskRetrieval):
    metadata = TaskMetadata(
        name="MockFollowIR", description="a FollowIR-shaped mock", reference=None,
        dataset={"path": "NA", "revision": "NA"}, type="InstructionReranking", category="t2t",
        modalities=["text"], eval_splits=["test"], eval_langs=["eng-Latn"], main_score="p-MRR",
        date=("2024-01-01", "2024-01-01"), domains=[], task_subtypes=[], license="mit",
        annotations_creators="derived", dialect=[], sample_creation="found", bibtex_citation="")

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        queries = [{"id": f"{q}-{run}", "text": text, "instruction": og if run == "og" else new}
                   for q, (text, og, new) in QUERIES.items() for run in ("og", "changed")]
        corpus = [{"id": d, "text": t, "title": ""} for d, t in DOCS.items()]
        top = {f"{q}-{run}": list(c) for q, c in CANDIDATES.items() for run in ("og", "changed")}
        split = {"queries": Dataset.from_list(queries), "corpus": Dataset.from_list(corpus),
                 "relevant_docs": {k: dict(v) for k, v in QRELS.items()}, "top_ranked": top}
        self.dataset = {"default": {"test": split}}
        self.data_loaded = True

    def task_specific_scores(self, scores: Any, qrels: Any, results: Any, hf_split: str, hf_subset: str
                             ) -> dict[str, Any]:  # as mteb's Core17InstructionRetrieval, the qrel_diff in memory
        return evaluate_p_mrr_change(qrels, results, {k: list(v) for k, v in CHANGED.items()}, self.k_values)


class FollowIRRegistryTask(RegistryTask):
    def __init__(self) -> None:
        md = MockFollowIR.metadata
        super().__init__(md.name, {"type": md.type, "main_score": md.main_score, "subsets": {"default": ["eng-Latn"]},
                                   "splits": ["test"], "path": "NA", "revision": "NA", "modalities": ["text"]})

    def ensure_available(self) -> None:
        """Generated in memory."""

    @cached_property
    def mteb_task_class(self) -> Any:
        return type("MockFollowIR", (MockFollowIR,), {"__module__": __name__, **self._prediction_attrs(MockFollowIR)})


class Tasks(TaskRegistry):
    def get(self, name: str) -> Any:
        return FollowIRRegistryTask() if name == "MockFollowIR" else super().get(name)


def _run(tmp_path: Path, condition: str = "none", emb: MockEmbedder | None = None) -> tuple[dict[str, Any],
                                                                                           pd.DataFrame]:
    summary = runner.run([mock_spec(emb or MockEmbedder())], tasks=["MockFollowIR"], conditions=[condition],
                         results_dir=tmp_path, registry=Tasks(), progress=False, cache=False)
    assert len(summary.ran) == 1 and not summary.failed, summary
    (side_path,) = (tmp_path / "cells").glob(f"*/*/{condition}/MockFollowIR.json")
    side = json.loads(side_path.read_text())
    return side, pd.read_parquet(tmp_path / side["predictions_file"])


def _mteb_pmrr() -> float:
    from harness.prompts.conditions import Condition, Prompter
    from harness.prompts.files import model_instructions
    from harness.run.encoder import PromptedEncoder

    emb = MockEmbedder()
    spec = mock_spec(emb)
    encoder = PromptedEncoder(emb, spec, Prompter(model_instructions(spec.name), Condition("none")))
    res = mteb.evaluate(encoder, [MockFollowIR()], cache=None, co2_tracker=False,  # type: ignore[arg-type]
                        show_progress_bar=False)
    (tr,) = res.task_results
    (entry,) = tr.scores["test"]
    return float(entry["main_score"])


def test_a_followir_task_runs_through_the_cell_path_and_its_rows_rederive_mtebs_p_mrr(tmp_path: Path) -> None:
    side, frame = _run(tmp_path)
    assert side["task_type"] == "InstructionReranking" and side["main_score"] == "p-MRR"
    from mteb.results import TaskResult

    (entry,) = TaskResult.from_disk(tmp_path / side["result_file"]).scores["test"]
    expected = _mteb_pmrr()
    assert entry["main_score"] == pytest.approx(expected, abs=5.1e-7)  # mteb's own evaluation, stored to 6 decimals
    p = frame[frame.gold.isna()]
    # one p-MRR row per (query, changed document), q4 left out as mteb leaves it out (its -changed query is gone)
    assert sorted(zip(p.query_id, p.doc_id, strict=True)) == [("q1", "d0"), ("q1", "d3"), ("q2", "d2"),
                                                               ("q3", "d4"), ("q3", "d8")]
    assert set(p.item) == {0, 1, 2}
    assert (p[p.doc_id == "d8"][["prediction", "rank"]].to_numpy() == [[5.0, 5]]).all()  # unscored: 1 + 4 candidates
    assert engine.recompute("InstructionReranking", "p-MRR", frame) == pytest.approx(expected, abs=5.1e-7)
    # mteb's other scores come from the Retrieval rows (the p-MRR rows left out)
    assert engine.recompute("InstructionReranking", "ndcg_at_10", frame) == pytest.approx(entry["ndcg_at_10"],
                                                                                      abs=5.1e-6)
    assert not frame[frame.gold.notna()].query_id.isin(["q1", "q2", "q3"]).any()


def test_p_mrr_is_mtebs_rank_score_averaged_per_query_then_over_queries() -> None:
    from mteb._evaluators.retrieval_metrics import calculate_pmrr

    # query a: x moves 1 -> 2 (+0.5), y 4 -> 3 (-0.25); b: x stays at 3 (0); c: z moves 2 -> 10 (+0.8)
    rows = [("a", 0, "x", 1, 2), ("a", 0, "y", 4, 3), ("b", 1, "x", 3, 3), ("c", 2, "z", 2, 10)]
    df = pd.DataFrame({"item": [r[1] for r in rows], "query_id": [r[0] for r in rows],
                       "doc_id": [r[2] for r in rows], "gold": np.nan,
                       "prediction": [float(r[3]) for r in rows], "rank": pd.array([r[4] for r in rows], "Int64")})
    items, values = pmrr_values(df)
    assert items.tolist() == [0, 1, 2] and values == pytest.approx([0.125, 0.0, 0.8], abs=1e-15)

    def run(placed: dict[str, int]) -> dict[str, float]:  # every document at its rank, fillers in between
        at = {r: d for d, r in placed.items()}
        return {at.get(r, f"filler{r}"): 100.0 - r for r in range(1, max(at) + 1)}

    og = {f"{q}-og": run({d: o for q2, _, d, o, _ in rows if q2 == q}) for q in "abc"}
    new = {f"{q}-changed": run({d: n for q2, _, d, _, n in rows if q2 == q}) for q in "abc"}
    mteb_value = calculate_pmrr(og, new, {"a": ["x", "y"], "b": ["x"], "c": ["z"]})
    assert float(values.mean()) == pytest.approx(float(mteb_value), abs=1e-15)


def test_a_p_mrr_delta_is_the_mean_of_per_query_differences_resampled_by_query() -> None:
    rng = np.random.default_rng(3)
    gen = PMRRGen(n_queries=60, p_b=0.3)
    a, b = gen.frames(rng)
    ia, va = pmrr_values(a)
    ib, vb = pmrr_values(b)
    assert np.array_equal(ia, ib) and len(ia) == 60
    st = engine.delta_stats("InstructionReranking", "p-MRR", a, b, seed=1)
    assert st is not None and st.resample_unit == "query" and st.n_items == 60
    assert st.delta == pytest.approx(float(np.mean(va - vb)), abs=1e-12)
    assert st.ci_low < st.delta < st.ci_high
    same = engine.delta_stats("InstructionReranking", "p-MRR", a, a.copy(), seed=1)
    assert same is not None and same.delta == 0 and same.ci_low == same.ci_high == 0 and same.p_value == 1


# -- calibration ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PMRRGen:
    """p-MRR of two conditions on the same queries. Query q has 1–3 changed documents; document d has a difficulty
    u_d ~ U(−0.25, 0.25) shared by both conditions. Under condition c its rank under the original instruction is
    Geometric(0.3); under the changed instruction it moves down by Geometric(0.4) ranks with probability p_c + u_d
    (the instruction followed), else up by Geometric(0.5) − 1 (at most to rank 1). The per-query value is the mean
    of mteb's rank_score over its documents; the number of documents is independent of the scores, so the true
    delta is E[rank_score | p_a] − E[rank_score | p_b] (a 2·10^6-document Monte Carlo; 0 when p_a = p_b)."""

    n_queries: int = 150
    p_a: float = 0.5
    p_b: float = 0.5

    def _ranks(self, rng: np.random.Generator, u: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
        og = rng.geometric(0.3, len(u))
        down = rng.random(len(u)) < p + u
        new = np.where(down, og + rng.geometric(0.4, len(u)), np.maximum(1, og - (rng.geometric(0.5, len(u)) - 1)))
        return og.astype(np.float64), new.astype(np.float64)

    @staticmethod
    def _score(og: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.where(og >= new, (1 / og) / (1 / new) - 1, 1 - (1 / new) / (1 / og))

    def true_delta(self) -> float:
        if self.p_a == self.p_b:
            return 0.0
        rng = np.random.default_rng(12345)
        u = rng.uniform(-0.25, 0.25, 2_000_000)
        return float(self._score(*self._ranks(rng, u, self.p_a)).mean() - self._score(*self._ranks(rng, u, self.p_b))
                     .mean())

    def frames(self, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Two conditions' p-MRR rows, as :mod:`harness.run.pmrr_rows` writes them."""
        n_docs = rng.integers(1, 4, self.n_queries)
        item = np.repeat(np.arange(self.n_queries), n_docs)
        u = rng.uniform(-0.25, 0.25, len(item))

        def frame(p: float) -> pd.DataFrame:
            og, new = self._ranks(rng, u, p)
            return pd.DataFrame({"subset": "default", "split": "test", "item": item, "query_id": item.astype(str),
                                 "doc_id": np.arange(len(item)).astype(str), "gold": np.nan, "prediction": og,
                                 "rank": pd.array(new.astype(np.int64), "Int64")})

        return frame(self.p_a), frame(self.p_b)

    def draw(self, rng: np.random.Generator) -> sc.Dataset:
        fa, fb = self.frames(rng)
        return sc.Dataset(item_columns("InstructionReranking", "p-MRR", fa)[1],
                          item_columns("InstructionReranking", "p-MRR", fb)[1])


METRIC = engine.metric_for("InstructionReranking", "p-MRR")
NULL_DATASETS, N_PERM, COVERAGE_DATASETS, N_BOOT = 500, 99, 300, 200  # the sizes of tests/test_stats_calibration.py


def null_p_values(gen: PMRRGen, datasets: int, n_perm: int, seed: int) -> np.ndarray:
    assert METRIC is not None
    rng = np.random.default_rng(seed)
    units = engine.Units.items(gen.n_queries, "query")
    return np.array([sc.new_p(METRIC, gen.draw(rng), units, n_perm, rng) for _ in range(datasets)])


def coverage(gen: PMRRGen, datasets: int, n_boot: int, seed: int) -> np.ndarray:
    assert METRIC is not None
    rng = np.random.default_rng(seed)
    truth, units = gen.true_delta(), engine.Units.items(gen.n_queries, "query")
    covered = []
    for _ in range(datasets):
        data = gen.draw(rng)
        observed = float(METRIC.score({"value": data.a["value"][None]})[0] - METRIC.score(
            {"value": data.b["value"][None]})[0])
        lo, hi, _ = engine.bootstrap_interval(METRIC, data.a, data.b, observed, n_boot, rng, units=units)
        covered.append(lo <= truth <= hi)
    return np.array(covered)


def test_p_mrr_permutation_p_values_are_uniform_under_the_null() -> None:
    from scipy.stats import kstest

    p = null_p_values(PMRRGen(), NULL_DATASETS, N_PERM, seed=1)
    assert kstest(p, "uniform").pvalue > 0.001
    assert abs(float((p <= 0.05).mean()) - 0.05) <= 0.025


def test_p_mrr_bootstrap_intervals_cover_the_true_delta() -> None:
    gen = PMRRGen(p_b=0.35)
    assert gen.true_delta() > 0.05  # a real effect, well inside (−1, 1)
    assert 0.90 <= coverage(gen, COVERAGE_DATASETS, N_BOOT, seed=2).mean() <= 0.98


if __name__ == "__main__":  # the figures at the calibration report's size (1,000 datasets, 1,000 resamples)
    from scipy.stats import kstest

    p = null_p_values(PMRRGen(), 1000, 199, seed=1)
    print(f"null p-MRR/query: rejection@0.05 {(p <= 0.05).mean():.3f}, KS p {kstest(p, 'uniform').pvalue:.3g}")
    c = coverage(PMRRGen(p_b=0.35), 1000, 1000, seed=2)
    print(f"coverage p-MRR/query: {c.mean():.3f} (true delta {PMRRGen(p_b=0.35).true_delta():.4f})")


# -- official on the instruction types -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", list_model_files(), ids=lambda p: p.stem)
def test_official_on_mtebs_instruction_tasks_feeds_what_mtebs_wrapper_feeds(path: Path) -> None:
    """Every registry InstructionRetrieval / InstructionReranking text task, both sides: the harness's official
    string is mteb's own wrapper's (the exporter covers both types; mteb appends each query's instruction to the
    query text in its data loader, after the wrapper's prefix, so the prefix alone is what the wrapper decides)."""
    from mteb.types import PromptType

    from harness.prompts.conditions import Condition
    from harness.prompts.export import recorder
    from harness.prompts.files import load_model_file
    from harness.prompts.official import official_kind
    from tests.test_instructions import TEXT, _harness_fed

    recipe = load_model_file(path)
    wrapper = recorder.mteb_wrapper(recipe.model) if recipe.source.kind == "mteb" else None
    metas = recorder.mteb_text_tasks(("InstructionRetrieval", "InstructionReranking"))
    assert {"IFIRAila", "Core17InstructionRetrieval", "mFollowIR"} <= {m.name for m in metas}
    for md in metas:
        assert official_kind(recipe, md.name, str(md.type)) is not None  # `official` is not refused there
        for pt in (PromptType.query, PromptType.document):
            expected = recorder.mteb_fed(wrapper, md, pt, TEXT)[0] if wrapper is not None else TEXT
            assert _harness_fed(recipe, Condition("official"), md, pt) == expected, (recipe.model, md.name, pt)


# -- a real registry FollowIR task, end to end offline ---------------------------------------------------------------
CORE17_README = hub_readme({"default": ("test", "qrels"), "corpus": ("corpus", "corpus"),
                            "queries": ("queries", "queries"), "instruction": ("instruction", "instruction"),
                            "top_ranked": ("top_ranked", "top_ranked"), "qrel_diff": ("qrel_diff", "qrel_diff")})


def test_core17_runs_offline_from_a_test_written_cache_and_its_p_mrr_is_the_mock_vectors(
        tmp_path: Path, hf_home: Path) -> None:
    """mteb's Core17InstructionRetrieval at its pinned revision, a few rows in a hub snapshot the test writes (mteb's
    retrieval loader reads its configs; the task's own task_specific_scores loads `qrel_diff` from the same folder):
    the cell's p-MRR equals the value computed here from the mock vectors (query = text + " " + instruction, as mteb
    joins them; ranks among each query's candidates) and the predictions re-derive it."""

    from harness.models.mock import mock_vector
    from harness.taskspecs import registry_tasks
    from tests.test_registry_tasks import write_snapshot

    home = hf_home
    entry = registry_tasks.catalogue()["Core17InstructionRetrieval"]
    ids = list(DOCS)[:6]
    corpus = pd.DataFrame({"_id": ids, "title": [""] * 6, "text": [DOCS[d] for d in ids]})
    qids = [f"{q}-{r}" for q in ("q1", "q2", "q3") for r in ("og", "changed")]
    queries = pd.DataFrame({"_id": qids, "text": [QUERIES[q.split("-")[0]][0] for q in qids]})
    instruction = pd.DataFrame({"query-id": qids, "instruction": [
        QUERIES[q.split("-")[0]][1 if q.endswith("-og") else 2] for q in qids]})
    qrels = pd.DataFrame([(q, d, s) for q, d, s in [
        ("q1-og", "d0", 1), ("q1-og", "d3", 1), ("q1-changed", "d0", 0), ("q1-changed", "d3", 1),
        ("q2-og", "d2", 1), ("q2-og", "d5", 1), ("q2-changed", "d2", 1), ("q2-changed", "d5", 0),
        ("q3-og", "d4", 1), ("q3-og", "d1", 1), ("q3-changed", "d4", 0), ("q3-changed", "d1", 1)]],
        columns=["query-id", "corpus-id", "score"])
    top = pd.DataFrame({"query-id": qids, "corpus-ids": [list(ids) for _ in qids]})
    diff = pd.DataFrame({"query-id": ["q1", "q2", "q3"], "corpus-ids": [["d0"], ["d5"], ["d4"]]})
    snap = write_snapshot(home, entry["path"], entry["revision"], {
        "corpus/corpus-00000.parquet": corpus, "queries/queries-00000.parquet": queries,
        "instruction/instruction-00000.parquet": instruction, "qrels/test-00000.parquet": qrels,
        "top_ranked/top_ranked-00000.parquet": top, "qrel_diff/qrel_diff-00000.parquet": diff})
    (snap / "README.md").write_text(CORE17_README)
    results = tmp_path / "results"
    summary = runner.run([mock_spec()], tasks=["Core17InstructionRetrieval"], conditions=["none"],
                         results_dir=results, progress=False, cache=False)
    assert (len(summary.ran), summary.failed) == (1, [])
    (side_path,) = (results / "cells").glob("*/*/none/Core17InstructionRetrieval.json")
    side = json.loads(side_path.read_text())
    frame = pd.read_parquet(results / side["predictions_file"])

    def unit(t: str) -> np.ndarray:
        v = mock_vector(t).astype(np.float64)
        return v / np.linalg.norm(v)

    def rank(qid: str, doc: str) -> int:  # among the candidates, by cosine then document id, descending
        q = unit(f"{queries.text[qids.index(qid)]} {instruction.instruction[qids.index(qid)]}")
        scored = sorted(((float(q @ unit(DOCS[d])), d) for d in ids), reverse=True)
        return 1 + [d for _, d in scored].index(doc)

    per_query = []
    for q, (doc,) in zip(diff["query-id"], diff["corpus-ids"], strict=True):
        og, new = rank(f"{q}-og", doc), rank(f"{q}-changed", doc)
        per_query.append((1 / og) / (1 / new) - 1 if og >= new else 1 - (1 / new) / (1 / og))
    result = json.loads((results / side["result_file"]).read_text())
    main = result["scores"]["test"][0]["main_score"]
    assert any(v != 0 for v in per_query) and main == pytest.approx(float(np.mean(per_query)), abs=5.1e-7)
    assert engine.recompute("InstructionReranking", "p-MRR", frame) == pytest.approx(main, abs=5.1e-7)
    assert len(frame[frame.gold.isna()]) == 3 and len(frame[frame.gold.notna()]) == len(qrels)


def test_aggregate_gives_the_p_mrr_delta_an_interval_and_a_p_value_over_queries(tmp_path: Path) -> None:
    from harness import api

    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "terse.yaml").write_text("name: terse\ndescription: a test set\nsource: this test\n"
                                     "tasks:\n  MockFollowIR:\n    query: Answer with one word only.\n")
    results = tmp_path / "results"
    summary = runner.run([mock_spec()], tasks=["MockFollowIR"], conditions=["none", str(sets / "terse.yaml")],
                         results_dir=results, registry=Tasks(), progress=False, cache=False)
    assert len(summary.ran) == 2 and not summary.failed, summary
    _, deltas = api.aggregate(results)
    (row,) = deltas[(deltas.metric == "p-MRR") & (deltas.condition == "terse") & (deltas.baseline == "none")
                    ].to_dict("records")
    assert row["is_main"] and row["resample_unit"] == "query" and row["n_items"] == 3 and row["delta"] != 0
    assert row["delta"] == pytest.approx(row["score"] - row["baseline_score"], abs=1.1e-6)
    assert row["ci_low"] <= row["delta"] <= row["ci_high"] and 0 < row["p_value"] <= 1
    assert row["p_method"] == "exact"  # 3 queries: all 2^3 sign flips
