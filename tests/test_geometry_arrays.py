"""The array shortcuts of the geometry (issue 23): each equals the plain computation it replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.geometry_predictions import RANK_CHUNK, SubsetTexts, prediction_frame
from harness.analysis.geometry_stats import distinct_rows, participation_ratio, remove_mean, text_weights


def test_distinct_rows_is_numpys_unique() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(300, 4)).astype(np.float64)  # many repeated rows, ties in every column
    assert np.array_equal(distinct_rows(x), np.unique(x, axis=0))
    y = rng.standard_normal((50, 7))
    assert np.array_equal(distinct_rows(np.concatenate([y, y[::-2]])), np.unique(y, axis=0))


def test_participation_ratio_same_through_either_side() -> None:
    """More texts than dimensions takes G·v through the dimensions; fewer, through the Gram matrix: the same."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 6))
    v = rng.integers(0, 3, size=(5, 40)).astype(np.float64)
    v[:, 0] += 1
    via_dims = participation_ratio(x, v)
    g = x @ x.T
    total = v.sum(axis=1)
    gv = v @ g
    c = (gv * v).sum(axis=1) / total**2
    a = gv / total[:, None]
    tr = ((v * np.diag(g)).sum(axis=1) - total * c) / total
    tr2 = (((v @ (g * g)) * v).sum(axis=1) - 2 * total * (v * a * a).sum(axis=1) + total**2 * c**2) / total**2
    np.testing.assert_allclose(via_dims, tr * tr / tr2, rtol=1e-12)
    # the definition: (tr C)² / tr C² of the weighted covariance
    for w, got in zip(v, via_dims, strict=True):
        mean = (w @ x) / w.sum()
        cov = ((x - mean).T * w) @ (x - mean) / w.sum()
        np.testing.assert_allclose(got, np.trace(cov) ** 2 / np.trace(cov @ cov), rtol=1e-10)


def _ranks_one_by_one(st: SubsetTexts, scores: np.ndarray) -> list[int]:
    ids = pd.Series(st.doc_ids).rank(method="dense").to_numpy()
    pos = {d: j for j, d in enumerate(st.doc_ids or [])}
    out = []
    for i, q in enumerate(st.query_ids or []):
        s = scores[i].copy()
        if st.ignore_identical_ids and q in pos:
            s[pos[q]] = -np.inf
        for d in sorted((st.qrels or {}).get(q, {})):
            j = pos[d]
            out.append(1 + int((s > s[j]).sum()) + int(((s == s[j]) & (ids > ids[j])).sum()))
    return out


def test_retrieval_ranks_in_chunks_equal_one_query_at_a_time() -> None:
    """Score ties (broken by document id, descending, as pytrec_eval does), several relevant documents, a query
    whose own id is in the corpus, and more pairs than one chunk."""
    rng = np.random.default_rng(5)
    n_q, n_d = RANK_CHUNK + 40, 30
    q = rng.integers(0, 3, size=(n_q, 2)).astype(np.float32) + 0.5  # few distinct directions: many ties
    d = rng.integers(0, 3, size=(n_d, 2)).astype(np.float32) + 0.5
    doc_ids = [f"d{k}" for k in range(n_d - 1)] + ["q3"]
    qrels = {f"q{i}": {f"d{(i * 7) % (n_d - 1)}": 1.0, f"d{(i * 3) % (n_d - 1)}": 2.0} for i in range(n_q)}
    for ignore in (False, True):
        st = SubsetTexts("Retrieval", {"query": [f"x{i}" for i in range(n_q)], "document": ["y"] * n_d},
                         query_ids=[f"q{i}" for i in range(n_q)], doc_ids=doc_ids, qrels=qrels,
                         ignore_identical_ids=ignore)
        frame = prediction_frame(st, {"query": q, "document": d})
        qn, dn = q / np.linalg.norm(q, axis=1, keepdims=True), d / np.linalg.norm(d, axis=1, keepdims=True)
        assert frame["rank"].tolist() == _ranks_one_by_one(st, qn @ dn.T)
        assert len(frame) == sum(len(v) for v in qrels.values()) > RANK_CHUNK
        assert frame.groupby("item").doc_id.apply(list).map(lambda ds: ds == sorted(ds)).all()


def test_participation_ratio_through_items_equals_through_texts() -> None:
    """Bitext resamples draw pairs (two texts per item, one text in two items): the items' quadratic form
    Pᵀ(G∘G)P gives the texts' v(G∘G)vᵀ."""
    rng = np.random.default_rng(5)
    n_items, d = 30, 8
    x = rng.standard_normal((2 * n_items + 1, d))
    membership = np.zeros((2 * n_items + 1, n_items))
    for j in range(n_items):
        membership[2 * j, j] = membership[2 * j + 1, j] = 1
    membership[-1, :2] = 1  # one text shared by two items: its weight is the mean of theirs
    w = rng.integers(0, 3, size=(6, n_items)).astype(np.float64)
    w[:, 0] += 1
    w = np.concatenate([np.ones((1, n_items)), w])
    v = text_weights(w, membership)
    np.testing.assert_allclose(participation_ratio(x, v, (w, membership)), participation_ratio(x, v), rtol=1e-10)


def test_first_principal_direction_from_the_scatter_matrix_projects_like_the_svd() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((50, 12)) * np.linspace(3, 0.5, 12)
    mu, direction = remove_mean(x, pc1=True)
    uniq = np.unique(x, axis=0)
    _, _, vt = np.linalg.svd(uniq - mu, full_matrices=False)
    np.testing.assert_allclose(mu, uniq.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.outer(direction, direction), np.outer(vt[0], vt[0]), atol=1e-12)
