"""mteb's own mock tasks of every text task type through the harness's real cell path (issue 26 item 6).

Each mock is wrapped like a registry task (``RegistryTask`` with mteb's class, the data in memory instead of a
hub snapshot) and run by the same runner as every cell. For every type whose item-level predictions the harness
supports, the cell's main score must be mteb's own (the unwrapped mock evaluated by ``mteb.evaluate`` with the same
encoder) and the predictions must re-derive it (``engine.recompute``); every other type is refused before the first
cell, in one line that names the type, with nothing written. Since every text type has predictions, the refusal
is tested by taking one type's away (as a type new to mteb would arrive)."""

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
from harness.run import predictions
from harness.stats import engine
from harness.taskspecs.local import TaskRegistry
from harness.taskspecs.registry_tasks import RegistryTask

configure()

import mteb  # noqa: E402
from mteb.mocks import mock_tasks  # noqa: E402

# one text mock per mteb text task type (the monolingual ones; the multilingual variants share their code)
MOCKS = {
    "STS": "MockSTSTask",
    "Retrieval": "MockRetrievalTask",
    "BitextMining": "MockBitextMiningTask",
    "Classification": "MockClassificationTask",
    "MultilabelClassification": "MockMultilabelClassification",
    "Clustering": "MockMultilingualClusteringFastTask",  # mteb has no monolingual text clustering mock
    "PairClassification": "MockPairClassificationTask",
    "Reranking": "MockRerankingTask",
    "InstructionRetrieval": "MockInstructionRetrieval",
    "InstructionReranking": "MockInstructionReranking",
    "Summarization": "MockSummarizationTask",
}
RECOMPUTED = {"MultilabelClassification": "accuracy"}  # subset accuracy (exact match of the label set)
SUPPORTED = [t for t in MOCKS if t in predictions.supported_types(registry=True)]
REFUSED = [t for t in MOCKS if t not in predictions.supported_types(registry=True)]


class MockRegistryTask(RegistryTask):
    """An mteb mock task as a registry task: mteb's class, its data generated in memory (nothing to cache)."""

    def __init__(self, name: str):
        md = getattr(mock_tasks, name).metadata
        langs = md.eval_langs if isinstance(md.eval_langs, dict) else {"default": md.eval_langs}
        super().__init__(name, {"type": md.type, "main_score": md.main_score, "subsets": langs,
                                "splits": list(md.eval_splits), "path": md.dataset["path"],
                                "revision": md.dataset["revision"], "modalities": list(md.modalities)})

    def ensure_available(self) -> None:
        """The mock's data is generated, never downloaded."""

    @cached_property
    def mteb_task_class(self) -> Any:
        base = getattr(mock_tasks, self.name)
        return type(base.__name__, (base,), {"__module__": __name__, **self._prediction_attrs(base)})


class MockTasks(TaskRegistry):
    """The checkout's tasks, plus mteb's mock tasks by name."""

    def get(self, name: str) -> Any:
        return MockRegistryTask(name) if hasattr(mock_tasks, name) else super().get(name)


def _mteb_main_score(name: str, emb: MockEmbedder) -> dict[tuple[str, str], float]:
    """mteb's own main score of the mock (the class as mteb ships it, plus the harness's one-classifier setting
    where it applies), per (subset, split), evaluated with the same encoder and no prompt."""
    from harness.prompts.conditions import Condition, Prompter
    from harness.prompts.files import model_instructions
    from harness.run.encoder import PromptedEncoder

    base = getattr(mock_tasks, name)
    extra = {k: v for k, v in RegistryTask._prediction_attrs(base).items()
             if k not in ("_save_task_predictions", "_evaluate_subset")}  # mteb's own code (no recording)
    cls = type(base.__name__, (base,), extra)
    spec = mock_spec(emb)
    encoder = PromptedEncoder(emb, spec, Prompter(model_instructions(spec.name), Condition("none")))
    res = mteb.evaluate(encoder, [cls()], cache=None, co2_tracker=False, show_progress_bar=False)  # type: ignore[arg-type]
    (tr,) = res.task_results
    return {(e["hf_subset"], split): float(e["main_score"]) for split, entries in tr.scores.items()
            for e in entries}


