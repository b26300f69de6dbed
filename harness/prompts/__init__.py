"""Instructions: what exact string goes before each text, per model, task, role and condition.

- ``schema``: the files users write — instruction sets (``instructions/sets/<name>.yaml``) and model recipes
  (``instructions/<org>__<model>.yaml``) — as pydantic schemas with ``extra="forbid"``;
- ``files``: loading and checking those files (one-line errors with file, line and field), listing sets;
- ``conditions``: the conditions (none, format, official, every set) and the planner (:class:`Prompter`) that
  turns a recipe + condition into the exact prefix of every (task, role) — the prefix that enters a cell's key;
- ``export``: writing a model's recipe from mteb's registry by running mteb's own wrapper on a recording
  stand-in (imports mteb and sentence-transformers; used by ``harness instructions export`` and its test only).

(Named ``prompts`` so it is never confused with the top-level ``instructions/`` folder that holds the files.)

May import: :mod:`harness.core` and :mod:`harness.taskspecs` (to check task names).
"""
