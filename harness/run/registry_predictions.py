"""Item-level prediction rows of mteb's registry PairClassification and Clustering tasks (their task-folder
counterparts are in :mod:`harness.run.predictions`; the metrics in :mod:`harness.stats.pair_cluster`):

- PairClassification: five rows per pair, one per scoring function mteb ranks the pairs by — ``doc_id`` =
  ``similarity`` (the model's own) | ``cosine`` | ``manhattan`` | ``euclidean`` | ``dot``, ``prediction`` = mteb's
  score of the pair (distances as distances: lower = more similar), ``gold`` = the label (0/1), ``text1``/``text2``
  = the pair; ``max_ap``, ``max_accuracy`` (and each ``<function>_ap`` / ``_accuracy``) are recomputed from
  them. A v1 dataset (one row holding every pair as lists) is read as mteb reads it.
- Clustering (mteb's ``AbsTaskClustering``): one row per (label level, k-means run, document the run drew) —
  ``item`` = the document's index in the split, ``doc_id`` = ``<level>:<run>``, ``gold`` = its label's index at
  that level (labels sorted), ``prediction`` = its cluster in that run, ``rank`` = how many times the run drew it
  (mteb draws with replacement), ``text1`` = the document; the main score is the mean over the runs of each run's
  v-measure on its draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# mteb's PairClassificationDistances keys → the scoring function's name in mteb's metric names (``cosine_ap`` …)
PAIR_SCORES = {"similarity_scores": "similarity", "cosine_scores": "cosine", "manhattan_distances": "manhattan",
               "euclidean_distances": "euclidean", "dot_scores": "dot"}


def _column(data: Any, *names: str) -> list[Any] | None:
    cols = getattr(data, "column_names", None) or list(data)
    return next((list(data[n]) for n in names if n in cols), None)


def pair_function_rows(sub: str, split: str, pred: dict[str, Any], data: Any) -> list[dict[str, Any]]:
    labels = _column(data, "labels", "label")
    if labels is not None and len(labels) == 1 and isinstance(labels[0], list):
        data = data[0]  # mteb's v1 layout: one row holding every pair (read as mteb reads it)
        labels = _column(data, "labels", "label")
    if labels is None:
        raise ValueError("PairClassification data without a labels column")
    t1 = _column(data, "sentence1") or [None] * len(labels)
    t2 = _column(data, "sentence2") or [None] * len(labels)
    rows = []
    for key, name in PAIR_SCORES.items():
        scores = list(pred[key])
        if len(scores) != len(labels):
            raise ValueError(f"{len(scores)} {key} for {len(labels)} pairs")
        rows += [{"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": name, "gold": float(g),
                  "prediction": float(s), "rank": None, "text1": a, "text2": b}
                 for i, (g, s, a, b) in enumerate(zip(labels, scores, t1, t2, strict=True))]
    return rows


def cluster_run_rows(sub: str, split: str, pred: dict[str, Any], data: Any) -> list[dict[str, Any]]:
    """``pred``: what :func:`harness.taskspecs.registry_clustering.recording_evaluate_subset` kept."""
    raw = _column(data, "labels", "label")
    texts = _column(data, "sentences", "text")
    if raw is None:
        raise ValueError("Clustering data without a labels column")
    documents = pred["documents"] if pred["documents"] is not None else list(range(len(raw)))
    labels = [raw[d] if isinstance(raw[d], list) else [raw[d]] for d in documents]
    draws = list(pred["draws"])
    rows = []
    levels = sorted(pred["assignments"], key=lambda k: int(str(k).split()[-1]))  # "Level 0", "Level 1", …
    for level_name in levels:
        level = int(str(level_name).split()[-1])
        # mteb's valid_idx, computed as mteb does (a missing level is -1; with string labels numpy makes it "-1",
        # which mteb keeps as a label of its own)
        level_labels = np.array([lab[level] if len(lab) > level else -1 for lab in labels])
        valid = [j for j, x in enumerate(level_labels) if x != -1]
        codes = {v: c for c, v in enumerate(sorted({level_labels[j].item() for j in valid}, key=str))}
        for run, assigned in enumerate(pred["assignments"][level_name]):
            if not draws:
                raise ValueError("fewer recorded k-means draws than runs")
            drawn = draws.pop(0)
            if len(drawn) != len(assigned):
                raise ValueError(f"{len(drawn)} recorded draws for {len(assigned)} cluster assignments")
            groups = pd.DataFrame({"pos": [valid[i] for i in drawn], "cluster": list(assigned)})
            counts = groups.value_counts(sort=False).sort_index()
            rows += [{"subset": sub, "split": split, "item": int(documents[pos]), "query_id": None,
                      "doc_id": f"{level}:{run}", "gold": float(codes[level_labels[pos].item()]),
                      "prediction": float(cluster), "rank": int(n),
                      "text1": None if texts is None else texts[documents[pos]], "text2": None}
                     for (pos, cluster), n in counts.items()]
    if draws:
        raise ValueError(f"{len(draws)} recorded k-means draws left over")
    return rows


def embedded_dataset(task_type: str, raw: dict[str, dict[str, Any]], dataset: dict[str, dict[str, Any]]
                     ) -> dict[str, dict[str, Any]]:
    """The registry task's data as far as mteb embedded it, for the cell's probes: a Clustering split reduced to the
    seeded sample of documents mteb encoded (often 4 % or 2,048 of them), so that a probe does not encode the
    whole split; every other type's data unchanged."""
    if task_type != "Clustering":
        return dataset
    out: dict[str, dict[str, Any]] = {}
    for sub, splits in dataset.items():
        out[sub] = {}
        for split, data in splits.items():
            kept = raw.get(sub, {}).get(split)
            docs = kept.get("documents") if isinstance(kept, dict) else None
            out[sub][split] = data.select(docs) if docs is not None and hasattr(data, "select") else data
    return out