@pytest.mark.parametrize("task_type", SUPPORTED)
def test_a_supported_mock_runs_through_the_cell_path_and_its_predictions_rederive_mtebs_score(
        task_type: str, tmp_path: Path) -> None:
    name = MOCKS[task_type]
    emb = MockEmbedder()
    summary = runner.run([mock_spec(emb)], tasks=[name], conditions=["none"], results_dir=tmp_path,
                         registry=MockTasks(), progress=False, cache=False)
    assert len(summary.ran) == 1 and not summary.failed
    (side_path,) = (tmp_path / "cells").glob(f"*/*/none/{name}.json")
    side = json.loads(side_path.read_text())
    assert side["task_type"] == task_type and side["task_source"] == "mteb"
    from mteb.results import TaskResult

    tr = TaskResult.from_disk(tmp_path / side["result_file"])
    frame = pd.read_parquet(tmp_path / side["predictions_file"])
    expected = _mteb_main_score(name, MockEmbedder())
    got = {}
    for split, entries in tr.scores.items():
        for e in entries:
            got[(e["hf_subset"], split)] = float(e["main_score"])
            f = frame[(frame.subset == e["hf_subset"]) & (frame.split == split)]
            assert len(f), (name, e["hf_subset"], split)
            # the main score, or where it needs what predictions do not keep (multilabel's lrap: the classifier's
            # probabilities) the metric the predictions do re-derive
            metric = side["main_score"] if engine.metric_for(task_type, side["main_score"]) else RECOMPUTED[task_type]
            recomputed = engine.recompute(task_type, metric, f)
            # mteb stores 6 decimals (retrieval-style metrics rounded to 5 first): half a unit of the last digit
            tol = 5.1e-6 if task_type in ("Retrieval", "Reranking", "InstructionRetrieval",
                                          "InstructionReranking") else 5.1e-7
            assert recomputed == pytest.approx(e[metric], abs=tol), (name, e["hf_subset"], split)
    assert got.keys() == expected.keys()
    for k, v in expected.items():  # the harness's cell = mteb's own evaluation of the unwrapped mock
        assert got[k] == pytest.approx(v, abs=1e-6), (name, k)


def test_every_mteb_text_type_is_supported() -> None:
    assert REFUSED == [] and sorted(SUPPORTED) == sorted(MOCKS)


def test_an_unsupported_type_is_refused_before_the_first_cell(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every type has predictions today: take one away (as a new mteb type would arrive) and it is refused."""
    task_type = "Summarization"
    monkeypatch.setattr(predictions, "_BY_TYPE", {k: v for k, v in predictions._BY_TYPE.items() if k != task_type})
    out = tmp_path / "results"
    with pytest.raises(HarnessError) as e:
        runner.run([mock_spec()], tasks=[MOCKS[task_type]], conditions=["none"], results_dir=out,
                   registry=MockTasks(), progress=False, cache=False)
    msg = str(e.value)
    assert "\n" not in msg and task_type in msg and MOCKS[task_type] in msg
    assert not (out / "cells").exists() or not any((out / "cells").rglob("*.json"))


def _summaries(rng: np.random.Generator, n_texts: int, n_summ: int, noise: float) -> pd.DataFrame:
    gold = rng.random((n_texts, n_summ))
    pred = gold + noise * rng.standard_normal((n_texts, n_summ))
    return pd.DataFrame({"subset": "default", "split": "test", "item": np.repeat(np.arange(n_texts), n_summ),
                         "doc_id": [str(j) for _ in range(n_texts) for j in range(n_summ)],
                         "gold": gold.ravel(), "prediction": pred.ravel()})


def test_summarization_delta_is_the_mean_of_per_text_differences_resampled_by_text() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(7)
    a = _summaries(rng, 40, 6, 0.1)
    b = a.assign(prediction=a.gold + 0.8 * rng.standard_normal(len(a)))  # the same gold, a noisier condition
    per_text = [spearmanr(ga.gold, ga.prediction).statistic - spearmanr(gb.gold, gb.prediction).statistic
                for (_, ga), (_, gb) in zip(a.groupby("item"), b.groupby("item"), strict=True)]
    st = engine.delta_stats("Summarization", "cosine_spearman", a, b, seed=1)
    assert st is not None and st.resample_unit == "item" and st.n_items == 40
    assert st.delta == pytest.approx(float(np.mean(per_text)), abs=1e-12)
    assert st.ci_low < st.delta < st.ci_high and st.ci_low > 0  # a clear effect: CI above 0
    assert st.p_value <= 0.01  # the paired sign-flip permutation over texts
    same = engine.delta_stats("Summarization", "cosine_spearman", a, a.copy(), seed=1)
    assert same is not None and same.delta == 0 and same.ci_low == same.ci_high == 0 and same.p_value == 1
