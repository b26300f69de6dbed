"""mteb's FollowIR-style InstructionReranking tasks (Core17/News21/Robust04InstructionRetrieval, mFollowIR…): what
the harness keeps of them so that p-MRR can be recomputed per query.

Each such task holds every query twice, ``<id>-og`` under its original instruction and ``<id>-changed`` under the
changed one, and a ``qrel_diff``: per query id, the documents whose relevance the changed instruction changed.
mteb reads the ``qrel_diff`` inside the task's own ``task_specific_scores`` (each task loads it its own way) and
passes it to ``mteb._evaluators.retrieval_metrics.calculate_pmrr``; :func:`keep_changed_qrels` records exactly what
mteb passed there (``task.item_changed_qrels``: {subset: {split: {query id: [document ids]}}}), beside the run's
item predictions, so the predictions rows use mteb's own ``qrel_diff`` and nothing is loaded twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ChangedQrels = dict[str, list[str]]


def keep_changed_qrels(base: type[Any]) -> Callable[..., Any]:
    """A ``task_specific_scores`` for a subclass of ``base`` (an mteb InstructionReranking task): ``base``'s own,
    with mteb's ``calculate_pmrr`` recording the changed qrels it is given. Cells run one after another in one
    process (the Ray executor refuses registry tasks), so the module attribute is swapped only for the call."""

    def task_specific_scores(task: Any, scores: Any, qrels: Any, results: Any, hf_split: str, hf_subset: str
                             ) -> Any:
        from mteb._evaluators import retrieval_metrics

        real = retrieval_metrics.calculate_pmrr

        def recording(original_run: Any, new_run: Any, changed_qrels: ChangedQrels) -> Any:
            kept = task.__dict__.setdefault("item_changed_qrels", {})
            kept.setdefault(hf_subset, {})[hf_split] = {str(q): [str(d) for d in docs]
                                                        for q, docs in changed_qrels.items()}
            return real(original_run, new_run, changed_qrels)

        retrieval_metrics.calculate_pmrr = recording
        try:
            return base.task_specific_scores(task, scores, qrels, results, hf_split=hf_split,
                                             hf_subset=hf_subset)
        finally:
            retrieval_metrics.calculate_pmrr = real

    return task_specific_scores
