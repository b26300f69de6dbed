"""Sharing results: a Hugging Face dataset folder made from a results folder, and merging results folders.

- ``preflight``: what must hold before anything is published (deltas newer than every cell, intervals present,
  no stale cells), each failure one line saying why and what to run;
- ``dataset``: ``harness publish OUT``: ``data/*.parquet`` (+ predictions), the mteb results tree, the card;
- ``card``: the dataset card (``README.md``: YAML header with one config per table, license, tags, sizes;
  the columns documented from :mod:`harness.results.columns`, models, exact instructions, versions, how to
  reproduce);
- ``merge``: ``harness merge DIR... --into DIR``: cells from many folders, de-duplicated by key, conflicts listed.

Reads files only (a sibling of :mod:`harness.report`; aggregate after a merge is the API's job). May import:
:mod:`harness.analysis`, :mod:`harness.results`, :mod:`harness.prompts`, :mod:`harness.taskspecs` (task
licenses for the card) and :mod:`harness.core`. Never :mod:`harness.run`, :mod:`harness.models` or
:mod:`harness.report`.
"""
