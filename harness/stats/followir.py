"""FollowIR's p-MRR (mteb's InstructionReranking main score) from a cell's p-MRR rows (:mod:`harness.run.pmrr_rows`:
``gold`` null, ``prediction`` = the changed document's rank under the original instruction, ``rank`` = its rank
under the changed one).

mteb (``mteb._evaluators.retrieval_metrics.calculate_pmrr``): per (query, changed document) ``rank_score`` —
(1/og)/(1/new) − 1 when og ≥ new (the document, relevant no more, moved up or stayed: ≤ 0), else
1 − (1/new)/(1/og) (it moved down: > 0) — then the mean over the query's changed documents, then the mean over
queries. So p-MRR is a mean of one value per query: the resampling unit is the query (its original and changed
runs together), and a delta between two conditions is the mean of per-query differences (the ``mean`` family:
bootstrap of queries, sign-flip permutation per query).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PMRR = "p-MRR"


def pmrr_part(df: pd.DataFrame) -> pd.DataFrame:
    """The p-MRR rows of an InstructionReranking frame (null ``gold``)."""
    return df[df["gold"].isna()]


def retrieval_part(df: pd.DataFrame) -> pd.DataFrame:
    """The Retrieval rows of an InstructionReranking frame (one per query × judged document, ``gold`` set)."""
    return df[df["gold"].notna()]


def pmrr_values(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(query items, per-query p-MRR) from a frame's p-MRR rows, in mteb's arithmetic."""
    d = pmrr_part(df)
    og = d["prediction"].to_numpy(np.float64)
    new = d["rank"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(og >= new, (1 / og) / (1 / new) - 1, 1 - (1 / new) / (1 / og))
    items, pos = np.unique(d["item"].to_numpy(np.int64), return_inverse=True)
    total = np.bincount(pos, weights=score, minlength=len(items))
    count = np.bincount(pos, minlength=len(items))
    return items, total / count
