"""A prompt-robust score per model × task subset: the main score over the variants of a variant set (the
paraphrases of ``blog``), and where ``blog`` and ``official`` fall within that spread.

Per model × task × subset × split × variant set (at least two scored variants):

- ``mean_score`` / ``worst_score`` / ``best_score`` over the variants (the prompt-robust score is the mean; the
  worst is what a user with an unlucky wording gets);
- ``blog_percentile`` / ``official_percentile``: the mid-rank percentile of that condition's score among the
  variants' scores, 100 × (variants below + ½ variants equal) / k — 0: below every paraphrase, 100: above every
  one, 50: in the middle;
- ``rank_by_mean`` / ``rank_by_blog`` / ``rank_by_worst``: the model's rank among the models scored on the same
  subset (1 + models strictly higher, :mod:`harness.analysis.rankings`' rule), so a reader sees whether a
  leaderboard's order depends on the prompt it was run with.

Descriptive only: the variants' sampling noise is in ``paraphrase.parquet`` (intervals of the range and SD).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.paraphrase import variant_sets

FILE = "robust_score.parquet"
REFERENCES = ("blog", "official")
_GROUP = ["task", "task_type", "subset", "split", "metric"]
COLUMNS = ["model", "alias", "revision", *_GROUP, "variant_set", "n_variants", "mean_score", "worst_score",
           "best_score", "blog_score", "blog_percentile", "official_score", "official_percentile", "rank_by_mean",
           "rank_by_blog", "rank_by_worst"]


def percentile(value: float, scores: np.ndarray) -> float:
    """Mid-rank percentile of ``value`` among ``scores`` (NaN for a NaN value)."""
    if np.isnan(value) or not len(scores):
        return float("nan")
    below = float((scores < value).sum())
    equal = float((scores == value).sum())
    return 100.0 * (below + 0.5 * equal) / len(scores)


def _ranks(values: pd.Series) -> pd.Series:
    """1 + the number of strictly higher values (ties share the better rank); NaN stays NaN."""
    v = values.to_numpy(np.float64)
    out = np.array([1 + int((v > x).sum()) if not np.isnan(x) else np.nan for x in v])
    return pd.Series(out, index=values.index)


def table(board: pd.DataFrame) -> pd.DataFrame:
    """The robust-score rows of a leaderboard frame (main mteb metric rows)."""
    main = board[(board.kind == "mteb") & board.is_main]
    rows: list[dict[str, Any]] = []
    for set_name, variants in variant_sets(set(main.condition)).items():
        for key, g in main.groupby(["model", "alias", "revision", *_GROUP], sort=True):
            by = g.drop_duplicates("condition").set_index("condition").score
            scores = by.reindex(variants).dropna().to_numpy(np.float64)
            if len(scores) < 2:
                continue
            row = dict(zip(["model", "alias", "revision", *_GROUP], key, strict=True))
            row |= {"variant_set": set_name, "n_variants": len(scores), "mean_score": float(scores.mean()),
                    "worst_score": float(scores.min()), "best_score": float(scores.max())}
            for ref in REFERENCES:
                value = float(by.get(ref, np.nan))
                row[f"{ref}_score"] = value
                row[f"{ref}_percentile"] = percentile(value, scores)
            rows.append(row)
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    for col, src in (("rank_by_mean", "mean_score"), ("rank_by_blog", "blog_score"), ("rank_by_worst", "worst_score")):
        df[col] = df.groupby([*_GROUP, "variant_set"])[src].transform(_ranks)
    return df.astype({"n_variants": "int64", "rank_by_mean": "Int64", "rank_by_blog": "Int64",
                      "rank_by_worst": "Int64"})
