"""Item-level predictions of a cell, from mteb's own predictions, as one compact table.

mteb hands its predictions to the task's ``_save_task_predictions`` when given a ``prediction_folder`` (the
harness's task classes keep them in memory instead of writing JSON); this module turns them into rows:

- STS: one row per pair — ``gold`` = gold score, ``prediction`` = cosine similarity;
- Retrieval: one row per (query, relevant document) — ``gold`` = relevance, ``rank`` = 1-based rank of that
  document among the retrieved ones (null when not retrieved), ``prediction`` = its score;
- BitextMining: one row per sentence — ``gold`` = index of its translation, ``prediction`` = matched index;
- Reranking: as Retrieval, ranks among the query's candidates only (mteb scores nothing else);
- InstructionRetrieval (registry tasks, e.g. IFIR*): as Retrieval; mteb appends each query's instruction to its
  text before the encoder sees it, so the condition's prefix comes before query and instruction;
- InstructionReranking (registry tasks: FollowIR's Core17/News21/Robust04, mFollowIR): as Reranking, plus one
  p-MRR row per (query, document of mteb's ``qrel_diff``) with a null ``gold`` (:mod:`harness.run.pmrr_rows`);
- MultilabelClassification (registry tasks): one row per test item — ``gold`` / ``prediction`` = the gold / the
  predicted label set as a bit mask over the sorted labels (exact match = mteb's subset ``accuracy``);
- Classification: one row per test item — ``gold`` = its label's index (labels sorted), ``prediction`` = the
  label index the cell's one fitted classifier predicted (correct = ``gold == prediction``);
- Summarization: one row per (source text, machine summary) — ``item`` = the source text's index, ``doc_id`` = the
  summary's index within it, ``gold`` = its human relevance score (mteb's normalised one), ``prediction`` = the
  summary's highest cosine similarity to the text's human summaries (mteb's ``cosine_scores``).
- PairClassification: one row per pair — ``gold`` = its label (0/1), ``prediction`` = the model's similarity of
  the pair (what mteb's ``similarity_ap`` ranks);
- Clustering: one row per text — ``gold`` = its label's index (labels sorted), ``prediction`` = the cluster the
  cell's one seeded k-means run assigned it;
- mteb's registry PairClassification and Clustering tasks: rows of their own (:mod:`harness.run.
  registry_predictions`: five scoring functions per pair; every k-means run's drawn documents).

From these rows the main metric can be recomputed on any resample of items (see ``harness.stats``).
"""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd

from harness.results.schema import RETRIEVAL_LIKE
from harness.run import registry_predictions
from harness.run.pmrr_rows import pmrr_rows

COLUMNS = ["subset", "split", "item", "query_id", "doc_id", "gold", "prediction", "rank", "text1", "text2"]


def _sts_rows(sub: str, split: str, pred: dict[str, Any], data: Any) -> list[dict[str, Any]]:
    gold = list(data["score"])
    cos = pred["cosine_scores"]
    return [  # the two raw texts (before any prefix): pairs that share a text are resampled together
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": None, "gold": float(g),
         "prediction": float(c), "rank": None, "text1": t1, "text2": t2}
        for i, (g, c, t1, t2) in enumerate(zip(gold, cos, data["sentence1"], data["sentence2"], strict=True))
    ]


def _retrieval_rows(sub: str, split: str, pred: dict[str, dict[str, float]], data: Any,
                    ignore_identical_ids: bool = False) -> list[dict[str, Any]]:
    rows = []
    qids = list(data["queries"]["id"])
    for i, qid in enumerate(qids):
        relevant = data["relevant_docs"].get(qid, {})
        scores = pred.get(qid, {})
        if ignore_identical_ids:  # mteb saves predictions before it drops the query's own id from the ranking
            scores = {d: s for d, s in scores.items() if d != qid}
        # pytrec_eval's order: score descending, then document id descending
        ranked = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        rank_of = {d: r for r, (d, _) in enumerate(ranked, start=1)}
        for did, rel in sorted(relevant.items()):
            rows.append({"subset": sub, "split": split, "item": i, "query_id": qid, "doc_id": did,
                         "gold": float(rel), "prediction": scores.get(did), "rank": rank_of.get(did)})
    return rows


def _bitext_rows(sub: str, split: str, pred: dict[str, list[dict[str, Any]]], data: Any) -> list[dict[str, Any]]:
    matches = pred["sentence1-sentence2"]
    return [
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": None, "gold": float(i),
         "prediction": float(m["corpus_id"]), "rank": None}
        for i, m in enumerate(matches)
    ]


def _classification_rows(sub: str, split: str, pred: list[Any], data: Any) -> list[dict[str, Any]]:
    (predicted,) = pred  # one experiment: the harness fits mteb's classifier once per cell
    return [
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": None, "gold": float(g),
         "prediction": float(p), "rank": None, "text1": t, "text2": None}
        for i, (g, p, t) in enumerate(zip(data["label"], predicted, data["text"], strict=True))
    ]


