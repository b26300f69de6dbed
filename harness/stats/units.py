"""Resampling units: which items move together when a delta is resampled (items, queries, sentences, or the
recurring texts of a word-pair STS task), and the bootstrap multiplicities they induce.

See :mod:`harness.stats.engine`."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.stats.metrics import Columns, multiplicities

_DENSE_TEXTS = 2000  # recurring texts up to which the text split uses a precomputed pseudo-inverse (else LSQR)

UnitKind = Literal["item", "query", "sentence", "text"]

UNITS: dict[str, tuple[str, ...]] = {"STS": ("item", "text"), "Retrieval": ("query", "item"),
                                     "BitextMining": ("sentence", "item"), "Classification": ("item",),
                                     "Reranking": ("query", "item"), "InstructionRetrieval": ("query", "item"),
                                     "InstructionReranking": ("query", "item"),  # p-MRR: the query, both runs
                                     "MultilabelClassification": ("item",),
                                     "Summarization": ("item",)}  # the source text with all its summaries


@dataclass(frozen=True, eq=False)


class Units:
    """How the items of a delta are resampled and swapped.

    For item-level units (``item``, ``query``, ``sentence``) ``ends`` is None. For ``text``, ``ends`` is (2, n):
    each item's two ends as indices into a vector of unit counts — [0, n_texts) the recurring texts,
    [n_texts, n_texts + n_lone) the items with no recurring text (one unit each), and n_texts + n_lone for
    "no unit" (count 1): a pair of two recurring texts has two text ends, a pair with one has one, an item with
    none has its own unit."""

    kind: UnitKind
    n_items: int
    ends: np.ndarray | None = None
    n_texts: int = 0
    n_lone: int = 0

    @property
    def n_units(self) -> int:
        return self.n_items if self.ends is None else self.n_texts + self.n_lone

    @property
    def none(self) -> int:
        """Index of the "no unit" slot in ``ends``."""
        return self.n_texts + self.n_lone

    @property
    def crossed(self) -> np.ndarray:
        """Items whose two ends are both recurring texts."""
        if self.ends is None:
            return np.zeros(self.n_items, dtype=bool)
        return (self.ends[0] < self.n_texts) & (self.ends[1] < self.n_texts)

    @functools.cached_property
    def text_design(self) -> Any:
        """(items × (1 + recurring texts)) scipy.sparse design of z = μ + u_i + u_j: intercept, then each item's
        recurring-text ends."""
        from scipy.sparse import csr_matrix

        assert self.ends is not None
        n, k = self.n_items, self.n_texts
        rows, cols = [np.arange(n)], [np.zeros(n, dtype=np.int64)]
        for e in self.ends:
            keep = e < k
            rows.append(np.flatnonzero(keep))
            cols.append(e[keep] + 1)
        r_idx, c_idx = np.concatenate(rows), np.concatenate(cols)
        return csr_matrix((np.ones(len(r_idx)), (r_idx, c_idx)), shape=(n, k + 1))

    @functools.cached_property
    def text_projector(self) -> np.ndarray | None:
        """pinv(design): z ↦ the minimum-norm least-squares (μ, u), or None for many texts (then LSQR)."""
        if self.n_texts + 1 > _DENSE_TEXTS or (self.n_texts + 1) * self.n_items > _CHUNK_CELLS:
            return None
        design = self.text_design
        gram = (design.T @ design).toarray()  # pinv(XᵀX)·Xᵀ = pinv(X): the same null space
        return np.asarray(np.linalg.pinv(gram) @ design.T.toarray())

    @classmethod
    def items(cls, n_items: int, kind: UnitKind = "item") -> Units:
        if kind == "text":
            raise ValueError("the text unit needs each item's texts: use text_units(text1, text2)")
        return cls(kind, n_items)


def _text_codes(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t1, t2 = pd.Series(np.asarray(text1, dtype=object)), pd.Series(np.asarray(text2, dtype=object))
    if len(t1) != len(t2):
        raise ValueError(f"text1 and text2 differ in length ({len(t1)} vs {len(t2)})")
    if t1.isna().any() or t2.isna().any():
        raise ValueError("text1 / text2 has missing values")
    codes, _ = pd.factorize(pd.concat([t1, t2], ignore_index=True))
    n = len(t1)
    return codes[:n].astype(np.int64), codes[n:].astype(np.int64)


def _occurrences(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """In how many distinct items each text code occurs (an item whose two texts are equal counts once)."""
    m = int(max(c1.max(initial=-1), c2.max(initial=-1))) + 1
    return np.bincount(np.concatenate([c1, c2[c2 != c1]]), minlength=m)


def infer_unit(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> Literal["item", "text"]:
    """``text`` when some text occurs in two or more items (pairs built from a set of words), else ``item``."""
    c1, c2 = _text_codes(text1, text2)
    return "text" if len(c1) and bool((_occurrences(c1, c2) >= 2).any()) else "item"


def text_units(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> Units:
    """The ``text`` unit of items given their two texts (any hashable ids; equal ids = the same text)."""
    c1, c2 = _text_codes(text1, text2)
    n = len(c1)
    recurring = _occurrences(c1, c2) >= 2
    code = np.full(len(recurring), -1, dtype=np.int64)
    code[recurring] = np.arange(int(recurring.sum()))
    n_texts = int(recurring.sum())
    e1, e2 = code[c1], np.where(c2 != c1, code[c2], -1)  # an item's two equal texts count once
    swap = (e1 < 0) & (e2 >= 0)  # the recurring end first
    e1, e2 = np.where(swap, e2, e1), np.where(swap, e1, e2)
    lone = e1 < 0
    n_lone = int(lone.sum())
    none = n_texts + n_lone
    e1 = np.where(lone, n_texts + np.cumsum(lone) - 1, e1)
    e2 = np.where(e2 < 0, none, e2)
    return Units("text", n, np.vstack([e1, e2]).astype(np.int64), n_texts, n_lone)


def recurring_texts(text1: Sequence[Any] | np.ndarray, text2: Sequence[Any] | np.ndarray) -> np.ndarray:
    """The recurring texts of :func:`text_units` in the order of its text indices (``ends`` values below
    ``n_texts``): what lets two tasks that share texts draw them jointly (:mod:`harness.analysis.family`)."""
    t1, t2 = pd.Series(np.asarray(text1, dtype=object)), pd.Series(np.asarray(text2, dtype=object))
    codes, uniques = pd.factorize(pd.concat([t1, t2], ignore_index=True))
    n = len(t1)
    recurring = _occurrences(codes[:n].astype(np.int64), codes[n:].astype(np.int64)) >= 2
    return np.asarray(uniques, dtype=object)[recurring]


def shared_weights(units: Units, text_counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(rows, n_items) multiplicities of one chunk of resamples whose recurring texts' counts are given
    (``text_counts``: rows × n_texts, drawn once for texts several tasks share); the items without a recurring
    text are drawn here, as :func:`resample_weights` draws them."""
    assert units.ends is not None
    rows = len(text_counts)
    counts = np.ones((rows, units.none + 1))
    counts[:, :units.n_texts] = text_counts
    if units.n_lone:
        counts[:, units.n_texts:units.none] = multiplicities(rng.integers(0, units.n_lone, size=(rows, units.n_lone)),
                                                      units.n_lone)
    return np.ascontiguousarray(counts[:, units.ends[0]] * counts[:, units.ends[1]])


