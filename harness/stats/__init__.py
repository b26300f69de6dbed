"""The statistical engine: paired statistics on arrays and prediction frames, never on a results folder.

- ``metrics``: each task type's main metric recomputed exactly as mteb computes it, plain and on weighted
  (resampled) items; ``followir`` (FollowIR's p-MRR) and ``pair_cluster`` (PairClassification's average precision,
  Clustering's v-measure) hold the metric definitions of those task types;
- ``units``: the resampling unit of a task (items, queries, sentences, or the recurring texts of word pairs) and
  its resample weights;
- ``bootstrap``: paired-bootstrap intervals (the vertex bootstrap with its jackknife spread for texts);
- ``permutation``: the paired permutation test (adaptive, exact where it can be) and the labelled tail fit;
- ``engine``: a delta's statistics from two prediction frames, seeds, Holm;
- ``pool``: where the statistics run (this process, one shared process pool, or an executor such as Ray's),
  costliest jobs first;
- ``joint``: several cells scored on the same resampled items (paraphrase spread, rankings);
- ``stats_cache``: the cache of computed statistics, keyed by the inputs' content and the method's version.

The callers (:mod:`harness.analysis`) find the files and hand over their contents. May import:
:mod:`harness.results` (schema constants only, never a folder's layout), :mod:`harness.core`, numpy, pandas and
scipy. Never :mod:`harness.analysis`, :mod:`harness.report`, :mod:`harness.publish`, :mod:`harness.run` or
:mod:`harness.models`.
"""
