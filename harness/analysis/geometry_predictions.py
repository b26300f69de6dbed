"""What mteb would have predicted from a set of vectors: one task subset's texts (:class:`SubsetTexts`) and the
item-level predictions (the columns of :mod:`harness.run.predictions`) that given embeddings give
(:func:`prediction_frame`) — :mod:`harness.analysis.geometry` checks the cached vectors against the cells with
it and recomputes the centred scores from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.geometry_stats import _cos_matrix, _cos_rows

RANK_CHUNK = 256  # relevant (query, document) pairs ranked at once: chunk × documents booleans in memory


@dataclass
class SubsetTexts:
    """One subset × split of a task: the raw texts per side and what the main metric needs."""

    task_type: str
    sides: dict[str, list[str]]  # "text1"/"text2" (pairs) or "query"/"document" (retrieval), in item order
    gold: np.ndarray | None = None  # STS gold scores
    query_ids: list[str] | None = None
    doc_ids: list[str] | None = None
    qrels: dict[str, dict[str, float]] | None = None
    ignore_identical_ids: bool = False  # a query's own id in the corpus is not ranked (mteb's option)

    @property
    def n_items(self) -> int:
        return len(self.sides["text1"] if "text1" in self.sides else self.sides["query"])

    def unit_texts(self) -> tuple[list[str], np.ndarray]:
        """Distinct unit texts and their (texts × items) occurrence counts."""
        if "text1" in self.sides:
            occurrences = [*enumerate(self.sides["text1"]), *enumerate(self.sides["text2"])]
        else:
            occurrences = list(enumerate(self.sides["query"]))
        index: dict[str, int] = {}
        rows = np.empty(len(occurrences), dtype=np.int64)
        for n, (_, t) in enumerate(occurrences):
            rows[n] = index.setdefault(t, len(index))
        m = np.zeros((len(index), self.n_items))
        np.add.at(m, (rows, np.fromiter((i for i, _ in occurrences), np.int64, len(occurrences))), 1)
        return list(index), m


def prediction_frame(st: SubsetTexts, vecs: dict[str, np.ndarray]) -> pd.DataFrame:
    """The item-level predictions that the vectors ``vecs`` (per side, rows in item order) give: what mteb would
    have predicted from these embeddings."""
    if st.task_type == "STS":
        assert st.gold is not None
        return pd.DataFrame({"item": np.arange(st.n_items), "gold": st.gold,
                             "prediction": _cos_rows(vecs["text1"], vecs["text2"]),
                             "text1": st.sides["text1"], "text2": st.sides["text2"]})
    if st.task_type == "BitextMining":
        match = _cos_matrix(vecs["text1"], vecs["text2"]).argmax(axis=1)
        return pd.DataFrame({"item": np.arange(st.n_items), "gold": np.arange(st.n_items, dtype=np.float64),
                             "prediction": match.astype(np.float64)})
    return _retrieval_frame(st, _cos_matrix(vecs["query"], vecs["document"]))


def _retrieval_frame(st: SubsetTexts, scores: np.ndarray) -> pd.DataFrame:
    """One row per relevant (query, document) pair, queries in item order and each query's documents by id, with
    the document's rank among the query's candidates in pytrec_eval's order (score descending, then document id
    descending)."""
    assert st.query_ids is not None and st.doc_ids is not None and st.qrels is not None
    doc_ids = np.asarray(st.doc_ids, dtype=object)
    id_rank = pd.Series(doc_ids).rank(method="dense").to_numpy()  # document ids' order (pytrec_eval's tie-break)
    pos = {d: j for j, d in enumerate(st.doc_ids)}
    if st.ignore_identical_ids:  # the query itself is never a candidate
        own = [(i, pos[q]) for i, q in enumerate(st.query_ids) if q in pos]
        if own:
            scores = scores.copy()
            qi, dj = zip(*own, strict=True)
            scores[list(qi), list(dj)] = -np.inf
    items, qids, dids, gold = [], [], [], []
    for i, qid in enumerate(st.query_ids):
        for did, rel in sorted(st.qrels.get(qid, {}).items()):
            items.append(i)
            qids.append(qid)
            dids.append(did)
            gold.append(rel)
    qi_arr = np.asarray(items, dtype=np.int64)
    dj_arr = np.asarray([pos[d] for d in dids], dtype=np.int64)
    s_pair = scores[qi_arr, dj_arr]
    rank = np.empty(len(qi_arr), dtype=np.int64)
    for lo in range(0, len(qi_arr), RANK_CHUNK):
        sl = slice(lo, lo + RANK_CHUNK)
        s, sj = scores[qi_arr[sl]], s_pair[sl, None]
        rank[sl] = 1 + (s > sj).sum(axis=1) + ((s == sj) & (id_rank[None, :] > id_rank[dj_arr[sl], None])).sum(axis=1)
    return pd.DataFrame({"item": qi_arr, "query_id": qids, "doc_id": dids, "gold": np.asarray(gold, np.float64),
                         "prediction": s_pair.astype(np.float64), "rank": rank},
                        columns=["item", "query_id", "doc_id", "gold", "prediction", "rank"])
