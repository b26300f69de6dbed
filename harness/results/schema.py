"""The schemas of every table the harness writes into a results folder, with their versions.

- ``leaderboard.parquet`` (:data:`LEADERBOARD_SCHEMA`): one row per model × condition × task × subset × split ×
  metric (mteb scores and harness probes);
- ``deltas.parquet`` (:data:`DELTAS_SCHEMA`): condition − baseline per leaderboard key, with paired statistics;
- ``cells/…/<Task>.predictions.parquet`` (:data:`PREDICTIONS_SCHEMA`): one cell's item-level predictions.

Each table carries a ``schema_version`` column; golden files in ``tests/golden/`` pin the columns and types. The
writer of a cell (:mod:`harness.run`) and every reader (:mod:`harness.analysis`, :mod:`harness.report`) import
the schemas from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from harness.core import atomic

if TYPE_CHECKING:
    import pandas as pd

# Version of the leaderboard and deltas schemas (bump with any change; golden files in tests/golden/).
# 2: deltas gained ci_low, ci_high, p_value, p_holm, p_method, n_bootstrap, n_permutations and baseline "format".
# 3: deltas gained identical_inputs (a status), so p_method is only a method ("permutation" | "exact" | null).
SCHEMA_VERSION = 3
PREDICTIONS_SCHEMA_VERSION = 1  # the per-cell predictions parquet (written by the runner)

LEADERBOARD_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("model", pa.string()),
        ("alias", pa.string()),
        ("revision", pa.string()),
        ("condition", pa.string()),
        ("instruction_sha256", pa.string()),
        ("task", pa.string()),
        ("task_type", pa.string()),
        ("subset", pa.string()),
        ("split", pa.string()),
        ("kind", pa.string()),  # "mteb" (a score mteb computed) or "probe" (a harness probe value)
        ("metric", pa.string()),
        ("is_main", pa.bool_()),
        ("score", pa.float64()),
        ("n_items", pa.int64()),
        ("mteb_version", pa.string()),
        ("harness_version", pa.string()),
        ("created_at", pa.string()),
    ]
)
PREDICTIONS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("model", pa.string()),
        ("revision", pa.string()),
        ("condition", pa.string()),
        ("task", pa.string()),
        ("task_type", pa.string()),
        ("subset", pa.string()),
        ("split", pa.string()),
        ("item", pa.int64()),  # pair index (STS), query index (Retrieval), sentence index (BitextMining)
        ("query_id", pa.string()),  # Retrieval only
        ("doc_id", pa.string()),  # Retrieval only: a relevant document of the query
        ("gold", pa.float64()),  # gold score / relevance / index of the translation
        ("prediction", pa.float64()),  # cosine / retrieval score of doc_id / matched index
        ("rank", pa.int64()),  # Retrieval only: 1-based rank of doc_id, null when not retrieved
    ]
)
DELTA_KEYS = ["model", "alias", "revision", "task", "task_type", "subset", "split", "kind", "metric", "is_main"]
DELTAS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *[LEADERBOARD_SCHEMA.field(k) for k in DELTA_KEYS],
        ("condition", pa.string()),
        ("baseline", pa.string()),
        ("instruction_sha256", pa.string()),
        ("score", pa.float64()),
        ("baseline_score", pa.float64()),
        ("delta", pa.float64()),
        ("n_items", pa.int64()),  # items the statistics resampled (else the leaderboard's count)
        # Paired statistics of the delta (main metric rows only; null elsewhere), see harness/stats.py:
        ("ci_low", pa.float64()),  # paired bootstrap 95% percentile interval of the delta
        ("ci_high", pa.float64()),
        ("p_value", pa.float64()),  # two-sided paired permutation test
        ("p_holm", pa.float64()),  # Holm-adjusted across every delta of the grid that has a p-value
        ("p_method", pa.string()),  # how p was computed: "permutation" (Monte Carlo), "exact" (all 2^n swaps); null
        # both conditions fed the model the same exact strings (same instruction_sha256): Δ 0 by construction,
        # CI [0, 0], no p-value, not in the Holm family
        ("identical_inputs", pa.bool_()),
        ("n_bootstrap", pa.int64()),
        ("n_permutations", pa.int64()),
    ]
)
# Probe metric names (kind "probe" rows of the leaderboard) that readers look for:
SHIFT_PREFIX = "embedding_shift/"  # embedding_shift/<role>/mean|std: does the model read the prefix at all?
LANGUAGE_PREFIX = "language_split/"  # language_split/<measure>: the language-split probe
IDENTICAL = "identical inputs"  # how tables show a delta between two conditions that fed the model the same strings
STATS_COLUMNS = ["ci_low", "ci_high", "p_value", "p_holm", "p_method", "n_bootstrap", "n_permutations"]


def identical_inputs(d: pd.DataFrame) -> pd.Series:
    """Per delta row: did both conditions feed the model the same strings? (deltas.parquet before schema 3 said
    so in ``p_method``.)"""
    if "identical_inputs" in d.columns:
        return d["identical_inputs"].fillna(False).astype(bool)
    return (d["p_method"] == IDENTICAL) if "p_method" in d.columns else d.index.to_series().map(lambda _: False)




def write_parquet(df: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    """Write ``df`` with exactly ``schema``, atomically."""
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    import pyarrow.parquet as pq

    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))
