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
SCHEMA_VERSION = 2
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
        ("p_method", pa.string()),  # "permutation" (Monte Carlo), "exact" (all 2^n swaps) or "identical inputs"
        ("n_bootstrap", pa.int64()),
        ("n_permutations", pa.int64()),
    ]
)
# Probe metric names (kind "probe" rows of the leaderboard) that readers look for:
SHIFT_PREFIX = "embedding_shift/"  # embedding_shift/<role>/mean|std: does the model read the prefix at all?
LANGUAGE_PREFIX = "language_split/"  # language_split/<measure>: the language-split probe
IDENTICAL = "identical inputs"  # p_method of a delta between two conditions that fed the model the same strings
STATS_COLUMNS = ["ci_low", "ci_high", "p_value", "p_holm", "p_method", "n_bootstrap", "n_permutations"]




def write_parquet(df: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    """Write ``df`` with exactly ``schema``, atomically."""
    atomic.write_bytes(path, parquet_bytes(df, schema))


def parquet_bytes(df: pd.DataFrame, schema: pa.Schema) -> bytes:
    """``df`` with exactly ``schema`` as the bytes of a parquet file (what :func:`write_parquet` writes)."""
    return table_bytes(pa.Table.from_pandas(df, schema=schema, preserve_index=False))


def table_bytes(table: pa.Table) -> bytes:
    """A pyarrow table as the bytes of a parquet file, exactly as ``pq.write_table`` writes it to a path."""
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())
