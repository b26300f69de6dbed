"""A validated task spec → a real mteb task class (``AbsTaskSTS`` / ``AbsTaskRetrieval`` / ``AbsTaskBitextMining`` /
``AbsTaskClassification``).

The spec's metadata fields go unchanged into mteb's ``TaskMetadata`` (mteb validates them); the dataset revision
is the first 12 hex digits of the task's data hash. This module imports mteb: :class:`harness.taskspecs.local.
LocalTask` imports it only when a cell is about to run (or a task is validated), never at start-up.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.core.offline import configure
from harness.core.yamlfile import FileContext
from harness.taskspecs.spec import ClassificationSpec, RetrievalSpec, STSSpec, TaskSpec

configure()

from mteb.abstasks import AbsTask, AbsTaskClassification, AbsTaskRetrieval, AbsTaskSTS  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining  # noqa: E402

BASES: dict[str, builtins.type[AbsTask]] = {
    "STS": AbsTaskSTS,
    "Retrieval": AbsTaskRetrieval,
    "BitextMining": AbsTaskBitextMining,
    "Classification": AbsTaskClassification,
    "Reranking": AbsTaskRetrieval,  # mteb 2.x: a Reranking task is a retrieval task with top_ranked candidates
}


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
    return builtins.type(spec.name, (BASES[spec.type],), attrs)
