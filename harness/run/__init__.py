"""Running the grid: models × conditions × tasks → cells → mteb → files on disk.

- ``grid``: a cell's identity (key), its files and whether it is done, and the plan of a grid;
- ``preflight``: every task, set and instruction file of a run checked before its first cell (all problems at
  once, ``--skip-invalid``), and the cells not worth running (a set with no entry for the task);
- ``local``: the local executor — runs the cells that are not done, one model at a time, in this process;
- ``progress``: the one progress display every executor reports to (cells, strings encoded vs reused, time left);
- ``console``: the libraries' output (progress bars, log records, warnings) routed to ``<results>/logs/``;
- ``ray_executor`` (driver), ``ray_worker`` (actors), ``schedule`` (cost, order, workers per model): the Ray
  executor — the same cells over every CPU/GPU of a Ray cluster; the driver writes every file;
- ``cell``: one cell: ``evaluate_cell`` (``mteb.evaluate`` through the prompted encoder, probes → the files'
  bytes) and ``write_cell`` (atomic writes, sidecar last);
- ``encoder``: the mteb encoder that applies one condition's exact prefixes, with the embedding cache;
- ``cache``: the embedding cache (SQLite): every exact string is encoded once per model, ever;
- ``predictions``: mteb's item-level predictions → the predictions table;
- ``probes``, ``probe_context``, ``language_probe``: values measured on a cell's embeddings besides mteb's scores.

May import: :mod:`harness.models`, :mod:`harness.prompts`, :mod:`harness.taskspecs`, :mod:`harness.results`,
:mod:`harness.core`. Never :mod:`harness.analysis` or :mod:`harness.report` (they read what this writes).
mteb and torch are imported only where a cell actually runs (``cell``, ``encoder``); ray only by the Ray executor.
"""