def _summarization_rows(sub: str, split: str, pred: dict[str, list[list[float]]], data: Any
                        ) -> list[dict[str, Any]]:
    return [
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": str(j), "gold": float(g),
         "prediction": float(c), "rank": None}
        for i, (golds, cosines) in enumerate(zip(pred["human_scores"], pred["cosine_scores"], strict=True))
        for j, (g, c) in enumerate(zip(golds, cosines, strict=True))
    ]


def _pair_classification_rows(sub: str, split: str, pred: dict[str, Any], data: Any) -> list[dict[str, Any]]:
    sim = pred["similarity_scores"]
    return [
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": None, "gold": float(g),
         "prediction": float(c), "rank": None, "text1": t1, "text2": t2}
        for i, (g, c, t1, t2) in enumerate(zip(data["labels"], sim, data["sentence1"], data["sentence2"],
                                               strict=True))
    ]


def _clustering_rows(sub: str, split: str, pred: dict[str, list[list[int]]], data: Any) -> list[dict[str, Any]]:
    (assigned,) = pred["Level 0"]  # one k-means run on every text once (see harness.taskspecs.mteb_task)
    return [
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": None, "gold": float(g),
         "prediction": float(c), "rank": None, "text1": t, "text2": None}
        for i, (g, c, t) in enumerate(zip(data["labels"], assigned, data["sentences"], strict=True))
    ]


def _multilabel_rows(sub: str, split: str, pred: list[Any], data: Any) -> list[dict[str, Any]]:
    (predicted,) = pred  # one experiment (n_experiments = 1): one predicted label set per test item
    classes = sorted({label for labels in data["label"] for label in labels})  # mteb's MultiLabelBinarizer order
    if len(classes) > 52:
        raise ValueError(f"{len(classes)} labels: a label set is kept as a bit mask of at most 52 labels")
    index = {c: k for k, c in enumerate(classes)}
    return [
        {"subset": sub, "split": split, "item": i, "query_id": None, "doc_id": None,
         "gold": float(sum(1 << index[c] for c in set(labels))),
         "prediction": float(sum(1 << k for k, v in enumerate(row) if v)), "rank": None, "text1": t, "text2": None}
        for i, (labels, row, t) in enumerate(zip(data["label"], predicted, data["text"], strict=True))
    ]


_BY_TYPE = {"STS": _sts_rows, "Retrieval": _retrieval_rows, "BitextMining": _bitext_rows,
            "Classification": _classification_rows, "Reranking": _retrieval_rows,
            "Summarization": _summarization_rows, "PairClassification": _pair_classification_rows,
            "Clustering": _clustering_rows, "InstructionRetrieval": _retrieval_rows,
            "MultilabelClassification": _multilabel_rows, "InstructionReranking": _retrieval_rows}


# Types whose rows assume the harness's own task class (task folders only). None today: mteb's registry
# PairClassification and Clustering tasks have rows of their own (REGISTRY_ROWS: all five scoring functions per
# pair, so ``max_ap`` is recomputed; every k-means run's drawn documents, so the mean v-measure over mteb's
# subsampled runs is) — mteb's legacy clustering tasks (lists per row) are refused by RegistryTask.refusal.
FOLDER_ONLY: tuple[str, ...] = ()
REGISTRY_ROWS = {"PairClassification": registry_predictions.pair_function_rows,
                 "Clustering": registry_predictions.cluster_run_rows}


def supported_types(*, registry: bool = False) -> tuple[str, ...]:
    """The task types whose item-level predictions this module turns into rows (a cell of any other type
    cannot be written, so a run refuses it before its first cell); ``registry``: for mteb's registry tasks."""
    return tuple(t for t in _BY_TYPE if not (registry and t in FOLDER_ONLY))


def to_frame(task_type: str, raw: dict[str, dict[str, Any]], dataset: dict[str, dict[str, Any]], *,
             ignore_identical_ids: bool = False, changed: dict[str, dict[str, Any]] | None = None,
             registry: bool = False) -> pd.DataFrame:
    """``raw``: mteb's predictions as ``{subset: {split: predictions}}`` (what it would write to its JSON file);
    ``changed``: an InstructionReranking task's changed qrels, as ``{subset: {split: {query id: [doc ids]}}}``;
    ``registry``: of an mteb registry task (:data:`REGISTRY_ROWS` where its rows differ from a folder's)."""
    make: Any = REGISTRY_ROWS.get(task_type, _BY_TYPE[task_type]) if registry else _BY_TYPE[task_type]
    if task_type in RETRIEVAL_LIKE:  # reranking: mteb scored only each query's candidates
        make = functools.partial(_retrieval_rows, ignore_identical_ids=ignore_identical_ids)
    rows: list[dict[str, Any]] = []
    for sub, splits in sorted(raw.items()):
        if sub == "mteb_model_meta":
            continue
        for split, pred in sorted(splits.items()):
            rows += make(sub, split, pred, dataset[sub][split])
            if task_type == "InstructionReranking" and split in (changed or {}).get(sub, {}):
                rows += pmrr_rows(sub, split, pred, changed[sub][split])  # type: ignore[index]
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"item": "int64", "gold": "float64", "prediction": "float64", "rank": "Int64"})
