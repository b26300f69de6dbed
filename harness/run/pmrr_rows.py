"""The p-MRR rows of an InstructionReranking cell (FollowIR; see :mod:`harness.taskspecs.followir`).

One row per (query, changed document) of mteb's ``qrel_diff``, beside the cell's Retrieval rows:
``query_id`` = the query's id without ``-og`` / ``-changed``, ``doc_id`` = the changed document, ``item`` = the
query's index in the ``qrel_diff``, ``gold`` = null (what marks a p-MRR row: a Retrieval row's ``gold`` is a
relevance), ``prediction`` = the document's rank under the original instruction (query ``<id>-og``), ``rank`` = its
rank under the changed instruction (``<id>-changed``). Ranks are mteb's (``get_rank_from_dict``): 1-based among the
documents the query's run scored, by score descending then document id descending, and one past the last when the
run did not score it. A query missing from either run is left out, as mteb leaves it out (with a warning).
From these rows :mod:`harness.stats.followir` recomputes mteb's p-MRR exactly.
"""

from __future__ import annotations

from typing import Any


def _ranks(run: dict[str, float]) -> dict[str, int]:
    ranked = sorted(run.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    return {d: r for r, (d, _) in enumerate(ranked, start=1)}


def pmrr_rows(sub: str, split: str, pred: dict[str, dict[str, float]], changed: dict[str, list[str]]
              ) -> list[dict[str, Any]]:
    rows = []
    for k, (qid, docs) in enumerate(changed.items()):
        og, new = pred.get(f"{qid}-og"), pred.get(f"{qid}-changed")
        if og is None or new is None:
            continue
        og_rank, new_rank = _ranks(og), _ranks(new)
        for did in docs:
            rows.append({"subset": sub, "split": split, "item": k, "query_id": qid, "doc_id": did,
                         "gold": None, "prediction": float(og_rank.get(did, len(og) + 1)),
                         "rank": new_rank.get(did, len(new) + 1), "text1": None, "text2": None})
    return rows
