"""mteb's registry PairClassification (``max_ap``) and Clustering (mean v-measure over subsampled k-means runs)
through the harness's real cell path, on mteb's mocks grown to sizes where the five scoring functions and the runs'
draws differ: the cell's scores are mteb's own, every AP / the v-measure is re-derived from the predictions, the
weighted metrics equal scikit-learn's on the expanded resample, and the statistics are what docs/tasks.md says."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.models.mock import MockEmbedder, mock_spec
from harness.run import local as runner
from harness.stats import engine
from harness.stats.pair_cluster import MAX_AP_COLUMNS, max_ap_w, runs_v_measure_w
from harness.taskspecs.local import TaskRegistry
from harness.taskspecs.registry_tasks import RegistryTask
from tests.test_registry_tasks import write_snapshot

configure()

import mteb  # noqa: E402
from datasets import Dataset, DatasetDict  # noqa: E402
from mteb.mocks.mock_tasks import MockMultilingualClusteringFastTask, MockPairClassificationTask  # noqa: E402

WORDS = [f"word{i}" for i in range(200)]


class ManyPairs(MockPairClassificationTask):
    """60 pairs in mteb's v1 layout (one row holding every pair), main score ``max_ap`` as in mteb's registry."""

    metadata = MockPairClassificationTask.metadata.model_copy(update={"name": "ManyPairs", "main_score": "max_ap"})

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        rng = np.random.default_rng(5)
        s1 = [f"pair {i} {WORDS[i]}" for i in range(60)]
        s2 = [f"{WORDS[i + 60]} in pair {i}" for i in range(60)]
        labels = [int(x) for x in rng.integers(0, 2, 60)]
        self.dataset = DatasetDict({"test": Dataset.from_dict({"sentence1": [s1], "sentence2": [s2],
                                                               "labels": [labels]})})
        self.data_loaded = True


class ManyTexts(MockMultilingualClusteringFastTask):
    """Three subsets of 80 texts, 4 labels (``fra``: two label levels; ``deu``: string labels, a second level for
    some texts only — numpy turns mteb's -1 for a missing level into "-1", a label of its own): mteb embeds a seeded
    sample of 50 and runs k-means 4 times on 30 documents drawn with replacement (some drawn twice, some never)."""

    metadata = MockMultilingualClusteringFastTask.metadata.model_copy(update={
        "name": "ManyTexts", "eval_langs": {"eng": ["eng-Latn"], "fra": ["fra-Latn"], "deu": ["deu-Latn"]}})
    max_document_to_embed = 50
    max_documents_per_cluster = 30
    n_clusters = 4

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        rng = np.random.default_rng(11)
        texts = [f"text number {i}: {WORDS[i]}" for i in range(80)]
        labels = [int(x) for x in rng.integers(0, 4, 80)]
        deep = [[int(a), int(a) * 2 + int(b)] for a, b in zip(labels, rng.integers(0, 2, 80), strict=True)]
        ragged = [[f"top{a}"] + ([f"sub{b}"] if b else []) for a, b in zip(labels, rng.integers(0, 3, 80),
                                                                            strict=True)]
        self.dataset = DatasetDict({"eng": {"test": Dataset.from_dict({"sentences": texts, "labels": labels})},
                                    "fra": {"test": Dataset.from_dict({"sentences": texts, "labels": deep})},
                                    "deu": {"test": Dataset.from_dict({"sentences": texts, "labels": ragged})}})
        self.data_loaded = True


CLASSES = {c.__name__: c for c in (ManyPairs, ManyTexts)}


class ClassTask(RegistryTask):
    def __init__(self, name: str):
        md = CLASSES[name].metadata
        langs = md.eval_langs if isinstance(md.eval_langs, dict) else {"default": md.eval_langs}
        super().__init__(name, {"type": md.type, "main_score": md.main_score, "subsets": langs,
                                "splits": list(md.eval_splits), "path": "NA", "revision": "NA",
                                "modalities": ["text"]})

    def ensure_available(self) -> None:
        """Generated data."""

    @cached_property
    def mteb_task_class(self) -> Any:
        base = CLASSES[self.name]
        return type(base.__name__, (base,), {"__module__": __name__, **self._prediction_attrs(base)})


class Tasks(TaskRegistry):
    def get(self, name: str) -> Any:
        return ClassTask(name) if name in CLASSES else super().get(name)


def _mteb_scores(name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """mteb's own evaluation of the unwrapped class (no recording), with the same encoder and no prompt."""
    from harness.prompts.conditions import Condition, Prompter
    from harness.prompts.files import model_instructions
    from harness.run.encoder import PromptedEncoder

    spec = mock_spec(MockEmbedder())
    encoder = PromptedEncoder(MockEmbedder(), spec, Prompter(model_instructions(spec.name), Condition("none")))
    res = mteb.evaluate(encoder, [CLASSES[name]()], cache=None, co2_tracker=False,  # type: ignore[arg-type]
                        show_progress_bar=False)
    (tr,) = res.task_results
    return {(e["hf_subset"], split): e for split, entries in tr.scores.items() for e in entries}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both tasks under ``none`` and a set ``attend`` (a prefixed text is another random vector of the mock
    encoder: clusters and pair scores change)."""
    out = tmp_path_factory.mktemp("cells")
    set_file = out / "attend.yaml"
    set_file.write_text("name: attend\ndescription: a test set\nsource: the test\ntasks:\n"
                        + "".join(f"  {n}:\n    query: Pay attention.\n" for n in CLASSES), encoding="utf-8")
    summary = runner.run([mock_spec(MockEmbedder())], tasks=list(CLASSES), conditions=["none", str(set_file)],
                         results_dir=out / "results", registry=Tasks(), progress=False, cache=False)
    assert len(summary.ran) == 4 and not summary.failed
    return out / "results"


@pytest.fixture(scope="module")
def cells(results: Path) -> dict[str, tuple[dict[str, Any], pd.DataFrame]]:
    out = results
    got = {}
    for name in CLASSES:
        (side_path,) = (out / "cells").glob(f"*/*/none/{name}.json")
        side = json.loads(side_path.read_text())
        from mteb.results import TaskResult

        tr = TaskResult.from_disk(out / side["result_file"])
        scores = {(e["hf_subset"], split): e for split, entries in tr.scores.items() for e in entries}
        got[name] = (scores, pd.read_parquet(out / side["predictions_file"]))
        # items: the pairs (not the v1 layout's one row), the documents mteb embedded (not the whole split)
        assert side["n_items"] == ({"default": {"test": 60}} if name == "ManyPairs" else
                                   {"eng": {"test": 50}, "fra": {"test": 50}, "deu": {"test": 50}})
    return got


def test_max_ap_and_every_function_ap_are_mtebs_and_rederived_from_the_five_scores(cells: Any) -> None:
    scores, frame = cells["ManyPairs"]
    expected = _mteb_scores("ManyPairs")
    assert scores.keys() == expected.keys() == {("default", "test")}
    e = scores[("default", "test")]
    assert e["main_score"] == pytest.approx(expected[("default", "test")]["max_ap"], abs=1e-6)
    assert len(frame) == 5 * 60 and sorted(set(frame.doc_id)) == ["cosine", "dot", "euclidean", "manhattan",
                                                                   "similarity"]
    aps = {}
    for metric in ("max_ap", "similarity_ap", "cosine_ap", "dot_ap", "manhattan_ap", "euclidean_ap"):
        aps[metric] = engine.recompute("PairClassification", metric, frame)
        assert aps[metric] == pytest.approx(e[metric], abs=5.1e-7), metric
    assert len({round(v, 9) for k, v in aps.items() if k != "max_ap"}) >= 3  # the functions rank differently
    assert aps["max_ap"] == max(v for k, v in aps.items() if k != "max_ap")
    for metric in ("max_accuracy", "similarity_accuracy", "cosine_accuracy", "dot_accuracy", "manhattan_accuracy",
                   "euclidean_accuracy"):  # mteb's best threshold per function (4 registry tasks' main score)
        assert engine.recompute("PairClassification", metric, frame) == pytest.approx(e[metric], abs=5.1e-7), metric


def test_weighted_best_threshold_accuracy_is_mtebs_on_the_expanded_resample() -> None:
    from mteb.abstasks.pair_classification import AbsTaskPairClassification

    from harness.stats.pair_cluster import max_accuracy_w

    rng = np.random.default_rng(6)
    n = 30
    gold = rng.integers(0, 2, n).astype(np.float64)
    cols = {"gold": gold, **{c: np.round(rng.random(n), 1) for c in MAX_AP_COLUMNS}}  # ties included
    w = rng.integers(0, 3, (6, n)).astype(np.float64)
    got = max_accuracy_w(cols, w)
    find = AbsTaskPairClassification._find_best_acc_and_threshold
    for row, value in zip(w, got, strict=True):
        reps = row.astype(np.int64)
        want = max(find(None, list(np.repeat(cols[c], reps)), np.repeat(gold, reps).astype(np.int64), True)[0]
                   for c in MAX_AP_COLUMNS)
        assert value == pytest.approx(want, abs=1e-12)


def test_weighted_max_ap_is_the_max_of_scikit_learns_weighted_aps() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(2)
    n = 40
    gold = rng.integers(0, 2, n).astype(np.float64)
    cols = {"gold": gold, **{c: np.round(rng.random(n), 1) for c in MAX_AP_COLUMNS}}  # ties included
    w = rng.integers(0, 4, (5, n)).astype(np.float64)
    got = max_ap_w(cols, w)
    want = [max(average_precision_score(gold, cols[c], sample_weight=row) for c in MAX_AP_COLUMNS) for row in w]
    assert got == pytest.approx(want, abs=1e-12)


def test_mean_v_measure_over_mtebs_runs_is_rederived_from_each_runs_drawn_documents(cells: Any) -> None:
    scores, frame = cells["ManyTexts"]
    expected = _mteb_scores("ManyTexts")
    assert scores.keys() == expected.keys() == {("eng", "test"), ("fra", "test"), ("deu", "test")}
    for key, e in scores.items():
        f = frame[(frame.subset == key[0]) & (frame.split == key[1])]
        assert e["v_measure"] == pytest.approx(expected[key]["v_measure"], abs=1e-6)
        levels = 1 if key[0] == "eng" else 2
        runs = f.groupby("doc_id")["rank"].sum()
        assert len(runs) == 4 * levels and (runs == 30).all()  # every run: its 30 draws
        assert f["item"].nunique() <= 50 and f["rank"].max() >= 2  # the sample of 50; some drawn twice
        flat = [v for level in e["v_measures"].values() for v in level]
        assert len(flat) == 4 * levels and np.std(flat) > 0  # the runs differ
        assert engine.recompute("Clustering", "v_measure", f) == pytest.approx(e["v_measure"], abs=5.1e-7)
        if key[0] == "deu":  # level 1: "sub1", "sub2" and mteb's "-1" for the texts without a second level
            assert f[f.doc_id.str.startswith("1:")].gold.nunique() == 3


def test_weighted_run_v_measure_is_scikit_learns_on_the_expanded_resample(cells: Any) -> None:
    from sklearn.metrics import v_measure_score

    from harness.stats.metrics import item_columns

    _, frame = cells["ManyTexts"]
    f = frame[frame.subset == "fra"]
    items, cols = item_columns("Clustering", "v_measure", f)
    w = np.random.default_rng(4).integers(0, 3, (3, len(items))).astype(np.float64)
    got = runs_v_measure_w(cols, w)
    for row, value in zip(w, got, strict=True):
        per_run = []
        for r in range(cols["cnt"].shape[1]):
            reps = (row * cols["cnt"][:, r]).astype(np.int64)
            per_run.append(v_measure_score(np.repeat(cols["gold"][:, r], reps), np.repeat(cols["pred"][:, r], reps)))
        assert value == pytest.approx(float(np.mean(per_run)), abs=1e-12)


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Another condition: the same rows, predictions permuted within each (subset, split, doc_id)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for _, idx in out.groupby(["subset", "split", "doc_id"]).groups.items():
        out.loc[idx, "prediction"] = rng.permutation(out.loc[idx, "prediction"].to_numpy())
    return out


def test_pair_delta_resamples_pairs_and_swaps_all_five_scores_of_a_pair(cells: Any) -> None:
    _, a = cells["ManyPairs"]
    b = _shuffled(a, 1)
    st = engine.delta_stats("PairClassification", "max_ap", a, b, seed=3, n_bootstrap=300, n_permutations=199)
    assert st is not None and st.resample_unit == "item" and st.n_items == 60
    want = engine.recompute("PairClassification", "max_ap", a) - engine.recompute("PairClassification", "max_ap", b)
    assert st.delta == pytest.approx(want, abs=1e-12)
    assert st.ci_low <= st.delta <= st.ci_high and st.p_method == "permutation" and 0 < st.p_value <= 1
    acc = engine.delta_stats("PairClassification", "max_accuracy", a, b, seed=3, n_bootstrap=300, n_permutations=199)
    assert acc is not None and acc.ci_low <= acc.delta <= acc.ci_high and 0 < acc.p_value <= 1
    assert acc.delta == pytest.approx(engine.recompute("PairClassification", "max_accuracy", a)
                                      - engine.recompute("PairClassification", "max_accuracy", b), abs=1e-12)
    same = engine.delta_stats("PairClassification", "max_ap", a, a.copy(), seed=3, n_bootstrap=100,
                             n_permutations=99)
    assert same is not None and same.delta == 0 and same.ci_low == same.ci_high == 0 and same.p_value == 1


def test_cluster_delta_resamples_documents_with_the_runs_fixed_and_has_no_permutation_test(cells: Any) -> None:
    _, a = cells["ManyTexts"]
    a = a[a.subset == "eng"]
    b = _shuffled(a, 2)
    st = engine.delta_stats("Clustering", "v_measure", a, b, seed=3, n_bootstrap=300, n_permutations=99)
    assert st is not None and st.resample_unit == "item" and st.n_items == a["item"].nunique()
    want = engine.recompute("Clustering", "v_measure", a) - engine.recompute("Clustering", "v_measure", b)
    assert st.delta == pytest.approx(want, abs=1e-12) and st.ci_low < st.ci_high
    assert np.isnan(st.p_value) and st.p_method == "none"
    other = a.assign(rank=a["rank"] + (a["item"] == a["item"].min()))  # another draw: not the same runs
    with pytest.raises(ValueError, match="gold column 'cnt'"):
        engine.delta_stats("Clustering", "v_measure", a, other, seed=3, n_bootstrap=10, n_permutations=9)


def test_a_legacy_registry_clustering_task_is_refused_in_one_line(tmp_path: Path) -> None:
    from harness.taskspecs import registry_tasks

    name = "TwentyNewsgroupsClustering"
    task = registry_tasks.RegistryTask(name, registry_tasks.catalogue()[name])
    assert task.refusal() == (f"task '{name}': mteb's legacy Clustering tasks (each row a set of texts to cluster) "
                              f"cannot run yet; its successor {name}.v2 can")
    v2 = registry_tasks.RegistryTask(f"{name}.v2", registry_tasks.catalogue()[f"{name}.v2"])
    assert v2.refusal() is None
    with pytest.raises(HarnessError) as e:
        runner.run([mock_spec()], tasks=[name], conditions=["none"], results_dir=tmp_path / "r", progress=False,
                   cache=False)
    assert e.value.lines() == [task.refusal()]
    assert not (tmp_path / "r" / "cells").exists()


def test_aggregate_gives_registry_pair_and_cluster_deltas_their_intervals(results: Path) -> None:
    from harness import api

    _, deltas = api.aggregate(results)
    d = deltas[(deltas.condition == "attend") & (deltas.baseline == "none") & deltas.is_main].set_index(
        ["task", "subset"])
    pair = d.loc[("ManyPairs", "default")]
    assert pair.metric == "max_ap" and pair.resample_unit == "item" and pair.n_items == 60
    assert pair.ci_low <= pair.delta <= pair.ci_high and pair.p_method in ("permutation", "exact")
    assert 0 < pair.p_value <= 1
    for sub in ("eng", "fra", "deu"):
        clu = d.loc[("ManyTexts", sub)]
        assert clu.metric == "v_measure" and clu.ci_low <= clu.delta <= clu.ci_high and clu.ci_low < clu.ci_high
        assert np.isnan(clu.p_value) and clu.p_method == "none"



def test_real_registry_pair_and_cluster_tasks_run_offline_from_a_written_cache(hf_home: Path,
                                                                               tmp_path: Path) -> None:
    """SprintDuplicateQuestions (v1 layout: one row holding every pair, columns sent1/sent2 renamed by mteb) and
    TwentyNewsgroupsClustering.v2 (rows of lists flattened by mteb; 4 % embedded) at their pinned revisions, from
    a hub snapshot the test writes: the real loading path, mteb's real task classes."""
    from harness import api
    from harness.taskspecs import registry_tasks

    rng = np.random.default_rng(8)
    pairs, clusters = "SprintDuplicateQuestions", "TwentyNewsgroupsClustering.v2"
    for name, files in (
            (pairs, {"data/test-00000-of-00001.parquet": pd.DataFrame({
                "sent1": [[f"how do I {w}" for w in WORDS[:40]]], "sent2": [[f"{w} help" for w in WORDS[40:80]]],
                "labels": [[int(x) for x in rng.integers(0, 2, 40)]]})}),
            (clusters, {"data/test-00000-of-00001.parquet": pd.DataFrame({
                "sentences": [[f"post {i} on {w}" for i, w in enumerate(WORDS[j * 100:(j + 1) * 100])]
                              for j in range(2)],
                "labels": [[f"group{x}" for x in rng.integers(0, 3, 100)] for _ in range(2)]})})):
        entry = registry_tasks.catalogue()[name]
        write_snapshot(hf_home, entry["path"], entry["revision"], files)
    out = tmp_path / "results"
    summary = api.run([mock_spec()], tasks=[pairs, clusters], conditions=["none"], results_dir=out, progress=False,
                      threads=1)
    assert (len(summary.ran), summary.failed) == (2, [])
    for name, metric, n in ((pairs, "max_ap", 40), (clusters, "v_measure", 8)):  # 4 % of 200 texts
        (side_path,) = (out / "cells").glob(f"*/*/none/{name}.json")
        side = json.loads(side_path.read_text())
        assert side["main_score"] == metric and side["n_items"] == {"default": {"test": n}}
        result = json.loads((out / side["result_file"]).read_text())
        (entry,) = result["scores"]["test"]
        frame = pd.read_parquet(out / side["predictions_file"])
        assert engine.recompute(side["task_type"], metric, frame) == pytest.approx(entry[metric], abs=5.1e-7)
    assert set(frame.doc_id) == {f"0:{r}" for r in range(10)} and (frame.groupby("doc_id")["rank"].sum() == 16384).all()
