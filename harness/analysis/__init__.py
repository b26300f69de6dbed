"""Deriving everything from the files a run wrote: leaderboard and deltas, paired statistics, comparisons.

- ``currency``: which cells still match today's task data, instructions and model settings (stale ones are listed
  in ``left-out-cells.json`` with unreadable cells, and left out of everything);
- ``aggregate``: scan a results folder → ``leaderboard.parquet`` and ``deltas.parquet``;
- the deltas' statistics (``aggregate``, ``multiplicity``), ``family`` summaries and ``geometry``: each cell's
  predictions and vectors read from the folder and handed to :mod:`harness.stats`, the engine that computes them;
- ``comparison``: ``harness compare`` (models × conditions side by side); ``views``: its ``--view`` choices;
- ``tables``: the plain-text tables the console prints;
- the control conditions: ``decomposition`` (prefix / any-instruction / content / mismatch effects as delta rows),
  ``paraphrase`` (spread across paraphrases), ``rankings`` (ranks per condition, Kendall τ), both on the joint
  resamples of :mod:`harness.stats.joint`, and ``controls`` (their parquet tables, written by aggregate).

Reads files only. May import: :mod:`harness.stats` (the statistical engine), :mod:`harness.results`,
:mod:`harness.prompts` (condition names and order), :mod:`harness.taskspecs` and :mod:`harness.core`. Never
:mod:`harness.run` or :mod:`harness.models`: analysis must work on a results folder copied from another machine,
without the models.
"""
