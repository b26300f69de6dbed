"""The schemas of every table the harness writes into a results folder, with their versions.

- ``leaderboard.parquet`` (:data:`LEADERBOARD_SCHEMA`): one row per model × condition × task × subset × split ×
  metric (mteb scores and harness probes);
- ``deltas.parquet`` (:data:`DELTAS_SCHEMA`): condition − baseline per leaderboard key, with paired statistics;
- ``cells/…/<Task>.predictions.parquet`` (:data:`PREDICTIONS_SCHEMA`): one cell's item-level predictions;
- ``paraphrase.parquet``, ``ranks.parquet``, ``rank_agreement.parquet`` (:data:`PARAPHRASE_SCHEMA`,
  :data:`RANKS_SCHEMA`, :data:`RANK_AGREEMENT_SCHEMA`): the control-condition tables.

Each table carries a ``schema_version`` column; golden files in ``tests/golden/`` pin the columns and types. The
writer of a cell (:mod:`harness.run`) and every reader (:mod:`harness.analysis`, :mod:`harness.report`) import
the schemas from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from harness.core import atomic

if TYPE_CHECKING:
    import pandas as pd

# Version of the leaderboard and deltas schemas (bump with any change; golden files in tests/golden/).
# 2: deltas gained ci_low, ci_high, p_value, p_holm, p_method, n_bootstrap, n_permutations and baseline "format".
# 3 (this round): deltas gained effect (the decomposition: prefix, any_instruction, content, mismatch; total,
#    over_format), baseline_sha256 and baseline "placebo" (harness/analysis/decomposition.py), resample_unit,
#    n_units, ci_scale (what the statistics resampled, harness/stats/engine.py), and identical_inputs (a status),
#    so p_method is only a method.
# 4: deltas gained the adaptive permutation test's n_extreme, p_mc_low, p_mc_high, p_tail, p_stop and the
#    multiplicity columns p_adjusted, adjust_method, family, family_size, verdict; p_holm is Holm within the row's
#    family (one model × one kind of comparison: harness/analysis/multiplicity.py), not across the grid; p_method
#    lost "permutation+tail" (a tail estimate is p_tail, never p).
# 5: the leaderboard gained dataset_revision (mteb registry tasks run at their pinned revision) and official_kind
#    (which kind of instruction `official` gave: harness/prompts/official.py).
SCHEMA_VERSION = 5
PREDICTIONS_SCHEMA_VERSION = 2  # the per-cell predictions parquet (written by the runner); 2: text1, text2

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
        ("dataset_revision", pa.string()),  # mteb's pinned dataset revision (registry) / data hash[:12] (folder)
        ("official_kind", pa.string()),  # official cells: task | task_type | model_default | none; else null
        ("subset", pa.string()),
        ("split", pa.string()),
        ("kind", pa.string()),  # "mteb" (a score mteb computed), "probe" (a harness probe value) or "geometry"
        ("metric", pa.string()),
        ("is_main", pa.bool_()),
        ("score", pa.float64()),
        ("n_items", pa.int64()),
        ("mteb_version", pa.string()),
        ("harness_version", pa.string()),
        ("created_at", pa.string()),
    ]
)
# Task types whose predictions are retrieval's: one row per (query, relevant document) with its rank; their metrics
# are per-query values from those ranks (harness.run.predictions writes them, harness.stats.metrics reads them).
RETRIEVAL_LIKE = ("Retrieval", "Reranking", "InstructionRetrieval", "InstructionReranking")  # the last: + p-MRR rows

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
        ("doc_id", pa.string()),  # Retrieval: a relevant document; registry pairs: the function; clustering: level:run
        ("gold", pa.float64()),  # gold score / relevance / index of the translation
        ("prediction", pa.float64()),  # cosine / retrieval score of doc_id / matched index
        ("rank", pa.int64()),  # Retrieval: 1-based rank of doc_id (null: not retrieved); registry clustering: draws
        ("text1", pa.string()),  # STS only: the pair's first text as the task gives it (no prefix)
        ("text2", pa.string()),  # STS only: the pair's second text (pairs sharing a text resample together)
    ]
)
DELTA_KEYS = ["model", "alias", "revision", "task", "task_type", "subset", "split", "kind", "metric", "is_main"]
DELTAS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *[LEADERBOARD_SCHEMA.field(k) for k in DELTA_KEYS],
        ("condition", pa.string()),
        ("baseline", pa.string()),
        ("effect", pa.string()),  # what condition − baseline measures (harness/analysis/decomposition.py)
        ("instruction_sha256", pa.string()),
        ("baseline_sha256", pa.string()),  # rows with equal (instruction, baseline) hashes are one comparison
        ("score", pa.float64()),
        ("baseline_score", pa.float64()),
        ("delta", pa.float64()),
        ("n_items", pa.int64()),  # items the statistics resampled (else the leaderboard's count)
        # Paired statistics of the delta (main metric rows only; null elsewhere), see harness/stats/engine.py:
        ("ci_low", pa.float64()),  # paired bootstrap 95% percentile interval of the delta
        ("ci_high", pa.float64()),
        ("p_value", pa.float64()),  # two-sided paired permutation test: (1 + n_extreme) / (1 + swaps drawn)
        ("p_mc_low", pa.float64()),  # its Monte-Carlo 95% interval (Clopper–Pearson; = p_value when exact)
        ("p_mc_high", pa.float64()),
        ("p_tail", pa.float64()),  # generalized-Pareto tail estimate, labelled; never p_value, never a verdict
        ("p_holm", pa.float64()),  # Holm-adjusted within the row's family (harness/analysis/multiplicity.py)
        ("p_adjusted", pa.float64()),  # adjusted by adjust_method within the family
        ("adjust_method", pa.string()),  # holm | bh
        ("family", pa.string()),  # "<model> · deltas vs none" | "… · deltas vs format" | "… · decomposition"
        ("family_size", pa.int64()),  # distinct tests in the family
        ("verdict", pa.string()),  # significant | not significant | undetermined at <swaps>
        ("p_method", pa.string()),  # how p was computed: "permutation" (Monte Carlo), "exact" (all 2^n swaps); null
        # both conditions fed the model the same exact strings (same instruction_sha256): Δ 0 by construction,
        # CI [0, 0], no p-value, in no family
        ("identical_inputs", pa.bool_()),
        ("n_bootstrap", pa.int64()),
        ("n_permutations", pa.int64()),  # swaps drawn (adaptive: as many as the decision needed)
        ("n_extreme", pa.int64()),  # of them at least as extreme as observed
        ("p_stop", pa.string()),  # why drawing stopped: exact | fixed | large | determined | limit
        ("resample_unit", pa.string()),  # what moved together in a resample: item | text | query | sentence
        ("n_units", pa.int64()),  # how many such units (e.g. the recurring words of a word-pair STS task)
        ("ci_scale", pa.float64()),  # text unit: factor applied to the vertex bootstrap's spread (jackknife)
    ]
)
FAMILY_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("family", pa.string()),  # the tasks' `family` (e.g. scales)
        ("model", pa.string()),
        ("alias", pa.string()),
        ("revision", pa.string()),
        ("subset", pa.string()),  # the subset view shared by the family's tasks (e.g. scale, relation)
        ("split", pa.string()),
        ("condition", pa.string()),
        ("baseline", pa.string()),  # what `delta` is against: none
        ("n_tasks", pa.int64()),
        ("tasks", pa.string()),  # comma-separated: the tasks in the mean
        ("mean_score", pa.float64()),  # mean main score over the tasks
        ("score_ci_low", pa.float64()),  # 95% interval: words resampled, those shared by tasks drawn jointly
        ("score_ci_high", pa.float64()),
        ("delta", pa.float64()),  # mean over the tasks of (condition − baseline)
        ("delta_ci_low", pa.float64()),
        ("delta_ci_high", pa.float64()),
        ("delta_sd_tasks", pa.float64()),  # spread of the per-task deltas (how much the tasks differ)
        ("claims_hold", pa.int64()),  # tasks whose headline claim holds under this condition
        ("n_claims", pa.int64()),
        ("claims_flipped", pa.int64()),  # tasks whose claim verdict differs from the baseline's
        ("resample_unit", pa.string()),
        ("n_bootstrap", pa.int64()),
    ]
)
# The geometry of each cell's embeddings (harness/analysis/geometry.py): one row per model × condition × task
# subset × geometry metric; the same values are leaderboard rows of kind "geometry".
GEOMETRY_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *[LEADERBOARD_SCHEMA.field(k) for k in ("model", "alias", "revision", "task", "task_type", "subset",
                                               "split", "condition", "metric", "score")],
        ("ci_low", pa.float64()),  # 95% interval of the level (bias-shifted percentile; none for centred scores)
        ("ci_high", pa.float64()),
        ("delta", pa.float64()),  # condition − none, the same statistic (null for none and for shift_share)
        ("delta_ci_low", pa.float64()),  # paired 95% interval (the same resamples for both conditions)
        ("delta_ci_high", pa.float64()),
        ("resample_unit", pa.string()),
        ("n_units", pa.int64()),
        ("n_texts", pa.int64()),  # distinct unit texts (pair texts, or queries)
        ("n_bootstrap", pa.int64()),
        ("cell_key", pa.string()),  # the cell's key (its sidecar's): a row is reused only while it is unchanged
        ("baseline_key", pa.string()),  # the key of the `none` cell it was compared with
    ]
)
# robust_score.parquet (harness/analysis/robust_score.py): per model × task subset × variant set, the main score
# over the variants (mean/worst/best) and blog's and official's mid-rank percentile within that spread.
ROBUST_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *[LEADERBOARD_SCHEMA.field(k) for k in ("model", "alias", "revision", "task", "task_type", "subset",
                                               "split", "metric")],
        ("variant_set", pa.string()),
        ("n_variants", pa.int64()),
        ("mean_score", pa.float64()),  # the prompt-robust score
        ("worst_score", pa.float64()),
        ("best_score", pa.float64()),
        ("blog_score", pa.float64()),
        ("blog_percentile", pa.float64()),  # 0: below every variant, 100: above every one
        ("official_score", pa.float64()),
        ("official_percentile", pa.float64()),
        ("rank_by_mean", pa.int64()),  # rank among the models on the same subset (1 = best)
        ("rank_by_blog", pa.int64()),
        ("rank_by_worst", pa.int64()),
    ]
)
# The control-condition tables written by aggregate (harness/analysis/controls.py); their own version.
CONTROLS_SCHEMA_VERSION = 2  # 2: spread test, the deltas' reference interval, no range/SD intervals; τ values
_GROUP = [LEADERBOARD_SCHEMA.field(k) for k in ("task", "task_type", "subset", "split", "metric")]
_MODEL = [LEADERBOARD_SCHEMA.field(k) for k in ("model", "alias", "revision")]
# paraphrase.parquet: per model × task × subset × split, the main score's spread across a variant set's variants
PARAPHRASE_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *_MODEL,
        *_GROUP,
        ("variant_set", pa.string()),  # e.g. "paraphrase" (conditions paraphrase#1 ... paraphrase#k)
        ("n_variants", pa.int64()),
        ("mean_score", pa.float64()),  # mean of the variants' scores
        ("best_variant", pa.string()),
        ("best_score", pa.float64()),
        ("worst_variant", pa.string()),
        ("worst_score", pa.float64()),
        ("range", pa.float64()),  # best − worst (no interval: a zero spread is on the boundary, see paraphrase.py)
        ("sd", pa.float64()),  # standard deviation across variants (ddof 1)
        ("spread_p_value", pa.float64()),  # test of spread > 0: items' predictions permuted among the variants
        ("spread_n_permutations", pa.int64()),  # R: p = (1 + spread_n_extreme) / (1 + R), never below 1/(R + 1)
        ("spread_n_extreme", pa.int64()),
        ("reference", pa.string()),  # "blog − none": the delta of the instruction the variants rewrite
        ("reference_delta", pa.float64()),
        ("reference_ci_low", pa.float64()),  # the deltas' own interval (deltas.parquet ci_low/ci_high of blog − none)
        ("reference_ci_high", pa.float64()),
        ("content_mean", pa.float64()),  # mean over variants − placebo, with its interval
        ("content_mean_ci_low", pa.float64()),
        ("content_mean_ci_high", pa.float64()),
        ("n_items", pa.int64()),
        ("n_bootstrap", pa.int64()),
    ]
)
# ranks.parquet: per task × subset × split × condition, each model's rank by main score (1 = best; grids of ≥ 3 models)
RANKS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *_GROUP,
        ("condition", pa.string()),
        *_MODEL,
        ("score", pa.float64()),
        ("rank", pa.int64()),  # 1 + models with a strictly higher score
        ("n_models", pa.int64()),
    ]
)
# rank_agreement.parquet: Kendall τ-b between the models' ranking under the baseline (none) and under a condition
RANK_AGREEMENT_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        *_GROUP,
        ("condition", pa.string()),
        ("baseline", pa.string()),
        ("n_models", pa.int64()),
        ("kendall_tau", pa.float64()),
        ("ci_low", pa.float64()),  # 95% bootstrap interval (joint over items), only with n_models >= 4
        ("ci_high", pa.float64()),
        ("tau_values", pa.string()),  # fewer models: "value: count; ..." every possible τ, resamples that took it
        ("n_items", pa.int64()),
        ("n_bootstrap", pa.int64()),
    ]
)
# Probe metric names (kind "probe" rows of the leaderboard) that readers look for:
SHIFT_PREFIX = "embedding_shift/"  # embedding_shift/<role>/mean|std: does the model read the prefix at all?
LANGUAGE_PREFIX = "language_split/"  # language_split/<measure>: the language-split probe
IDENTICAL = "identical inputs"  # how tables show a delta between two conditions that fed the model the same strings
STATS_COLUMNS = ["ci_low", "ci_high", "p_value", "p_mc_low", "p_mc_high", "p_tail", "p_holm", "p_adjusted",
                 "adjust_method", "family", "family_size", "verdict", "p_method", "n_bootstrap", "n_permutations",
                 "n_extreme", "p_stop", "resample_unit", "n_units", "ci_scale"]


def identical_inputs(d: pd.DataFrame) -> pd.Series:
    """Per delta row: did both conditions feed the model the same strings? (deltas.parquet before schema 3 said
    so in ``p_method``.)"""
    if "identical_inputs" in d.columns:
        return d["identical_inputs"].fillna(False).astype(bool)
    return (d["p_method"] == IDENTICAL) if "p_method" in d.columns else d.index.to_series().map(lambda _: False)


def row_identical(r: Any) -> bool:
    """One delta row (a tuple from ``itertuples`` or a Series): did both conditions feed the same strings?"""
    same = getattr(r, "identical_inputs", None)
    if same is not None and same == same:  # not NaN
        return bool(same)
    return getattr(r, "p_method", None) == IDENTICAL




def row_significant(r: Any, alpha: float = 0.05) -> bool:
    """One delta row: significant after its family's adjustment? The ``verdict`` (schema 4: the Monte-Carlo error
    of p taken into account), else (older files) Holm p below ``alpha``."""
    verdict = getattr(r, "verdict", None)
    if isinstance(verdict, str):
        return verdict == "significant"
    p = getattr(r, "p_holm", None)
    return p is not None and p == p and float(p) < alpha


def significant(d: pd.DataFrame, alpha: float = 0.05) -> pd.Series:
    """Per delta row: :func:`row_significant`."""
    if "verdict" in d.columns and d.verdict.notna().any():
        return (d["verdict"] == "significant").fillna(False).astype(bool)
    return (d["p_holm"] < alpha).fillna(False).astype(bool)


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
