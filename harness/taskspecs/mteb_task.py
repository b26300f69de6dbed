"""A validated task spec → a real mteb task class (``AbsTaskSTS`` / ``AbsTaskRetrieval`` / ``AbsTaskBitextMining`` /
``AbsTaskClassification``).

The spec's metadata fields go unchanged into mteb's ``TaskMetadata`` (mteb validates them); the dataset revision
is the first 12 hex digits of the task's data hash. This module imports mteb: :class:`harness.taskspecs.local.
LocalTask` imports it only when a cell is about to run (or a task is validated), never at start-up.
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.core.offline import configure
from harness.core.yamlfile import FileContext
from harness.taskspecs.spec import ClassificationSpec, ClusteringSpec, RetrievalSpec, STSSpec, TaskSpec

configure()

from mteb.abstasks import (  # noqa: E402
    AbsTask,
    AbsTaskClassification,
    AbsTaskClustering,
    AbsTaskPairClassification,
    AbsTaskRetrieval,
    AbsTaskSTS,
)
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining  # noqa: E402

BASES: dict[str, builtins.type[AbsTask]] = {
    "STS": AbsTaskSTS,
    "Retrieval": AbsTaskRetrieval,
    "BitextMining": AbsTaskBitextMining,
    "Classification": AbsTaskClassification,
    "Reranking": AbsTaskRetrieval,  # mteb 2.x: a Reranking task is a retrieval task with top_ranked candidates
    "PairClassification": AbsTaskPairClassification,
    "Clustering": AbsTaskClustering,
}


class _EveryTextOnce(random.Random):
    """mteb's clustering draws ``k`` texts with replacement (``rng.choices``) for each k-means run; drawing all
    ``n`` of ``n`` texts returns them once each, in order, so the one run clusters every text exactly once."""

    def choices(self, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1) -> list[Any]:
        if weights is None and cum_weights is None and k == len(population):
            return list(population)
        return super().choices(population, weights, cum_weights=cum_weights, k=k)


def _cluster_every_text_once(task: Any, model: Any, data_split: Any, **kwargs: Any) -> Any:
    """mteb's ``AbsTaskClustering._evaluate_subset`` with one seeded k-means run on every text of the split."""
    task.max_documents_per_cluster = len(data_split)
    task.rng_state = _EveryTextOnce(task.seed)
    return AbsTaskClustering._evaluate_subset(task, model, data_split, **kwargs)


def metadata(spec: TaskSpec, data_hash: str, spec_path: Path) -> TaskMetadata:
    """mteb's ``TaskMetadata`` of a spec; a value mteb rejects is one line naming the spec file and field."""
    s = spec
    multi = list(s.subsets) != ["default"]
    langs: Any = s.subsets if multi else s.subsets["default"]
    try:
        fields: dict[str, Any] = dict(
            name=s.name,
            description=s.description,
            reference=s.reference,
            dataset={"path": f"local/{s.name}", "revision": data_hash[:12]},
            type=s.type,
            category="t2t",
            modalities=["text"],
            eval_splits=s.splits,
            eval_langs=langs,
            main_score=s.main_score,
            date=s.date,
            domains=s.domains,
            task_subtypes=s.task_subtypes,
            license=s.license,
            annotations_creators=s.annotations_creators,
            dialect=s.dialect,
            sample_creation=s.sample_creation,
            bibtex_citation=s.bibtex_citation,
        )
        return TaskMetadata(**fields)  # mteb validates the values
    except ValidationError as e:
        # mteb's field names → the task file's keys, so each line points at the key to fix
        rename = {"eval_splits": "splits", "eval_langs": "subsets", "dataset": "name"}
        raise FileContext(spec_path).validation_error(e, rename=rename) from None


def keep_predictions(task: AbsTask, predictions: Any, model: Any, prediction_folder: Any,
                     hf_split: str, hf_subset: str) -> None:
    """Stands in for mteb's ``_save_task_predictions``: mteb would dump them as JSON (top-1000 documents per
    retrieval query: ~100 MB); keep them in ``task.item_predictions`` ({subset: {split: predictions}})."""
    task.item_predictions.setdefault(hf_subset, {})[hf_split] = predictions  # type: ignore[attr-defined]


def task_class(spec: TaskSpec, meta: TaskMetadata, load: Callable[[], dict[str, dict[str, Any]]]
               ) -> builtins.type[AbsTask]:
    """A subclass of the spec's mteb abstract task whose ``load_data`` calls ``load`` and which keeps mteb's
    item-level predictions in memory (``item_predictions``) instead of dumping them as JSON."""

    def load_data(task: AbsTask, **_: Any) -> None:
        if task.data_loaded:
            return
        task.dataset = load()
        task.data_loaded = True

    attrs: dict[str, Any] = {"metadata": meta, "load_data": load_data, "__module__": __name__,
                             "_save_task_predictions": keep_predictions}
    if isinstance(spec, STSSpec):
        attrs |= {"min_score": spec.min_score, "max_score": spec.max_score}
    if isinstance(spec, RetrievalSpec):
        attrs["ignore_identical_ids"] = spec.ignore_identical_ids
    if isinstance(spec, ClassificationSpec):  # one fitted classifier per cell: one prediction per test item
        attrs |= {"n_experiments": 1, "samples_per_label": spec.samples_per_label}
    if isinstance(spec, ClusteringSpec):  # one k-means run on all texts: one cluster per text
        attrs |= {"n_clusters": 1, "max_fraction_of_documents_to_embed": None, "max_document_to_embed": None,
                  "_evaluate_subset": _cluster_every_text_once}
    return builtins.type(spec.name, (BASES[spec.type],), attrs)