def resample_units(task_type: str, n_items: int, *, unit: str | None = None,
                   text1: Sequence[Any] | np.ndarray | None = None,
                   text2: Sequence[Any] | np.ndarray | None = None) -> Units:
    """The resampling unit of a delta: the task's stated ``unit`` if given, else ``text`` for STS items whose
    texts recur (see :func:`infer_unit`), else the task type's independent unit (STS ``item``, Retrieval
    ``query``, BitextMining ``sentence``)."""
    allowed = UNITS.get(task_type, ("item",))
    has_texts = text1 is not None and text2 is not None
    if unit is None:
        unit = infer_unit(text1, text2) if has_texts and task_type == "STS" else allowed[0]  # type: ignore[arg-type]
    if unit not in allowed:
        raise ValueError(f"unit {unit!r} does not apply to {task_type} (one of {', '.join(allowed)})")
    if unit == "text":
        if not has_texts:
            raise ValueError("the text unit needs text1 and text2 for every item")
        units = text_units(text1, text2)  # type: ignore[arg-type]
        if units.n_items != n_items:
            raise ValueError(f"{units.n_items} text pairs for {n_items} items")
        return units
    return Units.items(n_items, unit)  # type: ignore[arg-type]

_CHUNK_CELLS = 2_000_000  # resamples × items materialised at once (bounds memory to a few tens of MB)


def chunk_sizes(total: int, n_items: int) -> Iterator[int]:
    size = max(1, _CHUNK_CELLS // max(1, n_items))
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def n_rows(cols: Columns) -> int:
    return len(next(iter(cols.values())))


def resample_weights(units: Units, rows: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, n_items) multiplicities of one chunk of bootstrap resamples. Item units: n items drawn with
    replacement. Text unit: the recurring texts drawn with replacement (text t c_t times) and, separately, the
    items without one; an item's multiplicity is the product of its ends' counts (c_i·c_j for a pair of two
    recurring texts)."""
    n = units.n_items
    if units.ends is None:
        return multiplicities(rng.integers(0, n, size=(rows, n)), n)
    counts = np.ones((rows, units.none + 1))
    if units.n_texts:
        counts[:, :units.n_texts] = multiplicities(rng.integers(0, units.n_texts, size=(rows, units.n_texts)),
                                            units.n_texts)
    if units.n_lone:
        counts[:, units.n_texts:units.none] = multiplicities(rng.integers(0, units.n_lone, size=(rows, units.n_lone)),
                                                      units.n_lone)
    return np.ascontiguousarray(counts[:, units.ends[0]] * counts[:, units.ends[1]])
