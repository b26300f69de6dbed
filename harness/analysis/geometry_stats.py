"""The weighted statistics of :mod:`harness.analysis.geometry` (shift share, anisotropy, participation ratio, the
mean and top direction removed for the centred scores): arrays in, arrays out; each row of weights ``v`` is one
resample (see that module's docstring)."""

from __future__ import annotations

import numpy as np


def text_weights(w: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """(rows, texts) weights from (rows, items) multiplicities: each text's mean multiplicity over its items
    (``membership``: texts × items occurrence counts)."""
    return np.asarray((w @ membership.T) / membership.sum(axis=1))


def anisotropy(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Weighted mean cosine over pairs of distinct texts, per row of weights ``v`` (rows × texts)."""
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = v @ u
    num = (s * s).sum(axis=1) - (v * v).sum(axis=1)  # drop each text's pair with itself (cosine 1)
    den = v.sum(axis=1) ** 2 - (v * v).sum(axis=1)
    return np.asarray(num / den)


def shift_share(delta: np.ndarray, v: np.ndarray) -> np.ndarray:
    """‖weighted mean Δ‖² / weighted mean ‖Δ‖², per row of ``v``; NaN where nothing moved."""
    total = v.sum(axis=1)
    mean = (v @ delta) / total[:, None]
    per = (v @ (delta * delta).sum(axis=1)) / total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(per > 0, (mean * mean).sum(axis=1) / np.where(per > 0, per, 1.0), np.nan))


def participation_ratio(x: np.ndarray, v: np.ndarray, items: tuple[np.ndarray, np.ndarray] | None = None
                        ) -> np.ndarray:
    """(tr C)² / tr C² of the weighted covariance C of ``x``'s rows, per row of ``v``, from the Gram matrix
    (O(texts²) per resample: tr C = (Σ v_i G_ii − V c)/V, tr C² = (v(G∘G)vᵀ − 2V Σ v_i a_i² + V²c²)/V² with
    a = Gv/V, c = vᵀGv/V²). ``items``: (w, membership) with v = :func:`text_weights` (w, membership), given where
    the resamples draw items that hold several texts each (a bitext pair's two sentences): then
    v(G∘G)vᵀ = w(Pᵀ(G∘G)P)wᵀ with P the texts' shares of the items, O(items²) per resample (4× less for pairs)."""
    x = x.astype(np.float64)
    g = x @ x.T
    g2 = g * g
    total = v.sum(axis=1)
    gv = (v @ x) @ x.T if len(x) > x.shape[1] else v @ g  # G v: through the d dimensions when they are fewer
    a = gv / total[:, None]
    c = (gv * v).sum(axis=1) / total**2
    tr = ((v * np.diag(g)).sum(axis=1) - total * c) / total
    if items is not None and items[1].shape[1] < items[1].shape[0]:
        from scipy.sparse import csr_matrix

        w, membership = items
        share = csr_matrix(membership / membership.sum(axis=1, keepdims=True))  # texts × items, P
        h = np.asarray((share.T @ np.asarray((share.T @ g2).T)).T)  # Pᵀ(G∘G)P: items × items (G∘G symmetric)
        quad = ((w @ h) * w).sum(axis=1)
    else:
        quad = ((v @ g2) * v).sum(axis=1)
    tr2 = (quad - 2 * total * (v * a * a).sum(axis=1) + total**2 * c**2) / total**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(tr2 > 0, tr * tr / np.where(tr2 > 0, tr2, 1.0), np.nan))


def remove_mean(x: np.ndarray, pc1: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The mean of ``x``'s distinct rows (and, with ``pc1``, their top principal direction) as the function that
    removes them from any vectors: returns (mean, direction or empty)."""
    uniq = distinct_rows(x.astype(np.float64))
    mu = uniq.mean(axis=0)
    if not pc1:
        return mu, np.empty(0)
    c = uniq - mu  # the top eigenvector of the d × d scatter matrix: the first right singular vector of c, its
    _, vecs = np.linalg.eigh(c.T @ c)  # projection equal to 1e-15 and ≈ 10× cheaper than an SVD of c
    return mu, vecs[:, -1]


def distinct_rows(x: np.ndarray) -> np.ndarray:
    """``x``'s distinct rows in lexicographic order (what ``np.unique(x, axis=0)`` returns), found by hashing each
    row's bytes and sorting only the distinct ones: ``np.unique`` sorts every row as a structured record, which
    cost ≈ 20 of the geometry's 85 CPU s on the default grid."""
    c = np.ascontiguousarray(x)
    first = dict.fromkeys(r.tobytes() for r in c)
    rows = np.frombuffer(b"".join(first), dtype=x.dtype).reshape(len(first), x.shape[1])
    return rows[np.lexsort(rows.T[::-1])]


def centre(x: np.ndarray, mu: np.ndarray, direction: np.ndarray) -> np.ndarray:
    y = x.astype(np.float64) - mu
    if direction.size:
        y = y - np.outer(y @ direction, direction)
    return y


def _cos_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def _cos_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray(an @ bn.T)
